"""The MDNet tracker: first-frame training, candidate scoring, failure handling, online updates.

How fc4-fc6 learn is delegated to a :class:`~tracker.updaters.Trainer` and its rule; this module decides what
they learn from (sample memories, hard negatives, when to update).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np
import torch

from tracker.allocator import release_free_memory
from tracker.backbones import Backbone
from tracker.box_estimation import BoxEstimator, agreement, make_box_estimator
from tracker.boxes import SampleGenerator, check_box, iou
from tracker.config import TrackerConfig
from tracker.errors import TrackerError
from tracker.features import FrameFeatures, feature_dim, frame_features
from tracker.head import Head
from tracker.learner import Learner
from tracker.nanotrack import HeadBox
from tracker.timing import PhaseTimer
from tracker.tracking import FrameResult, SequenceStats
from tracker.update_schedule import SampleSet, UpdateJob, UpdateScheduler
from tracker.updaters import Trainer, make_updater


def as_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 from a grey, RGB or RGBA uint8 array (a PIL image too). Any other dtype is refused, not
    cast: a float frame in [0, 1] would become a black-and-white one, int64 values would wrap, NaN has no byte."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TrackerError(f"a frame must be a uint8 array (values 0-255), got {image.dtype}: convert it first, "
                           "e.g. (frame * 255).round().astype(np.uint8) for floats in [0, 1]")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] < 3:
        raise TrackerError(f"a frame must be H x W grey or H x W x 3 (or 4) colour, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise TrackerError(f"a frame of {image.shape[1]}x{image.shape[0]} pixels has nothing to track")
    return np.ascontiguousarray(image[:, :, :3])


REDETECT_BOXES = 4096  # per size of the re-detection grid: bounds its features to 12 MB at 80 x 9 per box
REDETECT_RECORDS = 10_000
REDETECT_SEEDS = 5  # grid boxes a re-detection searches about, as the tracker searches a frame
REDETECT_AGREE = 1 / 3  # boxes overlapping this much are one find (a grid step apart): a confirmation, or the own box


def typical_score(previous: Sequence[float], success_threshold: float, values: Sequence[float] | None = None) -> float:
    """The sequence's typical target score: the median of the successful scores (over ``success_threshold``)
    among ``previous`` (0 where none is); with ``values`` (one per score), the median of those frames' values."""
    successful = [v for v, score in zip(previous if values is None else values, previous) if score > success_threshold]
    return float(np.median(successful)) if successful else 0.0


def score_dropped(previous: Sequence[float], recent: Sequence[float], ratio: float, success_threshold: float) -> bool:
    """The lost flag's own test, beside MDNet's: the mean of the ``recent`` scores is at or under ``ratio`` times
    the typical score (:func:`typical_score` of ``previous``)."""
    return sum(recent) / len(recent) <= ratio * typical_score(previous, success_threshold)


class Search(NamedTuple):
    """One whole-frame search for a lost target: the frame, its best box, that box's score, its likeness (the
    cosine similarity of its trunk features to the first frame's positives' mean: the target as it was given),
    and the target's typical likeness when the flag was raised, what that is measured against."""

    frame: int
    box: np.ndarray
    score: float
    likeness: float
    typical_likeness: float


@dataclass
class SequenceState:
    """What the tracker keeps about one sequence: made by ``init``, replaced by the next ``init``."""

    rng: np.random.Generator
    torch_gen: torch.Generator
    image_size: tuple[int, int]  # (width, height) every frame must have
    target: np.ndarray  # the classifier's box, the centre of the next search
    trans: float  # the search's spread, widened on lost frames (MDNet's expand_trans)
    scheduler: UpdateScheduler
    timer: PhaseTimer = field(default_factory=PhaseTimer)
    frame_index: int = 0
    failed_frames: int = 0  # frames scored as lost: each one costs a short-term update
    lost_run: int = 0  # consecutive frames scored as lost (MDNet's decision), up to this one
    flagged_run: int = 0  # consecutive frames flagged lost (the flag users read), up to this one
    since_found: int = 1 << 30  # frames since a re-detection: the lost flag's mean starts again there
    recent_scores: deque[float] = field(default_factory=deque)  # the last n_frames_long target scores
    recent_likeness: deque[float] = field(default_factory=deque)  # their boxes' likeness, where re-detection is on
    skipped_steps: list[str] = field(default_factory=list)  # steps that could not run here, with the reason
    box_estimator: BoxEstimator | None = None
    # the whole-frame searches, taken or not (the last REDETECT_RECORDS: a long video cannot grow it without end)
    redetections: deque[Search] = field(default_factory=lambda: deque(maxlen=REDETECT_RECORDS))
    lost_typical: float = 0.0  # the typical score when the lost flag was last raised: re-detection's reference
    lost_likeness: float = 0.0  # and the typical likeness to the given target then
    lost_size: np.ndarray | None = None  # the box's size then: a lost box drifts (a 26 x 24 biker's to 5 x 8)
    candidate: np.ndarray | None = None  # a re-detected box waiting for the next frame's search to confirm it
    template: torch.Tensor | None = None  # the first frame's positives' mean trunk features, unit length
    pos_memory: deque[torch.Tensor] = field(default_factory=deque)  # per tracked frame, its positives' features
    neg_memory: deque[torch.Tensor] = field(default_factory=deque)


