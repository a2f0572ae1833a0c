"""Online learning rules, by the name used in configs and on the command line, and the trainer they plug into.

A new rule is one :class:`LearningRule` subclass and one line here; the command line, the live demo's
``u`` key and ``tracker.pretrain --fc-updater`` then offer it.
"""

from tracker.config_sections import LearningConfig
from tracker.updaters.bp import BPRule
from tracker.updaters.dfa import BDFARule, DFARule
from tracker.updaters.fa import FARule
from tracker.updaters.rule import LearningRule
from tracker.updaters.trainer import StepResult, Trainer

UPDATERS: dict[str, type[LearningRule]] = {cls.name: cls for cls in (BPRule, FARule, DFARule, BDFARule)}


def make_updater(config: LearningConfig) -> Trainer:
    """The trainer for a config's ``learning`` section, with the learning rule it names."""
    return Trainer(config, UPDATERS[config.updater](config))


__all__ = ["UPDATERS", "LearningRule", "StepResult", "Trainer", "make_updater"]
