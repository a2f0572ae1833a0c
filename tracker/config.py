"""Every hyper-parameter of the tracker, in typed sections by the component that reads each, loaded from YAML and
validated in one place.

Defaults are MDNet's published settings (py-MDNet ``options.yaml``), here and nowhere else; the few deviations
are marked ``# deviation`` with the reason. A component takes its own section (the learning rule
``learning``, the box stage ``box``, ...), not the whole config.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

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
LEARNING_DTYPES = ("auto", "float32", "bfloat16")  # tracker/updaters/trainer.py
TRUNK_RUNTIMES = ("torch", "onnxruntime")  # tracker/backbones/onnx_runtime.py

FEATURE_MODES = ("shared", "exact")
BOX_READS = ("top", "mean")
FEEDBACK_INITS = ("random", "eq7")
FEEDBACK_SCALINGS = ("fan_in", "norm", "none")


@dataclass(frozen=True)
class NetworkConfig:
    """The frozen trunk and the fc4-fc6 classifier on it, and how the classifier reads boxes off the trunk."""

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


@dataclass(frozen=True)
class CandidatesConfig:
    """Each frame's search: Gaussian candidates about the last box, the best ``top_k`` averaged."""

    n_samples: int = 256
    trans: float = 0.6
    scale: float = 1.05
    trans_limit: float = 1.5
    top_k: int = 5
    # the best this many candidates of the shared map scored again off their own crops (MDNet's exact reading),
    # top_k chosen among them; 0: none (issue 41: for a trunk cheap enough, results/box_estimation/README.md)
    exact_top_k: int = 0
    # MDNet's decision: a frame whose target score is over this is tracked, else failed (the search widens)
    success_threshold: float = 0.0


@dataclass(frozen=True)
class SamplesConfig:
    """The training samples drawn about the box (first frame and tracked frames) and how long they are kept."""

    # first frame
    n_pos_init: int = 500
    n_neg_init: int = 5000
    overlap_pos_init: float = 0.7
    overlap_neg_init: float = 0.5
    trans_pos: float = 0.1
    scale_pos: float = 1.3
    trans_neg_init: float = 1.0
    scale_neg_init: float = 1.6
    # each tracked frame
    n_pos_update: int = 50
    n_neg_update: int = 200
    overlap_pos_update: float = 0.7
    overlap_neg_update: float = 0.3
    trans_neg: float = 2.0
    scale_neg: float = 1.3
    # with several targets (tracker/multi.py), negatives drawn about each other target's box on each tracked frame,
    # as positives are about this one's (ten times as many on the first frame); 0: the others are not negatives
    negatives_per_other: int = 20
    # the sample memories: the positives of the last n_frames_long tracked frames, the negatives of the last
    # n_frames_short (the lost flag's typical score looks as far back)
    n_frames_long: int = 100
    n_frames_short: int = 30


@dataclass(frozen=True)
class UpdatesConfig:
    """What the tracker learns from and when: MDNet's first-frame, short-term and long-term updates."""

    maxiter_init: int = 50
    lr_init: float = 0.0005
    maxiter_update: int = 15
    lr_update: float = 0.001
    long_interval: int = 10
    # deviation: MDNet runs each update's maxiter_update steps inside the frame that asks for it (a lost
    # frame, or every long_interval-th: 10x a tracked frame's cost). "steps" runs at most
    # update_steps_per_frame a frame and carries the rest over, except the first frame of a lost stretch,
    # which updates in full (update_first_lost_in_full): chosen by measurement (results/latency/README.md).
    # "full" is MDNet's. (tracker/update_schedule.py)
    update_schedule: str = "steps"
    update_steps_per_frame: int = 2
    # where those steps run (tracker/learner.py): "inline" in the frame that asks, scoring the next frame;
    # "thread" on a worker beside the tracker, live learner_delay frames later; "sequential" the same
    # delayed schedule in one thread (same boxes as "thread")
    learner: str = "inline"
    learner_delay: int = 1
    # the first frame of a lost stretch runs its short-term update in full under any schedule
    update_first_lost_in_full: bool = True
    batch_size: int = 128  # positives + negatives at 1:3 (MDNet: 32 + 96)
    # deviation: MDNet mines the 96 hardest of 1024 candidate negatives per step; 256 was measured
    # about twice as fast on a 2-core CPU with no loss of accuracy (results/speed/README.md, hard negative
    # mining). configs/mdnet_fidelity.yaml restores 1024.
    batch_neg_cand: int = 256
    hard_negative_mining: bool = True

    @property
    def batch_pos(self) -> int:
        return self.batch_size // 4

    @property
    def batch_neg(self) -> int:
        return self.batch_size - self.batch_pos


