"""Online learning rules, by the name used in configs and on the command line."""

from tracker.updaters.base import Updater
from tracker.updaters.bp import BPUpdater
from tracker.updaters.dfa import BDFAUpdater, DFAUpdater
from tracker.updaters.fa import FAUpdater

UPDATERS: dict[str, type[Updater]] = {cls.name: cls for cls in (BPUpdater, FAUpdater, DFAUpdater, BDFAUpdater)}


def make_updater(config) -> Updater:
    return UPDATERS[config.updater](config)


__all__ = ["UPDATERS", "Updater", "make_updater"]
