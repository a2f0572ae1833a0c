"""The MDNet tracker: first-frame training, candidate scoring, failure handling, online updates.

How fc4-fc6 learn is delegated to a :class:`~tracker.updaters.Trainer` and its rule; this module decides what
they learn from (sample memories, hard negatives, when to update).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from tracker.allocator import release_free_memory
from tracker.backbones import Backbone
from tracker.box_estimation import BoxEstimator, make_box_estimator
from tracker.boxes import SampleGenerator, about_centres, centres, check_box
from tracker.config import TrackerConfig
from tracker.errors import TrackerError
from tracker.features import FrameFeatures, feature_dim, frame_features
from tracker.head import Head
from tracker.learner import Learner
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


def bounded_scale_change(box: np.ndarray, previous: np.ndarray, max_scale: float) -> np.ndarray:
    """``box`` with its width and height each kept within ``max_scale`` times ``previous``'s, about its centre."""
    return about_centres(centres(box), np.clip(box[2:], previous[2:] / max_scale, previous[2:] * max_scale))


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
        self.timer = PhaseTimer()
        self.failed_frames = 0  # frames scored as lost since init: each one costs a short-term update
        self.skipped_steps: list[str] = []  # steps that could not run on this sequence, with the reason
        self.image_size: tuple[int, int] | None = None  # (width, height) of the sequence's frames; None before init

    # ---------------------------------------------------------------- first frame
    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        cfg = self.config
        image = as_rgb(image)
        box = check_box(box, image.shape)
        self.learner.start_sequence()
        self.rng = np.random.default_rng(cfg.seed)
        self.torch_gen = torch.Generator().manual_seed(cfg.seed)
        self.image_size = (image.shape[1], image.shape[0])
        self.head.reset(self.torch_gen, self.fc_state)
        self.updater.start(self.head, self.torch_gen)
        self.target = box.copy()
        self.frame_index = 0
        self.trans = cfg.trans
        # everything measured per sequence starts again (the updater's diagnostics in start())
        self.timer = PhaseTimer()
        self.failed_frames = 0
        self.lost_run = 0  # consecutive frames scored as lost, up to this one
        self.skipped_steps = []
        self.scheduler = UpdateScheduler(cfg.update_schedule, cfg.update_steps_per_frame, cfg.frame_budget_ms)
        self.labels = torch.cat([torch.ones(cfg.batch_pos, dtype=torch.long),
                                 torch.zeros(cfg.batch_neg, dtype=torch.long)])

        whole = np.array([0.0, 0.0, *self.image_size])
        with self.timer("features"):
            features = frame_features(self.backbone, image, cfg.sample_features, cfg.img_size, cfg.padding,
                                      box, np.stack([box, whole]), cfg.max_map_side)
            pos = self._draw(features, SampleGenerator("gaussian", self.image_size, cfg.trans_pos, cfg.scale_pos),
                             cfg.n_pos_init, (cfg.overlap_pos_init, 1.0))
            half = cfg.n_neg_init // 2
            neg = np.concatenate([
                self._draw(features, SampleGenerator("uniform", self.image_size, cfg.trans_neg_init,
                                                     cfg.scale_neg_init), half, (0.0, cfg.overlap_neg_init)),
                self._draw(features, SampleGenerator("whole", self.image_size, 0.0, cfg.scale_neg_init),
                           cfg.n_neg_init - half, (0.0, cfg.overlap_neg_init)),
            ])
            neg = neg[self.rng.permutation(len(neg))]
            pos_feats, neg_feats = features.extract(pos), features.extract(neg)
        self.box_estimator: BoxEstimator | None = None
        if cfg.bbreg:
            with self.timer("bbreg"):
                # drawn the same way for every estimator, so that the classifier's samples do not depend on it
                samples = self._draw(features, SampleGenerator("uniform", self.image_size, cfg.trans_bbreg,
                                                               cfg.scale_bbreg, cfg.aspect_bbreg),
                                     cfg.n_bbreg, (cfg.overlap_bbreg, 1.0))
                if len(samples):
                    self.box_estimator = make_box_estimator(cfg, self.backbone)
                    self.box_estimator.fit(image, box, samples, features)
                else:
                    self.skipped_steps.append(f"bbreg: no sample overlaps the initial box by {cfg.overlap_bbreg}")
        with self.timer("updates"):
            # the first frame trains in full, whatever the schedule: there is nothing to track without it
            job = self._job(SampleSet([pos_feats]), SampleSet([neg_feats]), cfg.maxiter_init, cfg.lr_init, urgent=True)
            if job is not None:
                self.scheduler.request(job)
                self.scheduler.run(self._step, self.scheduler.clock())
        self.learner.go_live_now()
        self.pos_memory: deque[torch.Tensor] = deque([pos_feats[:cfg.n_pos_update]], maxlen=cfg.n_frames_long)
        self.neg_memory: deque[torch.Tensor] = deque([neg_feats[:cfg.n_neg_update]], maxlen=cfg.n_frames_short)
        release_free_memory()  # the first frame's map and its 5,500 samples are gone: hand their pages back

    # ---------------------------------------------------------------- each frame
    def update(self, image: np.ndarray) -> np.ndarray:
        """got10k's call: the box alone."""
        return self.track_frame(image).box

    def track_frame(self, image: np.ndarray) -> FrameResult:
        """The next frame: box, target score (mean logit of the top candidates) and whether it is lost."""
        cfg = self.config
        if self.image_size is None:
            raise TrackerError("a frame to track before init(image, box): start the tracker on a first frame")
        frame_start = self.scheduler.clock()
        image = as_rgb(image)
        if (image.shape[1], image.shape[0]) != self.image_size:
            raise TrackerError(f"a frame of {image.shape[1]}x{image.shape[0]} pixels in a sequence that started at "
                               f"{self.image_size[0]}x{self.image_size[1]}: every frame of a sequence must have one "
                               "size (init() starts a new sequence)")
        self.frame_index += 1
        candidates = SampleGenerator("gaussian", self.image_size, self.trans, cfg.scale).draw(
            self.target, cfg.n_samples, self.rng)
        with self.timer("features"):
            def reader(mode: str) -> FrameFeatures:
                return frame_features(self.backbone, image, mode, cfg.img_size, cfg.padding, self.target,
                                      candidates, cfg.max_map_side)

            features = reader(cfg.sample_features)
            candidate_reader = features if cfg.candidate_features == cfg.sample_features else reader(
                cfg.candidate_features)
            candidate_feats = candidate_reader.extract(candidates)
        with self.timer("scoring"):
            scores = self.learner.scoring_head.positive_score(candidate_feats).numpy()
            top = np.argsort(-scores)[:cfg.top_k]
            score = float(scores[top].mean())
            previous = self.target
            self.target = candidates[top].mean(axis=0)
            success = score > cfg.success_threshold
        # a failed frame widens the search (MDNet's expand_trans); success resets it
        self.trans = cfg.trans if success else min(self.trans * 1.1, cfg.trans_limit)
        result = self.target.copy()
        if success and score > cfg.box_min_score and self.box_estimator is not None:
            with self.timer("bbreg"):
                result = self.box_estimator.estimate(image, candidate_reader, candidates[top], candidate_feats[top],
                                                     self.learner.scoring_head, score)
            if cfg.box_feedback and score > cfg.box_feedback_min_score:
                fed_back = bounded_scale_change(result, previous, cfg.box_feedback_max_scale)
                if cfg.box_feedback_size_only:  # about the classifier's own centre
                    fed_back = about_centres(centres(self.target), fed_back[2:])
                self.target = fed_back
        elif self.box_estimator is not None:
            result = self.box_estimator.hold(result)
        with self.timer("updates"):
            self.lost_run = 0 if success else self.lost_run + 1
            if not success:
                self.failed_frames += 1
                if (self.lost_run - 1) % cfg.lost_update_interval == 0:
                    self._request_update(short_term=True, urgent=self.lost_run == 1 and cfg.update_first_lost_in_full)
            else:
                self._collect(features)
                if self.frame_index % cfg.long_interval == 0:
                    self._request_update(short_term=False)
            steps = self._learn(frame_start)
        if self.frame_index % cfg.long_interval == 0:
            release_free_memory()  # ~5 ms: keeps the heap near what is live (tracker/allocator.py)
        return FrameResult(result, score, not success, steps)

    def sequence_stats(self) -> SequenceStats:
        return SequenceStats(self.failed_frames, self.timer.as_dict())

    def close(self) -> None:
        """Stop the learner's worker thread, if any (it also stops with the process)."""
        self.learner.close()

    # ---------------------------------------------------------------- learning
    def _learn(self, frame_start: float) -> int:
        """This frame's learning steps, run or started by the learner; how many."""
        if self.learner.kind == "inline":
            return self.scheduler.run(self._step, frame_start)
        share = self.scheduler.take()
        if share is None:
            self.learner.end_frame(None)
            return 0
        job, iterations = share

        def steps() -> None:
            for it in iterations:
                self._step(job, it)

        self.learner.end_frame(steps)
        return len(iterations)

    def _draw(self, features: FrameFeatures, generator: SampleGenerator, n: int,
              overlap: tuple[float, float]) -> np.ndarray:
        return generator.draw_in_overlap(self.target, n, overlap, self.rng, accept=features.contains)

    def _collect(self, features: FrameFeatures) -> None:
        cfg = self.config
        pos = self._draw(features, SampleGenerator("gaussian", self.image_size, cfg.trans_pos, cfg.scale_pos),
                         cfg.n_pos_update, (cfg.overlap_pos_update, 1.0))
        neg = self._draw(features, SampleGenerator("uniform", self.image_size, cfg.trans_neg, cfg.scale_neg),
                         cfg.n_neg_update, (0.0, cfg.overlap_neg_update))
        self.pos_memory.append(features.extract(pos))
        self.neg_memory.append(features.extract(neg))

    def _request_update(self, short_term: bool, urgent: bool = False) -> None:
        """MDNet's short-term update (the last ``n_frames_short`` frames' positives) or long-term one (all kept)."""
        cfg = self.config
        pos_frames = list(self.pos_memory)[-cfg.n_frames_short:] if short_term else list(self.pos_memory)
        job = self._job(SampleSet(pos_frames), SampleSet(list(self.neg_memory)), cfg.maxiter_update, cfg.lr_update,
                        urgent)
        if job is not None:
            self.scheduler.request(job)

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
        """The job's minibatch ``it``, its negatives the hardest of a larger candidate set."""
        cfg = self.config
        n_cand = self._negative_candidates
        batch_pos = job.pos[job.pos_order[it * cfg.batch_pos:(it + 1) * cfg.batch_pos]]
        batch_neg = job.neg[job.neg_order[it * n_cand:(it + 1) * n_cand]]
        if n_cand > cfg.batch_neg:  # hard negative mining: the negatives scored most target-like
            hardest = torch.topk(self.head.positive_score(batch_neg), cfg.batch_neg).indices
            batch_neg = batch_neg[hardest]
        self.updater.step(torch.cat([batch_pos, batch_neg]), self.labels, job.lr)

    def _epoch_order(self, n: int, total: int) -> torch.Tensor:
        """Indices walking through shuffled copies of range(n) until ``total`` are drawn."""
        repeats = -(-total // n)
        return torch.from_numpy(np.concatenate([self.rng.permutation(n) for _ in range(repeats)])[:total])
