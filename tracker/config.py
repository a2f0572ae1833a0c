"""Every hyper-parameter of the tracker in one typed dataclass, loaded from YAML and validated.

Defaults are MDNet's published settings (py-MDNet ``options.yaml``); the few deviations are
marked ``# deviation`` with the reason.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from tracker.errors import MAX_QUOTE, TrackerError, quoted
from tracker.files import read_text
from tracker.limits import MAX_CHANNELS, MAX_COUNT, SIZE_BOUNDS

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
LEARNING_DTYPES = ("auto", "float32", "bfloat16")  # tracker/updaters/trainer.py
TRUNK_RUNTIMES = ("torch", "onnxruntime")  # tracker/backbones/onnx_runtime.py

FEATURE_MODES = ("shared", "exact")
BOX_READS = ("top", "mean")
FEEDBACK_INITS = ("random", "eq7")
FEEDBACK_SCALINGS = ("fan_in", "norm", "none")
# the largest count or size any setting may take: far above any real use, below what overflows a C size
MAX_CONFIG_BYTES = 1 << 20  # a config is a few kB; more is not a config
MAX_CONFIG_NODES = 10_000  # YAML values once aliases are expanded; the full config has about 100


@dataclass(frozen=True)
class TrackerConfig:
    seed: int = 0
    # --- network ---
    # deviation: MDNet's conv1-3 are VGG-M's, from ImageNet; no such weights can be had here, so the
    # default is the ImageNet EfficientNet-Lite0 trunk (tracker/backbones), cut after ``trunk_blocks``
    # MBConv blocks (8: stride 16, 80 channels, chosen by measurement: results/cut_point/README.md; 5: stride 8;
    # 11: stride 16, 112 channels). mdnet: MDNet's conv1-3 layout. nanotrack: NanoTrack v2's tracking-trained
    # backbone, the box stage's (tracker/backbones/nanotrack.py; results/box_estimation/README.md)
    backbone: str = "efficientnet_lite0"
    trunk_blocks: int = 8
    # deviation (mdnet layout): MDNet's widths are (96, 256, 512); the default is narrower so that the tracker
    # runs in real time on a 2-core CPU (results/backbones/README.md). A weights file fixes the width
    # it holds.
    backbone_channels: tuple[int, int, int] = (48, 96, 128)
    # what runs the frozen trunk's forward pass while tracking: "torch", or "onnxruntime" (the same graph
    # exported once per process; its maps match torch's within float tolerance; results/learner/README.md)
    trunk_runtime: str = "torch"
    fc_width: int = 512
    dropout: float = 0.5
    img_size: int = 107
    padding: int = 16
    # how the classifier reads boxes, for scoring candidates and for its training samples:
    # "shared": one conv pass per frame over the search region, boxes read from it by
    # crop-and-resize on the feature map (RT-MDNet style). "exact": one conv pass per box crop.
    candidate_features: str = "shared"
    sample_features: str = "shared"
    # the longest side of a shared feature map, in pixels (the first frame's covers the whole image)
    max_map_side: int = 1024
    # --- candidate search ---
    n_samples: int = 256
    trans: float = 0.6
    scale: float = 1.05
    trans_limit: float = 1.5
    top_k: int = 5
    # the best this many candidates of the shared map scored again off their own crops (MDNet's exact reading),
    # top_k chosen among them; 0: none (issue 41: for a trunk cheap enough, results/box_estimation/README.md)
    exact_top_k: int = 0
    success_threshold: float = 0.0
    # the lost flag a user reads (not MDNet's): a frame is reported lost where MDNet's own decision fails
    # (score <= success_threshold) or where the mean target score over the last lost_window frames is at or
    # under lost_ratio times the sequence's own typical score (the median of the scores over success_threshold
    # in the previous n_frames_long frames). Learning follows MDNet's decision alone. Chosen on the
    # tuning set's spliced absences (results/absence/README.md); lost_ratio 0 with lost_window 1 is MDNet's alone
    lost_ratio: float = 0.5
    lost_window: int = 8
    # with box_estimator siamese_head, its offline-trained head is the flag's verifier instead (the rule above
    # is used by the other estimators): a frame is flagged lost where the head's target probability about the
    # reported box, counted only where the head's box overlaps it by siamese_min_iou, is under lost_head_agreement
    # (0: the rule above). A re-detection is taken only where the head's probability about its box is at least
    # redetect_head_min. Chosen on the tuning set's splices (studies/siamese_verifier.py;
    # results/absence/siamese_verifier/): alone, the head flags 94% of absent frames and 1.4% of tracked ones
    lost_head_agreement: float = 0.95
    redetect_head_min: float = 0.8
    # re-detection (not MDNet's): on every redetect_interval-th consecutive frame flagged lost, the whole frame
    # is searched at the box's size when the flag was raised, and the best box taken if it scores above
    # redetect_threshold and above redetect_ratio times the typical score then; with redetect_confirm, only once
    # the next frame's search puts its best box on it too. 0: never (MDNet only widens its search about the
    # last box, by 10% a lost frame). Chosen on the tuning set's splices (results/absence/README.md)
    redetect_interval: int = 5
    redetect_threshold: float = 3.0
    redetect_ratio: float = 1.3
    # and only where its likeness to the given target (the cosine of frozen trunk features to the first frame's
    # positives') is at least redetect_likeness times the target's typical likeness when the flag was raised
    redetect_likeness: float = 0.7
    redetect_confirm: bool = False
    # the search's grid also holds boxes redetect_scale_step times larger and smaller than the last box (1: one
    # size), read off the same map: a target may come back nearer or farther than it left
    redetect_scale_step: float = 1.0
    # --- first-frame training ---
    n_pos_init: int = 500
    n_neg_init: int = 5000
    overlap_pos_init: float = 0.7
    overlap_neg_init: float = 0.5
    trans_pos: float = 0.1
    scale_pos: float = 1.3
    trans_neg_init: float = 1.0
    scale_neg_init: float = 1.6
    maxiter_init: int = 50
    lr_init: float = 0.0005
    # --- online updates ---
    n_pos_update: int = 50
    n_neg_update: int = 200
    overlap_pos_update: float = 0.7
    overlap_neg_update: float = 0.3
    trans_neg: float = 2.0
    scale_neg: float = 1.3
    maxiter_update: int = 15
    lr_update: float = 0.001
    long_interval: int = 10
    # --- when updates run (tracker/update_schedule.py) ---
    # deviation: MDNet runs each update's maxiter_update steps inside the frame that asks for it (a lost
    # frame, or every long_interval-th: 10x a tracked frame's cost). "steps" runs at most
    # update_steps_per_frame a frame and carries the rest over, except the first frame of a lost stretch,
    # which updates in full (update_first_lost_in_full): chosen by measurement (results/latency/README.md).
    # "full" is MDNet's.
    update_schedule: str = "steps"
    update_steps_per_frame: int = 2
    # where those steps run (tracker/learner.py): "inline" in the frame that asks, scoring the next frame;
    # "thread" on a worker beside the tracker, live learner_delay frames later; "sequential" the same
    # delayed schedule in one thread (same boxes as "thread")
    learner: str = "inline"
    learner_delay: int = 1
    # the first frame of a lost stretch runs its short-term update in full under any schedule
    update_first_lost_in_full: bool = True
    # the latency target: reports count the frames over it
    frame_budget_ms: float = 40.0
    n_frames_long: int = 100
    n_frames_short: int = 30
    # --- optimisation (shared by every updater) ---
    batch_size: int = 128  # positives + negatives at 1:3 (MDNet: 32 + 96)
    # deviation: MDNet mines the 96 hardest of 1024 candidate negatives per step; 256 was measured
    # about twice as fast on a 2-core CPU with no loss of accuracy (results/speed/README.md, hard negative
    # mining). configs/mdnet_fidelity.yaml restores 1024.
    batch_neg_cand: int = 256
    hard_negative_mining: bool = True
    # deviation: the precision of a learning step's matrix products (the hard negatives' scoring, the forward
    # pass, the weight gradients; weights, their updates and SGD stay float32). "auto": bfloat16 where the CPU
    # multiplies it natively (AVX512-BF16 or AMX: a step in 0.72x float32's time, accuracy within the paired
    # interval), float32 elsewhere, where bfloat16 would be emulated (results/learner/README.md)
    learning_dtype: str = "auto"
    momentum: float = 0.9
    weight_decay: float = 0.0005
    lr_mult: dict[str, float] = field(default_factory=lambda: {"fc6": 10.0})
    grad_clip: float = 10.0
    # --- online learning rule ---
    # deviation: MDNet learns by back-propagation (bp). The default is binary DFA, the project's subject: on the
    # OTB targets it tracks at least as well as BP (paired +0.055 [-0.002, +0.136], results/latency/README.md)
    updater: str = "bdfa"
    # random, or eq7: feedback from the forward weights on the first frame (Eq. 7; Eq. 9 for bdfa)
    feedback_init: str = "random"
    # size of fixed feedback (tracker/updaters/feedback_rule.py): fan_in = RMS entry 1/sqrt(n_in);
    # norm = the Eq. 7 product's norm on the first frame; none = raw N(0, 1) or +-1 entries
    feedback_scaling: str = "fan_in"
    # record, per learning step, the angle between a feedback rule's update and the BP gradient
    alignment_diagnostics: bool = False
    # --- box estimation (tracker/box_estimation.py): the stage after the classifier ---
    bbreg: bool = True  # false: report the mean of the top candidates as it is
    # deviation: MDNet fits its regression on the first frame's conv3 features, as shared_bbreg does on
    # the shared map, which barely sees scale; zoom_bbreg fits it on maps zoomed for each sample's scale,
    # at no cost per tracked frame; siamese_head adds NanoTrack v2's offline-trained head, read about
    # zoom_bbreg's box, which says how big the target is (tuning set +0.050, OTB bdfa +0.031 success AUC, paired;
    # results/box_estimation/README.md). crop_bbreg is more accurate than zoom_bbreg but 18% slower
    box_estimator: str = "siamese_head"
    # crop side of crop_bbreg's own reading: 75 costs a third of 107's
    box_img_size: int = 75
    # crop_bbreg: the regression reads the first this many of the n_bbreg samples, and is applied to the
    # top candidates ("top") or to their mean box alone ("mean", one crop a frame)
    box_fit_samples: int = 400
    box_reads: str = "mean"
    # zoom_bbreg: the first frame's pyramid step, in scale
    box_zoom_step: float = 1.05
    # siamese_head: NanoTrack v2's offline-trained Siamese head reads the size about the classifier's box
    # (zoom_bbreg's), decoded as NanoTrack does (tracker/nanotrack.py): cosine window weight, the penalty on a
    # change of scale and aspect, the rate the size moves at (NanoTrack v2's published values: other values
    # changed the tuning set's AUC within noise). The guard below was chosen on the tuning set
    # (studies/siamese_guard.py)
    siamese_window: float = 0.49
    siamese_penalty_k: float = 0.15
    siamese_lr: float = 0.385
    # its guard: the head's box is taken where its target probability is at least siamese_min_score and its
    # centre lies within siamese_max_shift times the current size (the geometric mean of w and h) of the
    # classifier's; else the classifier's box is reported. A taken size moves at most siamese_max_step a frame
    siamese_min_score: float = 0.9
    siamese_max_shift: float = 0.5
    siamese_max_step: float = 1.1
    # and where its box overlaps the classifier's by at least this IoU (0: any; 0.3 keeps it off a neighbour)
    siamese_min_iou: float = 0.3
    # where the head is taken, the reported centre is this weight of its centre and (1 - it) of the classifier's,
    # where its box overlaps the classifier's by at least siamese_centre_min_iou (else its size alone, at the
    # classifier's centre: a neighbour of the target is about as big, and elsewhere)
    siamese_centre: float = 1.0
    siamese_centre_min_iou: float = 0.0
    # with siamese_score_gate, a head's box overlapping the classifier's by less than siamese_score_gate_below_iou
    # is taken only where the online classifier scores it at least its best candidates' mean minus
    # siamese_score_margin (logits): the classifier knows the target from its neighbours
    siamese_score_gate: bool = False
    siamese_score_margin: float = 1.0
    siamese_score_gate_below_iou: float = 1.0
    # the reported box, not the classifier's, centres the next frame's search and the samples learnt from
    box_feedback: bool = False
    # first-frame samples of the regression (MDNet's)
    n_bbreg: int = 1000
    overlap_bbreg: float = 0.6
    trans_bbreg: float = 0.3
    scale_bbreg: float = 1.6
    aspect_bbreg: float = 1.1
    bbreg_lambda: float = 1000.0

    @property
    def batch_pos(self) -> int:
        return self.batch_size // 4

    @property
    def batch_neg(self) -> int:
        return self.batch_size - self.batch_pos

    def replace(self, **changes: object) -> TrackerConfig:
        """A validated copy with ``changes`` applied."""
        return from_dict({**dataclasses.asdict(self), **changes})

    def with_feature_mode(self, mode: str) -> TrackerConfig:
        """A copy whose classifier reads candidates and training samples alike in ``mode``."""
        return self.replace(candidate_features=mode, sample_features=mode)

    def validate(self) -> None:
        """Refuse, in one line, any value that would fail (or silently mislead) once tracking starts."""
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise TrackerError(f"config: {message}")

        check(0 <= self.seed < 2**32, f"seed must be in 0 .. 2**32 - 1, got {self.seed}")
        # sizes first: every later check may compute with them
        for name in ("n_samples", "top_k", "n_pos_init", "n_neg_init", "maxiter_init", "n_pos_update",
                     "n_neg_update", "maxiter_update", "long_interval", "n_frames_long", "n_frames_short",
                     "fc_width", "img_size", "n_bbreg", "max_map_side", "box_img_size", "box_fit_samples",
                     "batch_size", "batch_neg_cand", "update_steps_per_frame", "learner_delay", "lost_window"):
            value = getattr(self, name)
            bound = SIZE_BOUNDS.get(name, MAX_COUNT)
            check(0 < value <= bound, f"{name} must be in 1 .. {bound}, got {value}")
        check(self.batch_size >= 4, f"batch_size must be at least 4, got {self.batch_size}")
        check(self.batch_neg_cand >= self.batch_neg,
              f"batch_neg_cand ({self.batch_neg_cand}) must be >= the negatives per batch ({self.batch_neg})")
        for name in ("candidate_features", "sample_features"):
            check(getattr(self, name) in FEATURE_MODES, f"{name} must be one of {FEATURE_MODES}")
        check(self.box_estimator in BOX_ESTIMATOR_NAMES,
              f"unknown box_estimator {quoted(self.box_estimator)}; choose from {sorted(BOX_ESTIMATOR_NAMES)}")
        check(self.update_schedule in SCHEDULES, f"update_schedule must be one of {SCHEDULES}")
        check(self.learner in LEARNERS, f"learner must be one of {LEARNERS}")
        check(self.learning_dtype in LEARNING_DTYPES, f"learning_dtype must be one of {LEARNING_DTYPES}")
        check(self.trunk_runtime in TRUNK_RUNTIMES, f"trunk_runtime must be one of {TRUNK_RUNTIMES}")
        check(self.trunk_runtime == "torch" or self.backbone != "nanotrack",
              "the nanotrack trunk runs in OpenCV: trunk_runtime must be torch (its default)")
        check(math.isfinite(self.frame_budget_ms) and self.frame_budget_ms > 0,
              f"frame_budget_ms must be finite and positive, got {self.frame_budget_ms}")
        check(self.box_reads in BOX_READS, f"box_reads must be one of {BOX_READS}")
        check(self.box_zoom_step > 1.0 and math.isfinite(self.box_zoom_step),
              f"box_zoom_step must be finite and > 1, got {self.box_zoom_step}")
        for name in ("siamese_window", "siamese_min_score", "siamese_centre", "siamese_min_iou", "lost_head_agreement",
                     "redetect_head_min", "siamese_centre_min_iou", "siamese_score_gate_below_iou"):
            value = getattr(self, name)
            check(0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value}")
        check(math.isfinite(self.siamese_score_margin), f"siamese_score_margin must be finite, got "
              f"{self.siamese_score_margin}")
        for name in ("siamese_penalty_k", "siamese_max_shift"):
            value = getattr(self, name)
            check(0.0 <= value <= 100.0, f"{name} must be in 0 .. 100, got {value}")
        check(0.0 < self.siamese_lr <= 1.0, f"siamese_lr must be in (0, 1], got {self.siamese_lr}")
        check(1.0 <= self.siamese_max_step <= 10.0, f"siamese_max_step must be in 1 .. 10, got {self.siamese_max_step}")
        check(self.updater in UPDATER_NAMES,
              f"unknown updater {quoted(self.updater)}; choose from {sorted(UPDATER_NAMES)}")
        check(self.feedback_init in FEEDBACK_INITS, f"feedback_init must be one of {FEEDBACK_INITS}")
        check(self.feedback_scaling in FEEDBACK_SCALINGS, f"feedback_scaling must be one of {FEEDBACK_SCALINGS}")
        check(self.backbone in BACKBONE_NAMES,
              f"unknown backbone {quoted(self.backbone)}; choose from {sorted(BACKBONE_NAMES)}")
        check(1 <= self.trunk_blocks <= N_BLOCKS, f"trunk_blocks must be in 1-{N_BLOCKS}, got {self.trunk_blocks}")
        check(all(0 < c <= MAX_CHANNELS for c in self.backbone_channels),
              f"backbone_channels must each be in 1 .. {MAX_CHANNELS}, got {list(self.backbone_channels)}")
        check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        check(set(self.lr_mult) <= {"fc4", "fc5", "fc6"}, "lr_mult keys must be fc4, fc5 or fc6")
        check(all(math.isfinite(v) and v >= 0 for v in self.lr_mult.values()),
              "lr_mult values must be finite and >= 0")
        min_img = BACKBONE_MIN_IMG_SIZE[self.backbone]
        check(min_img <= self.img_size <= self.max_map_side,
              f"img_size must be in {min_img} .. max_map_side ({self.max_map_side}) for the {self.backbone} "
              f"backbone, got {self.img_size}")
        check(min_img <= self.box_img_size <= self.max_map_side,
              f"box_img_size must be in {min_img} .. max_map_side ({self.max_map_side}) for the {self.backbone} "
              f"backbone, got {self.box_img_size}")
        check(self.top_k <= self.n_samples, "top_k must not exceed n_samples")
        check(self.exact_top_k == 0 or self.top_k <= self.exact_top_k <= self.n_samples,
              f"exact_top_k must be 0 or in top_k .. n_samples ({self.top_k} .. {self.n_samples}), got "
              f"{self.exact_top_k}")
        for name in ("trans", "scale", "trans_limit", "lr_init", "lr_update", "grad_clip", "bbreg_lambda",
                     "trans_pos", "scale_pos", "trans_neg_init", "scale_neg_init", "trans_neg", "scale_neg",
                     "trans_bbreg", "scale_bbreg", "aspect_bbreg"):
            value = getattr(self, name)
            check(math.isfinite(value) and value > 0, f"{name} must be finite and positive, got {value}")
        for name in ("overlap_pos_init", "overlap_neg_init", "overlap_pos_update", "overlap_neg_update",
                     "overlap_bbreg"):
            value = getattr(self, name)
            check(0.0 <= value <= 1.0, f"{name} is an IoU and must be in [0, 1], got {value}")
        check(0.0 <= self.momentum < 1.0, f"momentum must be in [0, 1), got {self.momentum}")
        check(math.isfinite(self.weight_decay) and self.weight_decay >= 0, "weight_decay must be finite and >= 0")
        check(math.isfinite(self.success_threshold), "success_threshold must be finite")
        check(0.0 <= self.lost_ratio <= 1e6, f"lost_ratio must be in 0 .. 1e6, got {self.lost_ratio}")
        check(self.lost_window <= self.n_frames_long,
              f"lost_window ({self.lost_window}) must not exceed n_frames_long ({self.n_frames_long})")
        check(0 <= self.redetect_interval <= MAX_COUNT, f"redetect_interval must be in 0 .. {MAX_COUNT} (0: never)")
        check(math.isfinite(self.redetect_threshold), "redetect_threshold must be finite")
        check(0.0 <= self.redetect_ratio <= 1e6, f"redetect_ratio must be in 0 .. 1e6, got {self.redetect_ratio}")
        check(0.0 <= self.redetect_likeness <= 10.0,
              f"redetect_likeness must be in 0 .. 10, got {self.redetect_likeness}")
        check(1.0 <= self.redetect_scale_step <= 4.0,
              f"redetect_scale_step must be in 1 .. 4, got {self.redetect_scale_step}")
        check(self.padding >= 0, f"padding must be >= 0, got {self.padding}")


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


def from_dict(values: dict) -> TrackerConfig:
    hints = typing.get_type_hints(TrackerConfig)
    known = {f.name for f in fields(TrackerConfig)}
    unknown = sorted(set(values) - known, key=str)
    if unknown:
        shown = ", ".join(quoted(k, 60) if not isinstance(k, str) or len(k) > 60 else k for k in unknown[:10])
        guesses = [f"{k} -> {close[0]}" for k in unknown[:10] if isinstance(k, str) and len(k) <= 60
                   and (close := difflib.get_close_matches(k, sorted(known), n=1, cutoff=0.75))]
        raise TrackerError(f"config: unknown key(s) {shown}" + (f" and {len(unknown) - 10} more" if len(unknown) > 10
                                                                 else "")
                           + (f" (did you mean: {', '.join(guesses)}?)" if guesses else ""))
    config = TrackerConfig(**{k: _check_type(k, v, hints[k]) for k, v in values.items()})
    config.validate()
    return config


def _expanded_nodes(node: yaml.Node, done: dict[int, int], open_nodes: set[int], what: str) -> int:
    """How many nodes ``node`` holds once every alias is expanded (each shared node counted once per use)."""
    key = id(node)
    if key in done:
        return done[key]
    if key in open_nodes:
        raise TrackerError(f"{what}: an alias refers to itself")
    open_nodes.add(key)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_nodes(n, done, open_nodes, what) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_nodes(k, done, open_nodes, what) + _expanded_nodes(v, done, open_nodes, what)
                       for k, v in node.value)
    else:
        size = 1
    open_nodes.discard(key)
    done[key] = size
    return size


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with two YAML 1.2 readings a config needs: ``1e-3`` is a float (YAML 1.1 wants
    ``1.0e-3`` and reads ``1e-3`` as a string), and a key given twice is an error, not the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class says so
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice (line {key_node.start_mark.line + 1})",
                    key_node.start_mark)
        return super().construct_mapping(node, deep)


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def load_yaml_text(text: str, what: str) -> object:
    """YAML, read safely and within bounds: a 400-byte alias bomb expands to gigabytes once built."""
    if len(text) > MAX_CONFIG_BYTES:
        raise TrackerError(f"{what} is {len(text)} characters, over the {MAX_CONFIG_BYTES} a config may have")
    try:
        node = yaml.compose(text, Loader=ConfigLoader)
        if node is not None and _expanded_nodes(node, {}, set(), what) > MAX_CONFIG_NODES:
            raise TrackerError(f"{what}: its aliases expand to more than {MAX_CONFIG_NODES} values")
        return yaml.load(text, Loader=ConfigLoader)  # a SafeLoader: no object tags
    except yaml.YAMLError as exc:
        raise TrackerError(f"{what} is not valid YAML: {str(exc).splitlines()[0][:MAX_QUOTE]}") from None


def load_config(path: str | Path | None = None, **overrides: object) -> TrackerConfig:
    """Defaults, then the YAML file at ``path`` (any subset of keys), then ``overrides``."""
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
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(values)
