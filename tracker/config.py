"""The tracker's config: one section of each kind (``tracker/config_sections.py``, where every default is, with
its reason), validated in one place and loaded from YAML.

A component takes its own section (the learning rule ``learning``, the box stage ``box``, ...), not the whole
config.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

from tracker.config_sections import (
    BoxConfig,
    CandidatesConfig,
    LearningConfig,
    LostFlagConfig,
    NetworkConfig,
    RedetectionConfig,
    SamplesConfig,
    UpdatesConfig,
)
from tracker.errors import TrackerError, quoted
from tracker.files import read_text
from tracker.limits import MAX_CHANNELS, MAX_COUNT, SIZE_BOUNDS
from tracker.yaml_text import MAX_CONFIG_BYTES, load_yaml_text

# What each registry holds, by name: the config validates against these without importing any
# implementation (reading a YAML file needs no torch). tests/test_config.py checks them against the
# registries (tracker.updaters.UPDATERS, tracker.box_estimation.BOX_ESTIMATORS, tracker.backbones.BACKBONES).
UPDATER_NAMES = ("bp", "fa", "dfa", "bdfa")
BOX_ESTIMATOR_NAMES = ("shared_bbreg", "crop_bbreg", "zoom_bbreg", "siamese_head")
# the smallest crop mapping to one cell
BACKBONE_MIN_IMG_SIZE = {"mdnet": 75, "efficientnet_lite0": 32, "nanotrack": 16}
BACKBONE_NAMES = tuple(BACKBONE_MIN_IMG_SIZE)
N_BLOCKS = 16  # EfficientNet-Lite0's blocks: trunk_blocks cuts after one of them
SCHEDULES = ("full", "steps")  # tracker/update_schedule.py
LEARNERS = ("inline", "sequential", "thread")  # tracker/learner.py
SEARCH_RUNNERS = ("inline", "sequential", "thread")  # tracker/search_runner.py
LEARNING_DTYPES = ("auto", "float32", "bfloat16")  # tracker/updaters/trainer.py
TRUNK_RUNTIMES = ("torch", "onnxruntime")  # tracker/backbones/onnx_runtime.py

FEATURE_MODES = ("shared", "exact")
BOX_READS = ("top", "mean")
FEEDBACK_INITS = ("random", "eq7")
FEEDBACK_SCALINGS = ("fan_in", "norm", "none")


@dataclass(frozen=True)
class TrackerConfig:
    """Every setting, by the component that reads it. In YAML, a mapping per section::

        seed: 3
        learning:
          updater: bp
        redetection:
          redetect_interval: 0
    """

    seed: int = 0
    network: NetworkConfig = field(default_factory=NetworkConfig)
    candidates: CandidatesConfig = field(default_factory=CandidatesConfig)
    samples: SamplesConfig = field(default_factory=SamplesConfig)
    updates: UpdatesConfig = field(default_factory=UpdatesConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    lost_flag: LostFlagConfig = field(default_factory=LostFlagConfig)
    redetection: RedetectionConfig = field(default_factory=RedetectionConfig)
    box: BoxConfig = field(default_factory=BoxConfig)

    def as_dict(self) -> dict:
        """Sections as nested dicts, as a YAML file holds them."""
        return dataclasses.asdict(self)

    def replace(self, **changes: object) -> TrackerConfig:
        """A validated copy with ``changes`` applied: ``seed=3``, or a section's name with a mapping of its keys
        to change (``learning={"updater": "bp"}``); the keys not named keep their values."""
        return from_dict(merged(self.as_dict(), changes))

    def with_feature_mode(self, mode: str) -> TrackerConfig:
        """A copy whose classifier reads candidates and training samples alike in ``mode``."""
        return self.replace(network={"candidate_features": mode, "sample_features": mode})

    def changes(self) -> dict:
        """What differs from the defaults, section by section (empty sections left out)."""
        defaults = TrackerConfig().as_dict()
        out = {}
        for key, value in self.as_dict().items():
            if isinstance(value, dict):
                changed = {k: v for k, v in value.items() if v != defaults[key][k]}
                if changed:
                    out[key] = changed
            elif value != defaults[key]:
                out[key] = value
        return out

    def validate(self) -> None:
        """Refuse, in one line, any value that would fail (or silently mislead) once tracking starts."""
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise TrackerError(f"config: {message}")

        # every key has one name across sections: the checks read them by name, and name them with their section
        c = types.SimpleNamespace(**{name: getattr(getattr(self, section), name) if section else getattr(self, name)
                                     for name, section in SECTION_OF.items()})
        where = {name: f"{section}.{name}" if section else name for name, section in SECTION_OF.items()}
        check(0 <= c.seed < 2**32, f"seed must be in 0 .. 2**32 - 1, got {c.seed}")
        # sizes first: every later check may compute with them
        for name in ("n_samples", "top_k", "n_pos_init", "n_neg_init", "maxiter_init", "n_pos_update",
                     "n_neg_update", "maxiter_update", "long_interval", "n_frames_long", "n_frames_short",
                     "fc_width", "img_size", "n_bbreg", "max_map_side", "box_img_size", "box_fit_samples",
                     "batch_size", "batch_neg_cand", "update_steps_per_frame", "learner_delay", "lost_window",
                     "redetect_map_side"):
            value = getattr(c, name)
            bound = SIZE_BOUNDS.get(name, MAX_COUNT)
            check(0 < value <= bound, f"{where[name]} must be in 1 .. {bound}, got {value}")
        check(0 <= c.negatives_per_other <= SIZE_BOUNDS["n_neg_update"],
              f"samples.negatives_per_other must be in 0 .. {SIZE_BOUNDS['n_neg_update']}, got {c.negatives_per_other}")
        check(0 <= c.update_first_lost_steps <= MAX_COUNT,
              f"updates.update_first_lost_steps must be in 0 .. {MAX_COUNT}, got {c.update_first_lost_steps}")
        check(c.batch_size >= 4, f"updates.batch_size must be at least 4, got {c.batch_size}")
        check(c.batch_neg_cand >= self.updates.batch_neg,
              f"updates.batch_neg_cand ({c.batch_neg_cand}) must be >= the negatives per batch "
              f"({self.updates.batch_neg})")
        for name in ("candidate_features", "sample_features"):
            check(getattr(c, name) in FEATURE_MODES, f"{where[name]} must be one of {FEATURE_MODES}")
        check(c.box_estimator in BOX_ESTIMATOR_NAMES,
              f"unknown box.box_estimator {quoted(c.box_estimator)}; choose from {sorted(BOX_ESTIMATOR_NAMES)}")
        check(c.update_schedule in SCHEDULES, f"updates.update_schedule must be one of {SCHEDULES}")
        check(c.learner in LEARNERS, f"updates.learner must be one of {LEARNERS}")
        check(c.learning_dtype in LEARNING_DTYPES, f"learning.learning_dtype must be one of {LEARNING_DTYPES}")
        check(c.trunk_runtime in TRUNK_RUNTIMES, f"network.trunk_runtime must be one of {TRUNK_RUNTIMES}")
        check(c.trunk_runtime == "torch" or c.backbone != "nanotrack",
              "the nanotrack trunk runs in OpenCV: network.trunk_runtime must be torch (its default)")
        check(c.box_reads in BOX_READS, f"box.box_reads must be one of {BOX_READS}")
        check(c.box_zoom_step > 1.0 and math.isfinite(c.box_zoom_step),
              f"box.box_zoom_step must be finite and > 1, got {c.box_zoom_step}")
        for name in ("siamese_window", "siamese_min_score", "siamese_centre", "siamese_min_iou", "lost_head_agreement",
                     "redetect_head_min", "siamese_centre_min_iou", "siamese_score_gate_below_iou"):
            value = getattr(c, name)
            check(0.0 <= value <= 1.0, f"{where[name]} must be in [0, 1], got {value}")
        check(math.isfinite(c.siamese_score_margin), f"box.siamese_score_margin must be finite, got "
              f"{c.siamese_score_margin}")
        for name in ("siamese_penalty_k", "siamese_max_shift"):
            value = getattr(c, name)
            check(0.0 <= value <= 100.0, f"{where[name]} must be in 0 .. 100, got {value}")
        check(0.0 < c.siamese_lr <= 1.0, f"box.siamese_lr must be in (0, 1], got {c.siamese_lr}")
        check(1.0 <= c.siamese_max_step <= 10.0, f"box.siamese_max_step must be in 1 .. 10, got {c.siamese_max_step}")
        check(c.updater in UPDATER_NAMES,
              f"unknown learning.updater {quoted(c.updater)}; choose from {sorted(UPDATER_NAMES)}")
        check(c.feedback_init in FEEDBACK_INITS, f"learning.feedback_init must be one of {FEEDBACK_INITS}")
        check(c.feedback_scaling in FEEDBACK_SCALINGS,
              f"learning.feedback_scaling must be one of {FEEDBACK_SCALINGS}")
        check(c.backbone in BACKBONE_NAMES,
              f"unknown network.backbone {quoted(c.backbone)}; choose from {sorted(BACKBONE_NAMES)}")
        check(1 <= c.trunk_blocks <= N_BLOCKS, f"network.trunk_blocks must be in 1-{N_BLOCKS}, got {c.trunk_blocks}")
        check(all(0 < v <= MAX_CHANNELS for v in c.backbone_channels),
              f"network.backbone_channels must each be in 1 .. {MAX_CHANNELS}, got {list(c.backbone_channels)}")
        check(0.0 <= c.dropout < 1.0, f"network.dropout must be in [0, 1), got {c.dropout}")
        check(set(c.lr_mult) <= {"fc4", "fc5", "fc6"}, "learning.lr_mult keys must be fc4, fc5 or fc6")
        check(all(math.isfinite(v) and v >= 0 for v in c.lr_mult.values()),
              "learning.lr_mult values must be finite and >= 0")
        min_img = BACKBONE_MIN_IMG_SIZE[c.backbone]
        for name in ("img_size", "box_img_size"):
            value = getattr(c, name)
            check(min_img <= value <= c.max_map_side,
                  f"{where[name]} must be in {min_img} .. network.max_map_side ({c.max_map_side}) for the "
                  f"{c.backbone} backbone, got {value}")
        check(c.redetect_map_side >= c.img_size,
              f"redetection.redetect_map_side ({c.redetect_map_side}) must be at least network.img_size ({c.img_size})")
        check(c.top_k <= c.n_samples, "candidates.top_k must not exceed candidates.n_samples")
        check(c.exact_top_k == 0 or c.top_k <= c.exact_top_k <= c.n_samples,
              f"candidates.exact_top_k must be 0 or in top_k .. n_samples ({c.top_k} .. {c.n_samples}), got "
              f"{c.exact_top_k}")
        for name in ("trans", "scale", "trans_limit", "lr_init", "lr_update", "grad_clip", "bbreg_lambda",
                     "trans_pos", "scale_pos", "trans_neg_init", "scale_neg_init", "trans_neg", "scale_neg",
                     "trans_bbreg", "scale_bbreg", "aspect_bbreg"):
            value = getattr(c, name)
            check(math.isfinite(value) and value > 0, f"{where[name]} must be finite and positive, got {value}")
        for name in ("overlap_pos_init", "overlap_neg_init", "overlap_pos_update", "overlap_neg_update",
                     "overlap_bbreg"):
            value = getattr(c, name)
            check(0.0 <= value <= 1.0, f"{where[name]} is an IoU and must be in [0, 1], got {value}")
        check(0.0 <= c.momentum < 1.0, f"learning.momentum must be in [0, 1), got {c.momentum}")
        check(math.isfinite(c.weight_decay) and c.weight_decay >= 0, "learning.weight_decay must be finite and >= 0")
        check(math.isfinite(c.success_threshold), "candidates.success_threshold must be finite")
        check(0.0 <= c.lost_ratio <= 1e6, f"lost_flag.lost_ratio must be in 0 .. 1e6, got {c.lost_ratio}")
        check(c.lost_window <= c.n_frames_long,
              f"lost_flag.lost_window ({c.lost_window}) must not exceed samples.n_frames_long ({c.n_frames_long})")
        check(0 <= c.redetect_interval <= MAX_COUNT,
              f"redetection.redetect_interval must be in 0 .. {MAX_COUNT} (0: never)")
        check(c.redetect_runner in SEARCH_RUNNERS, f"redetection.redetect_runner must be one of {SEARCH_RUNNERS}")
        check(1 <= c.redetect_delay <= MAX_COUNT, f"redetection.redetect_delay must be in 1 .. {MAX_COUNT}")
        check(math.isfinite(c.redetect_threshold), "redetection.redetect_threshold must be finite")
        check(0.0 <= c.redetect_ratio <= 1e6,
              f"redetection.redetect_ratio must be in 0 .. 1e6, got {c.redetect_ratio}")
        check(0.0 <= c.redetect_likeness <= 10.0,
              f"redetection.redetect_likeness must be in 0 .. 10, got {c.redetect_likeness}")
        check(1.0 <= c.redetect_scale_step <= 4.0,
              f"redetection.redetect_scale_step must be in 1 .. 4, got {c.redetect_scale_step}")
        check(c.padding >= 0, f"network.padding must be >= 0, got {c.padding}")


SECTIONS = {f.name: f.default_factory for f in fields(TrackerConfig) if f.default_factory is not dataclasses.MISSING}
# each key's section (None: the top level); every key has one name across the sections
SECTION_OF: dict[str, str | None] = {
    **{f.name: None for f in fields(TrackerConfig) if f.name not in SECTIONS},
    **{f.name: section for section, kind in SECTIONS.items() for f in fields(kind)}}


def merged(values: dict, changes: dict) -> dict:
    """``values`` (nested, as :meth:`TrackerConfig.as_dict`) with ``changes`` laid over them, section by section:
    a section's mapping changes the keys it names. Anything else (a key in no section, a section that is not
    a mapping) is passed on for :func:`from_dict` to refuse."""
    out = dict(values)
    for key, value in changes.items():
        if key in SECTIONS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def dotted(pairs: dict[str, object]) -> dict:
    """``{"learning.updater": "bp"}`` (``--set``'s form) as ``{"learning": {"updater": "bp"}}``."""
    out: dict = {}
    for key, value in pairs.items():
        section, sep, name = key.partition(".")
        if not sep:
            out[key] = value  # a top-level key (seed), or one from before sections: from_dict says where it went
        elif section not in SECTIONS or not name or "." in name:
            raise TrackerError(f"config: {quoted(key, 60)} names no setting: give SECTION.KEY, with SECTION one of "
                               f"{', '.join(SECTIONS)}")
        else:
            out.setdefault(section, {})
            if not isinstance(out[section], dict):
                raise TrackerError(f"config: {section} is given both whole and key by key")
            out[section][name] = value
    return out


def _check_type(name: str, value: object, annotation: object) -> object:
    """Coerce a YAML value to the field's declared type, or raise a one-line error."""
    origin = typing.get_origin(annotation)
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        args = typing.get_args(annotation)
        if isinstance(value, (list, tuple)) and len(value) == len(args):
            return tuple(_check_type(name, v, a) for v, a in zip(value, args))
    elif origin is dict:
        key_type, value_type = typing.get_args(annotation)
        if isinstance(value, dict):
            return {_check_type(name, k, key_type): _check_type(name, v, value_type) for k, v in value.items()}
    raise TrackerError(f"config: {name} must be {_type_name(annotation)}, got {quoted(value)}")


def _type_name(annotation: object) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    if isinstance(annotation, types.GenericAlias):
        return str(annotation)
    return repr(annotation)


# keys that left the config, and where they went
RETIRED = {"frame_budget_ms": "the speed harness's --frame-budget-ms (tracker/evaluation/speed.py)",
           "update_first_lost_in_full": "updates.update_first_lost_steps, a number of steps (true was "
                                        "maxiter_update, false 0)"}


def _unknown(keys: list, known: list[str], where: str) -> TrackerError:
    """One line for keys no setting has: where a key from before the sections went, else the closest name."""
    retired = [k for k in keys if isinstance(k, str) and k in RETIRED]
    if retired:
        return TrackerError(f"config: {retired[0]} is no longer a config key: it is {RETIRED[retired[0]]}")
    shown = ", ".join(quoted(k, 60) if not isinstance(k, str) or len(k) > 60 else k for k in keys[:10])
    moved = [f"{k} -> {SECTION_OF[k]}.{k}" for k in keys[:10] if isinstance(k, str) and SECTION_OF.get(k)]
    guesses = [f"{k} -> {_placed(close[0], where)}" for k in keys[:10]
               if isinstance(k, str) and len(k) <= 60 and not SECTION_OF.get(k)
               and (close := difflib.get_close_matches(k, known, n=1, cutoff=0.75))]
    more = f" and {len(keys) - 10} more" if len(keys) > 10 else ""
    hint = (f" (settings live in sections now: {', '.join(moved)}; in YAML a mapping per section, on the command "
            "line --set SECTION.KEY=VALUE)" if moved else "") + (
        f" (did you mean: {', '.join(guesses)}?)" if guesses else "")
    return TrackerError(f"config: unknown key(s) {where}{shown}{more}{hint}")


def _placed(key: str, where: str) -> str:
    """A key as a user names it: with its section, where it was looked for at the top level."""
    return f"{SECTION_OF[key]}.{key}" if not where and SECTION_OF.get(key) else key


def from_dict(values: dict) -> TrackerConfig:
    """A validated config from nested values (any subset of sections and keys; the rest keep their defaults)."""
    top = typing.get_type_hints(TrackerConfig)
    unknown = sorted(set(values) - set(top), key=str)
    if unknown:
        raise _unknown(unknown, sorted(top) + sorted(SECTION_OF), "")
    kwargs = {}
    for key, value in values.items():
        if key not in SECTIONS:
            kwargs[key] = _check_type(key, value, top[key])
            continue
        if not isinstance(value, dict):
            raise TrackerError(f"config: {key} must be a mapping of its keys to values, got {quoted(value)}")
        kind = SECTIONS[key]
        hints = typing.get_type_hints(kind)
        unknown = sorted(set(value) - set(hints), key=str)
        if unknown:
            elsewhere = [f"{k} -> {SECTION_OF[k]}.{k}" for k in unknown if isinstance(k, str) and SECTION_OF.get(k)]
            if elsewhere:
                raise TrackerError(f"config: {key} has no {', '.join(k for k in unknown if SECTION_OF.get(k))}: "
                                   f"{', '.join(elsewhere)}")
            raise _unknown(unknown, sorted(hints), f"in {key}: ")
        kwargs[key] = kind(**{k: _check_type(f"{key}.{k}", v, hints[k]) for k, v in value.items()})
    config = TrackerConfig(**kwargs)
    config.validate()
    return config


def load_config(path: str | Path | None = None, **overrides: object) -> TrackerConfig:
    """Defaults, then the YAML file at ``path`` (any subset of sections and keys), then ``overrides`` (as
    :meth:`TrackerConfig.replace` takes them: ``seed=3, learning={"updater": "bp"}``; None values, in a section
    too, are left out: not given)."""
    values: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise TrackerError(f"config file not found: {path}")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise TrackerError(f"cannot read config file {path}: {exc.strerror}") from None
        if size > MAX_CONFIG_BYTES:
            raise TrackerError(f"config file {path} is {size} bytes, over the {MAX_CONFIG_BYTES} a config may have")
        loaded = load_yaml_text(read_text(path, "config file"), f"config file {path}")
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise TrackerError(f"config file {path} must hold a mapping of keys to values")
        values = loaded
    given = {key: {k: v for k, v in value.items() if v is not None} if key in SECTIONS and isinstance(value, dict)
             else value for key, value in overrides.items() if value is not None}
    return from_dict(merged(values, given))