@dataclass(frozen=True)
class LearningConfig:
    """The learning rule that turns a minibatch into an update of fc4-fc6 (tracker/updaters), and its optimiser."""

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
    # deviation: the precision of a learning step's matrix products (the hard negatives' scoring, the forward
    # pass, the weight gradients; weights, their updates and SGD stay float32). "auto": bfloat16 where the CPU
    # multiplies it natively (AVX512-BF16 or AMX: a step in 0.72x float32's time, accuracy within the paired
    # interval), float32 elsewhere, where bfloat16 would be emulated (results/learner/README.md)
    learning_dtype: str = "auto"
    momentum: float = 0.9
    weight_decay: float = 0.0005
    lr_mult: dict[str, float] = field(default_factory=lambda: {"fc6": 10.0})
    grad_clip: float = 10.0


@dataclass(frozen=True)
class LostFlagConfig:
    """The lost flag a user reads (not MDNet's; tracker/lost_and_found.py). Learning follows MDNet's decision."""

    # with box.box_estimator siamese_head, its offline-trained head is the flag's verifier: a frame is flagged
    # lost where the head's target probability about the reported box, counted only where the head's box
    # overlaps it by box.siamese_min_iou, is under lost_head_agreement (0: the rule below). Chosen on the tuning
    # set's splices (studies/siamese_verifier.py; results/absence/siamese_verifier/): alone, the head flags 94% of
    # absent frames and 1.4% of tracked ones
    lost_head_agreement: float = 0.95
    # without a head: a frame is flagged lost where MDNet's own decision fails (score <= success_threshold) or
    # where the mean target score over the last lost_window frames is at or under lost_ratio times the
    # sequence's own typical score (the median of the scores over success_threshold in the previous
    # samples.n_frames_long frames). Chosen on the tuning set's spliced absences (results/absence/README.md);
    # lost_ratio 0 with lost_window 1 is MDNet's alone
    lost_ratio: float = 0.5
    lost_window: int = 8


@dataclass(frozen=True)
class RedetectionConfig:
    """The whole-frame search for a target flagged lost (not MDNet's; tracker/lost_and_found.py)."""

    # on every redetect_interval-th consecutive frame flagged lost, the whole frame is searched at the box's size
    # when the flag was raised, and the best box taken if it scores above redetect_threshold and above
    # redetect_ratio times the typical score then; with redetect_confirm, only once the next frame's search puts
    # its best box on it too. 0: never (MDNet only widens its search about the last box, by 10% a lost frame).
    # Chosen on the tuning set's splices (results/absence/README.md)
    redetect_interval: int = 5
    redetect_threshold: float = 3.0
    redetect_ratio: float = 1.3
    # and only where its likeness to the given target (the cosine of frozen trunk features to the first frame's
    # positives') is at least redetect_likeness times the target's typical likeness when the flag was raised
    redetect_likeness: float = 0.7
    # and, with the siamese_head box stage, only where its head's target probability about the box is at least
    # redetect_head_min (studies/siamese_verifier.py)
    redetect_head_min: float = 0.8
    redetect_confirm: bool = False
    # the search's grid also holds boxes redetect_scale_step times larger and smaller than the last box (1: one
    # size), read off the same map: a target may come back nearer or farther than it left
    redetect_scale_step: float = 1.0
    # the longest side of the search's whole-frame map (and never over network.max_map_side): a smaller one is
    # read coarser, cheaper in time and memory (results/search_cost/README.md: 768 costs 0.79x the time of 1024)
    redetect_map_side: int = 1024


@dataclass(frozen=True)
class BoxConfig:
    """The box stage after the classifier (tracker/box_estimation.py): what size and place to report."""

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
RETIRED = {"frame_budget_ms": "the speed harness's --frame-budget-ms (tracker/evaluation/speed.py)"}


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
