"""The tracker's settings, one frozen dataclass per component that reads them, with their defaults and why.

Defaults are MDNet's published settings (py-MDNet ``options.yaml``), here and nowhere else; the few deviations
are marked ``# deviation`` with the reason. :class:`~tracker.config.TrackerConfig` holds one of each, validates
them and reads them from YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    # which runs update_first_lost_steps of its update at once: chosen by measurement (results/latency/README.md).
    # "full" is MDNet's. (tracker/update_schedule.py)
    update_schedule: str = "steps"
    update_steps_per_frame: int = 2
    # where those steps run (tracker/learner.py): "inline" in the frame that asks, scoring the next frame;
    # "thread" on a worker beside the tracker, live learner_delay frames later; "sequential" the same
    # delayed schedule in one thread (same boxes as "thread")
    learner: str = "inline"
    learner_delay: int = 1
    # steps of its short-term update the first frame of a lost stretch runs at once (maxiter_update or more: in
    # full; the rest at update_steps_per_frame): a lost runner needs it at once (results/latency/README.md)
    update_first_lost_steps: int = 15
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
    # where the search runs (tracker/search_runner.py): "inline" in the frame that asks for it; "thread" on a
    # worker beside the tracker, its find landing redetect_delay frames later and checked there by a local search;
    # "sequential" the same in one thread (same boxes as "thread"). On 2 cores "thread" spreads a search's 100 ms
    # over the next frames, which run on one core meanwhile: no faster on the whole (mean 1.025x, p95 1.004x;
    # results/search_beside/README.md), so it is an option for machines with cores to spare
    redetect_runner: str = "inline"
    redetect_delay: int = 4


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