class MDNetTracker:
    """got10k-shaped tracker: ``init(image, box)`` then ``update(image) -> box`` per frame.

    Images are RGB uint8 arrays; boxes are (x, y, w, h) in pixels.
    """

    def __init__(self, config: TrackerConfig, backbone: Backbone,
                 fc_state: dict[str, torch.Tensor] | None = None, updater: Trainer | None = None) -> None:
        self.config = config
        self.backbone = backbone.eval()
        self.fc_state = fc_state
        self.head = Head(feature_dim(backbone), config.fc_width, config.dropout)
        self.updater = updater if updater is not None else make_updater(config)
        # the head the rule trains is self.head; candidates are scored by self.learner.scoring_head
        self.learner = Learner(config.learner, config.learner_delay, self.head)
        self.labels = torch.cat([torch.ones(config.batch_pos, dtype=torch.long),
                                 torch.zeros(config.batch_neg, dtype=torch.long)])
        self.state: SequenceState | None = None  # made by init: everything about the sequence being tracked

    # ---------------------------------------------------------------- first frame
    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        cfg = self.config
        image = as_rgb(image)
        box = check_box(box, image.shape)
        self.learner.start_sequence()
        self.state = s = SequenceState(
            rng=np.random.default_rng(cfg.seed), torch_gen=torch.Generator().manual_seed(cfg.seed),
            image_size=(image.shape[1], image.shape[0]), target=box.copy(), trans=cfg.trans,
            scheduler=UpdateScheduler(cfg.update_schedule, cfg.update_steps_per_frame),
            recent_scores=deque(maxlen=cfg.n_frames_long), recent_likeness=deque(maxlen=cfg.n_frames_long))
        self.head.reset(s.torch_gen, self.fc_state)
        self.updater.start(self.head, s.torch_gen)  # the updater's diagnostics start again there

        whole = np.array([0.0, 0.0, *s.image_size])
        with s.timer("features"):
            features = frame_features(self.backbone, image, cfg.sample_features, cfg.img_size, cfg.padding,
                                      box, np.stack([box, whole]), cfg.max_map_side)
            pos = self._draw(features, SampleGenerator("gaussian", s.image_size, cfg.trans_pos, cfg.scale_pos),
                             cfg.n_pos_init, (cfg.overlap_pos_init, 1.0))
            half = cfg.n_neg_init // 2
            neg = np.concatenate([
                self._draw(features, SampleGenerator("uniform", s.image_size, cfg.trans_neg_init,
                                                     cfg.scale_neg_init), half, (0.0, cfg.overlap_neg_init)),
                self._draw(features, SampleGenerator("whole", s.image_size, 0.0, cfg.scale_neg_init),
                           cfg.n_neg_init - half, (0.0, cfg.overlap_neg_init)),
            ])
            neg = neg[s.rng.permutation(len(neg))]
            pos_feats, neg_feats = features.extract(pos), features.extract(neg)
            s.template = torch.nn.functional.normalize(pos_feats.float().mean(0), dim=0)
        if cfg.bbreg:
            with s.timer("bbreg"):
                # drawn the same way for every estimator, so that the classifier's samples do not depend on it
                samples = self._draw(features, SampleGenerator("uniform", s.image_size, cfg.trans_bbreg,
                                                               cfg.scale_bbreg, cfg.aspect_bbreg),
                                     cfg.n_bbreg, (cfg.overlap_bbreg, 1.0))
                if len(samples):
                    s.box_estimator = make_box_estimator(
                        cfg, self.backbone, lambda feats: self.learner.scoring_head.positive_score(feats))
                    s.box_estimator.fit(image, box, samples, features)
                else:
                    s.skipped_steps.append(f"bbreg: no sample overlaps the initial box by {cfg.overlap_bbreg}")
        with s.timer("updates"):
            # the first frame trains in full, whatever the schedule: there is nothing to track without it
            job = self._job(SampleSet([pos_feats]), SampleSet([neg_feats]), cfg.maxiter_init, cfg.lr_init, urgent=True)
            if job is not None:
                s.scheduler.request(job)
                s.scheduler.run(self._step)
        self.learner.go_live_now()
        s.pos_memory = deque([pos_feats[:cfg.n_pos_update]], maxlen=cfg.n_frames_long)
        s.neg_memory = deque([neg_feats[:cfg.n_neg_update]], maxlen=cfg.n_frames_short)
        release_free_memory()  # the first frame's map and its 5,500 samples are gone: hand their pages back

    # ---------------------------------------------------------------- each frame
    def update(self, image: np.ndarray) -> np.ndarray:
        """got10k's call: the box alone."""
        return self.track_frame(image).box

    def track_frame(self, image: np.ndarray) -> FrameResult:
        """The next frame: box, target score (mean logit of the top candidates) and whether it is lost."""
        cfg = self.config
        if self.state is None:
            raise TrackerError("a frame to track before init(image, box): start the tracker on a first frame")
        s = self.state
        image = as_rgb(image)
        if (image.shape[1], image.shape[0]) != s.image_size:
            raise TrackerError(f"a frame of {image.shape[1]}x{image.shape[0]} pixels in a sequence that started at "
                               f"{s.image_size[0]}x{s.image_size[1]}: every frame of a sequence must have one "
                               "size (init() starts a new sequence)")
        s.frame_index += 1
        candidates = SampleGenerator("gaussian", s.image_size, s.trans, cfg.scale).draw(
            s.target, cfg.n_samples, s.rng)
        with s.timer("features"):
            def reader(mode: str) -> FrameFeatures:
                return frame_features(self.backbone, image, mode, cfg.img_size, cfg.padding, s.target,
                                      candidates, cfg.max_map_side)

            features = reader(cfg.sample_features)
            candidate_reader = features if cfg.candidate_features == cfg.sample_features else reader(
                cfg.candidate_features)
            candidate_feats = candidate_reader.extract(candidates)
        with s.timer("scoring"):
            scores = self.learner.scoring_head.positive_score(candidate_feats).numpy()
            if cfg.exact_top_k:
                scores = self._rescored(image, candidates, scores)
            top = np.argsort(-scores)[:cfg.top_k]
            score = float(scores[top].mean())
            previous = s.target
            s.target = candidates[top].mean(axis=0)
            success = score > cfg.success_threshold
        result = s.target.copy()
        estimated = success and s.box_estimator is not None
        if estimated:
            with s.timer("bbreg"):
                result = s.box_estimator.estimate(image, candidate_reader, candidates[top], candidate_feats[top])
        # the flag a user reads; learning follows MDNet's own decision (withholding the samples of frames flagged
        # only by the score's drop cost bdfa 0.040 success AUC on OTB: results/absence/README.md)
        with s.timer("bbreg"):  # the box stage's head, as the flag's verifier
            lost = self._flagged(score, success, self._agreement(image, result, estimated))
        if lost and not s.flagged_run:
            s.lost_typical = typical_score(s.recent_scores, cfg.success_threshold)
            s.lost_likeness = typical_score(s.recent_scores, cfg.success_threshold, s.recent_likeness)
            s.lost_size = previous[2:].copy()
        if not lost:
            s.candidate = None
        redetected = False
        # searched on that flag, not MDNet's decision alone: in another scene the classifier often scores some
        # object over 0, a drop from the sequence's typical score all the same
        if lost and cfg.redetect_interval and (s.candidate is not None
                                               or (s.flagged_run + 1) % cfg.redetect_interval == 0):
            with s.timer("redetect"):
                found = self._redetect(image, s.lost_size)
            if found is not None:
                (s.target, score, agreement), success, redetected = found, True, True
                s.since_found = 0  # the scores before it were of what was not the target
                lost = self._flagged(score, success, agreement)
                result = s.target.copy()
                if s.box_estimator is not None:
                    s.box_estimator.reported(result)
        # a failed frame widens the search (MDNet's expand_trans); success resets it
        s.trans = cfg.trans if success else min(s.trans * 1.1, cfg.trans_limit)
        if estimated and not redetected and cfg.box_feedback:
            s.target = result.copy()
        s.recent_scores.append(score)  # every frame's score joins the record, lost or not
        if cfg.redetect_interval:
            s.recent_likeness.append(self._likeness(candidate_feats[top]))
        s.flagged_run = s.flagged_run + 1 if lost else 0
        s.since_found += 1
        with s.timer("updates"):
            s.lost_run = 0 if success else s.lost_run + 1
            if not success:
                s.failed_frames += 1
                self._request_update(short_term=True, urgent=s.lost_run == 1 and cfg.update_first_lost_in_full)
            else:
                if not redetected:  # a re-detected box is trusted for the search, not yet for learning
                    self._collect(features)
                if s.frame_index % cfg.long_interval == 0:
                    self._request_update(short_term=False)
            steps = self._learn()
        if s.frame_index % cfg.long_interval == 0:
            release_free_memory()  # ~5 ms: keeps the heap near what is live (tracker/allocator.py)
        return FrameResult(result, score, lost, steps)

    def _rescored(self, image: np.ndarray, candidates: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """``scores`` with the best ``exact_top_k`` candidates scored again off their own crops (MDNet's exact
        reading), the rest put under them."""
        best = np.argsort(-scores)[:self.config.exact_top_k]
        crops = FrameFeatures(self.backbone, image, self.config.img_size, self.config.padding)
        rescored = np.full_like(scores, -np.inf)
        rescored[best] = self.learner.scoring_head.positive_score(crops.extract(candidates[best])).numpy()
        return rescored

    def _agreement(self, image: np.ndarray, box: np.ndarray, estimated: bool) -> float | None:
        """How sure the box stage's offline head is that ``box`` holds the given target (:func:`agreement`),
        reusing its reading where it ``estimated`` ``box``; None without a head, or where the flag does not ask."""
        estimator = self.state.box_estimator
        if estimator is None or not self.config.lost_head_agreement:
            return None
        return self._agreement_of(estimator.last_reading() if estimated else estimator.verify(image, box), box)

    def _agreement_of(self, reading: HeadBox | None, box: np.ndarray) -> float | None:
        """:func:`agreement` of ``reading`` with ``box``; None without a reading or where the flag does not ask."""
        if reading is None or not self.config.lost_head_agreement:
            return None
        return agreement(reading, box, self.config.siamese_min_iou)

    def _flagged(self, score: float, success: bool, head_agreement: float | None) -> bool:
        """The lost flag: the verifier's agreement under ``lost_head_agreement`` where it has one, else MDNet's
        decision or the score's drop."""
        if head_agreement is not None:
            return head_agreement < self.config.lost_head_agreement
        return not success or self._score_drops(score)

    def _score_drops(self, score: float) -> bool:
        """Whether the mean of the last ``lost_window`` frames' scores (none before a re-detection), this one's
        ``score`` the last, is at or under ``lost_ratio`` times the median of the previous ``n_frames_long``
        frames' successful scores."""
        cfg, s = self.config, self.state
        history = list(s.recent_scores)
        recent = history[max(len(history) - cfg.lost_window + 1, len(history) - s.since_found, 0):] + [score]
        return score_dropped(history, recent, cfg.lost_ratio, cfg.success_threshold)

    def sequence_stats(self) -> SequenceStats:
        if self.state is None:
            return SequenceStats(0)
        return SequenceStats(self.state.failed_frames, self.state.timer.as_dict())

    def close(self) -> None:
        """Stop the learner's worker thread, if any (it also stops with the process)."""
        self.learner.close()

    def _redetect(self, image: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, float, float | None] | None:
        """A search of the whole frame, read off one shared map: boxes of ``size`` (the box's when the flag was
        raised; and ``redetect_scale_step`` times larger and smaller) on grids half their smaller side apart are
        scored by the classifier, and about the ``REDETECT_SEEDS`` best the tracker's own search runs (Gaussian
        candidates, the mean of the ``top_k`` best): a grid half a box apart can meet a target at IoU 0.4, which
        the classifier, taught on positives at IoU >= 0.7, scores as background.

        The best of those boxes, with its score, if it clears both ``redetect_threshold`` and ``redetect_ratio``
        times the typical score when the target was flagged lost (a target's score depends on the target: small
        ones score 1-2, large ones 5-8), its likeness to the given target (cosine of trunk features) is at least
        ``redetect_likeness`` times the target's typical likeness then, the verifier (the box stage's offline head,
        where it has one) puts the target there with probability at least ``redetect_head_min``, and, with
        ``redetect_confirm``, the previous frame's search found it too; else None. With the box, its score and the
        verifier's agreement there (None without one). A box on the tracker's own (IoU >= ``REDETECT_AGREE``)
        returns the tracker's own box: found there.

        The map covers the whole frame: where that would exceed ``max_map_side`` at the searched size's crop
        scale, it is read at a coarser scale (a larger reference box), so that no box reads outside it."""
        cfg, s = self.config, self.state
        width, height = s.image_size
        sizes = [np.minimum(size * k, [width, height])
                 for k in sorted({1.0, cfg.redetect_scale_step, 1 / cfg.redetect_scale_step})]
        grid = np.concatenate([self._grid(w, h) for w, h in sizes])
        reference = np.r_[0.0, 0.0, np.minimum(size, [width, height])]  # the map's scale: the searched size
        features = frame_features(self.backbone, image, cfg.candidate_features, cfg.img_size, cfg.padding,
                                  reference, grid, cfg.max_map_side, fit=True)
        head = self.learner.scoring_head
        seeds = grid[np.argsort(-head.positive_score(features.extract(grid)).numpy())[:REDETECT_SEEDS]]
        per_seed = max(cfg.n_samples // len(seeds), cfg.top_k)
        generator = SampleGenerator("gaussian", s.image_size, cfg.trans, cfg.scale)
        rng = np.random.default_rng([cfg.seed, s.frame_index])  # not the tracker's: a search draws nothing from it
        candidates = np.stack([generator.draw(seed, per_seed, rng) for seed in seeds])  # seeds x per_seed x 4
        feats = features.extract(candidates.reshape(-1, 4))
        scores = head.positive_score(feats).numpy().reshape(len(seeds), per_seed)
        top = np.argsort(-scores, axis=1)[:, :cfg.top_k]
        estimates = np.take_along_axis(scores, top, axis=1).mean(axis=1)
        best = int(np.argmax(estimates))
        search = Search(s.frame_index, candidates[best, top[best]].mean(axis=0), float(estimates[best]),
                        self._likeness(feats[best * per_seed + top[best]]), s.lost_likeness)
        s.redetections.append(search)
        candidate, s.candidate = s.candidate, None
        if (search.score <= max(cfg.redetect_threshold, cfg.redetect_ratio * s.lost_typical)
                or search.likeness < cfg.redetect_likeness * s.lost_likeness):
            return None
        # the box stage's head, where there is one and the bar or the flag asks for it
        asks = s.box_estimator is not None and bool(cfg.redetect_head_min or cfg.lost_head_agreement)
        reading = s.box_estimator.verify(image, search.box) if asks else None
        if reading is not None and reading.score < cfg.redetect_head_min:
            return None
        box = search.box
        if iou(search.box[None], s.target[None])[0] >= REDETECT_AGREE:
            box = s.target  # where the tracker already is: its own, finer box stands, vouched for
        elif cfg.redetect_confirm and (candidate is None
                                       or iou(candidate[None], search.box[None])[0] < REDETECT_AGREE):
            s.candidate = search.box
            return None
        return box, search.score, self._agreement_of(reading, box)

    def _likeness(self, feats: torch.Tensor) -> float:
        """The cosine similarity of the mean of ``feats`` (a box's top candidates) to the given target's."""
        return float(torch.nn.functional.normalize(feats.float().mean(0), dim=0) @ self.state.template)

    def _grid(self, w: float, h: float) -> np.ndarray:
        """Boxes of w x h over the whole frame, half their smaller side apart, at most about ``REDETECT_BOXES``."""
        width, height = self.state.image_size
        # a lost box can shrink to a few pixels: a 1-pixel grid of a 640x360 frame held 2 GB of features
        step = max(0.5 * min(w, h), (width * height / REDETECT_BOXES) ** 0.5, 1.0)
        return np.array([[x, y, w, h] for y in np.arange(0.0, height - h + 1, step)
                         for x in np.arange(0.0, width - w + 1, step)])

    # ---------------------------------------------------------------- learning
    def _learn(self) -> int:
        """This frame's learning steps, run (inline) or started by the learner; how many."""
        share = self.state.scheduler.take()
        self.learner.end_frame(None if share is None else partial(self._steps, *share))
        return 0 if share is None else len(share[1])

    def _draw(self, features: FrameFeatures, generator: SampleGenerator, n: int,
              overlap: tuple[float, float]) -> np.ndarray:
        return generator.draw_in_overlap(self.state.target, n, overlap, self.state.rng, accept=features.contains)

    def _collect(self, features: FrameFeatures) -> None:
        cfg = self.config
        pos = self._draw(features, SampleGenerator("gaussian", self.state.image_size, cfg.trans_pos, cfg.scale_pos),
                         cfg.n_pos_update, (cfg.overlap_pos_update, 1.0))
        neg = self._draw(features, SampleGenerator("uniform", self.state.image_size, cfg.trans_neg, cfg.scale_neg),
                         cfg.n_neg_update, (0.0, cfg.overlap_neg_update))
        self.state.pos_memory.append(features.extract(pos))
        self.state.neg_memory.append(features.extract(neg))

    def _request_update(self, short_term: bool, urgent: bool = False) -> None:
        """MDNet's short-term update (the last ``n_frames_short`` frames' positives) or long-term one (all kept)."""
        cfg, s = self.config, self.state
        pos_frames = list(s.pos_memory)[-cfg.n_frames_short:] if short_term else list(s.pos_memory)
        job = self._job(SampleSet(pos_frames), SampleSet(list(s.neg_memory)), cfg.maxiter_update, cfg.lr_update, urgent)
        if job is not None:
            self.state.scheduler.request(job)

    @property
    def _negative_candidates(self) -> int:
        """Negatives drawn per step: the batch's, or the larger set the hardest are mined from."""
        cfg = self.config
        return cfg.batch_neg_cand if cfg.hard_negative_mining else cfg.batch_neg

    def _job(self, pos: SampleSet, neg: SampleSet, iterations: int, lr: float,
             urgent: bool = False) -> UpdateJob | None:
        """MDNet's training loop, drawn now: fixed-size minibatches walking through shuffled samples."""
        if len(pos) == 0 or len(neg) == 0:
            return None
        return UpdateJob(pos, neg, self._epoch_order(len(pos), self.config.batch_pos * iterations),
                         self._epoch_order(len(neg), self._negative_candidates * iterations), iterations, lr, urgent)

    def _step(self, job: UpdateJob, it: int) -> None:
        """The job's minibatch ``it``."""
        self._steps(job, range(it, it + 1))

    def _steps(self, job: UpdateJob, iterations: range) -> None:
        """The job's minibatches ``iterations`` (consecutive), each one's negatives the hardest of a larger
        candidate set. Their rows are gathered at once: a gather walks every frame's chunk of the memories
        (about 1 ms for 100 frames), whatever the number of rows."""
        cfg = self.config
        n_pos, n_cand = cfg.batch_pos, self._negative_candidates
        first, last = iterations.start, iterations.stop
        pos = job.pos[job.pos_order[first * n_pos:last * n_pos]]
        neg = job.neg[job.neg_order[first * n_cand:last * n_cand]]
        for i in range(len(iterations)):
            batch_pos, batch_neg = pos[i * n_pos:(i + 1) * n_pos], neg[i * n_cand:(i + 1) * n_cand]
            if n_cand > cfg.batch_neg:  # hard negative mining: the negatives scored most target-like
                scores = self.head.positive_score(batch_neg, dtype=self.updater.dtype)
                batch_neg = batch_neg[torch.topk(scores, cfg.batch_neg).indices]
            self.updater.step(torch.cat([batch_pos, batch_neg]), self.labels, job.lr)

    def _epoch_order(self, n: int, total: int) -> torch.Tensor:
        """Indices walking through shuffled copies of range(n) until ``total`` are drawn."""
        repeats = -(-total // n)
        return torch.from_numpy(np.concatenate([self.state.rng.permutation(n) for _ in range(repeats)])[:total])
