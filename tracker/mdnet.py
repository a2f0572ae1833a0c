"""The MDNet tracker: first-frame training, candidate scoring, failure handling, online updates.

How fc4-fc6 learn is delegated to a :class:`~tracker.updaters.Trainer` and its rule, what they learn from to
:mod:`tracker.sample_memory`, when to :mod:`tracker.update_schedule`, the lost flag and re-detection to
:mod:`tracker.lost_and_found` and the box's size and place to :mod:`tracker.box_estimation`; this module walks a
frame through them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from tracker.allocator import release_free_memory
from tracker.backbones import Backbone
from tracker.box_estimation import BoxEstimator, make_box_estimator
from tracker.boxes import SampleGenerator, check_box
from tracker.config import TrackerConfig
from tracker.errors import TrackerError
from tracker.features import FrameFeatures, feature_dim, frame_features
from tracker.frames import as_rgb
from tracker.head import Head
from tracker.learner import Learner
from tracker.lost_and_found import LostFlag, Redetector
from tracker.sample_memory import Minibatches, SampleMemory, negatives_about
from tracker.timing import PhaseTimer
from tracker.tracking import FrameResult, Proposal, SequenceStats
from tracker.update_schedule import SampleSet, UpdateJob, UpdateScheduler
from tracker.updaters import Trainer, make_updater

FIRST_FRAME_OTHERS = 10  # times negatives_per_other about each other target on the first frame (as 500 to 50 positives)


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
    skipped_steps: list[str] = field(default_factory=list)  # steps that could not run here, with the reason
    box_estimator: BoxEstimator | None = None
    memory: SampleMemory | None = None  # the samples learnt from
    lost_flag: LostFlag | None = None  # the flag a user reads (tracker/lost_and_found.py)
    redetector: Redetector | None = None


class MDNetTracker:
    """got10k-shaped tracker: ``init(image, box)`` then ``update(image) -> box`` per frame.

    Images are RGB uint8 arrays; boxes are (x, y, w, h) in pixels.
    """

    def __init__(self, config: TrackerConfig, backbone: Backbone,
                 fc_state: dict[str, torch.Tensor] | None = None, updater: Trainer | None = None) -> None:
        self.config = config
        self.backbone = backbone.eval()
        self.fc_state = fc_state
        self.head = Head(feature_dim(backbone), config.network.fc_width, config.network.dropout)
        self.updater = updater if updater is not None else make_updater(config.learning)
        # the head the rule trains is self.head; candidates are scored by self.learner.scoring_head
        self.learner = Learner(config.updates.learner, config.updates.learner_delay, self.head)
        self.minibatches = Minibatches(config.updates)
        self.state: SequenceState | None = None  # made by init: everything about the sequence being tracked

    # ---------------------------------------------------------------- first frame
    def init(self, image: np.ndarray, box: np.ndarray, others: np.ndarray | None = None) -> None:
        """Start on the first frame's ``box``; ``others``: other targets' boxes there, learnt as negatives."""
        cfg = self.config
        net, smp, upd, box_cfg = cfg.network, cfg.samples, cfg.updates, cfg.box
        image = as_rgb(image)
        box = check_box(box, image.shape)
        self._close_search()  # a search of the last sequence still out is finished and dropped
        self.learner.start_sequence()
        self.state = s = SequenceState(
            rng=np.random.default_rng(cfg.seed), torch_gen=torch.Generator().manual_seed(cfg.seed),
            image_size=(image.shape[1], image.shape[0]), target=box.copy(), trans=cfg.candidates.trans,
            scheduler=UpdateScheduler(upd.update_schedule, upd.update_steps_per_frame))
        self.head.reset(s.torch_gen, self.fc_state)
        self.updater.start(self.head, s.torch_gen)  # the updater's diagnostics start again there

        whole = np.array([0.0, 0.0, *s.image_size])
        with s.timer("features"):
            features = frame_features(self.backbone, image, net.sample_features, net.img_size, net.padding, box,
                                      np.stack([box, whole]), net.max_map_side)
            pos = self._draw(features, SampleGenerator("gaussian", s.image_size, smp.trans_pos, smp.scale_pos),
                             smp.n_pos_init, (smp.overlap_pos_init, 1.0))
            half = smp.n_neg_init // 2
            neg = np.concatenate([
                self._draw(features, SampleGenerator("uniform", s.image_size, smp.trans_neg_init, smp.scale_neg_init),
                           half, (0.0, smp.overlap_neg_init)),
                self._draw(features, SampleGenerator("whole", s.image_size, 0.0, smp.scale_neg_init),
                           smp.n_neg_init - half, (0.0, smp.overlap_neg_init)),
            ])
            about_others = negatives_about(others, box, smp, FIRST_FRAME_OTHERS * smp.negatives_per_other,
                                           s.image_size, s.rng, features.contains)
            neg = np.concatenate([neg, about_others])
            neg = neg[s.rng.permutation(len(neg))]
            pos_feats, neg_feats = features.extract(pos), features.extract(neg)
            template = torch.nn.functional.normalize(pos_feats.float().mean(0), dim=0)
        if box_cfg.bbreg:
            with s.timer("bbreg"):
                # drawn the same way for every estimator, so that the classifier's samples do not depend on it
                samples = self._draw(features, SampleGenerator("uniform", s.image_size, box_cfg.trans_bbreg,
                                                               box_cfg.scale_bbreg, box_cfg.aspect_bbreg),
                                     box_cfg.n_bbreg, (box_cfg.overlap_bbreg, 1.0))
                if len(samples):
                    s.box_estimator = make_box_estimator(box_cfg, net, self.backbone, self._score)
                    s.box_estimator.fit(image, box, samples, features)
                else:
                    s.skipped_steps.append(f"bbreg: no sample overlaps the initial box by {box_cfg.overlap_bbreg}")
        with s.timer("updates"):
            # the first frame trains in full, whatever the schedule: there is nothing to track without it
            job = self.minibatches.job(SampleSet([pos_feats]), SampleSet([neg_feats]), upd.maxiter_init,
                                       upd.lr_init, s.rng, first_share=upd.maxiter_init)
            if job is not None:
                s.scheduler.request(job)
                s.scheduler.run(self._step)
        self.learner.go_live_now()
        s.memory = SampleMemory(smp, pos_feats, neg_feats)
        s.lost_flag = LostFlag(cfg.lost_flag, cfg.candidates.success_threshold, box_cfg.siamese_min_iou,
                               smp.n_frames_long)
        s.redetector = Redetector(cfg.redetection, net, cfg.candidates, cfg.seed, self.backbone, self._score,
                                  s.image_size, template, s.box_estimator, smp.n_frames_long,
                                  lambda: copy.deepcopy(self.learner.scoring_head).positive_score)
        release_free_memory()  # the first frame's map and its 5,500 samples are gone: hand their pages back

    # ---------------------------------------------------------------- each frame
    def update(self, image: np.ndarray) -> np.ndarray:
        """got10k's call: the box alone."""
        return self.track_frame(image).box

    def track_frame(self, image: np.ndarray) -> FrameResult:
        """The next frame: box, target score (mean logit of the top candidates) and whether it is lost."""
        return self.finish(self.propose(image))

    def propose(self, image: np.ndarray) -> Proposal:
        """The next frame checked and its candidates drawn about the last box: what its features must cover. A
        tracker of several targets reads one map for several proposals, then :meth:`finish` es each."""
        if self.state is None:
            raise TrackerError("a frame to track before init(image, box): start the tracker on a first frame")
        s, cand = self.state, self.config.candidates
        image = as_rgb(image)
        if (image.shape[1], image.shape[0]) != s.image_size:
            raise TrackerError(f"a frame of {image.shape[1]}x{image.shape[0]} pixels in a sequence that started at "
                               f"{s.image_size[0]}x{s.image_size[1]}: every frame of a sequence must have one "
                               "size (init() starts a new sequence)")
        s.frame_index += 1
        candidates = SampleGenerator("gaussian", s.image_size, s.trans, cand.scale).draw(s.target, cand.n_samples,
                                                                                          s.rng)
        return Proposal(image, candidates, s.target.copy())

    def finish(self, proposal: Proposal, features: FrameFeatures | None = None,
               others: np.ndarray | None = None) -> FrameResult:
        """The rest of the frame :meth:`propose` began: ``features``, a map covering its candidates (and samples
        about them) read in ``network.sample_features`` mode, where the caller read one; ``others``, the boxes of
        other targets, which this one learns as negatives."""
        with self.learner.frame(), self.state.redetector.frame_threads():  # work beside the tracker: a core each
            return self._finish(proposal, features, others)

    def _finish(self, proposal: Proposal, features: FrameFeatures | None, others: np.ndarray | None) -> FrameResult:
        cfg = self.config
        net, cand = cfg.network, cfg.candidates
        s = self.state
        image, candidates = proposal.image, proposal.candidates
        with s.timer("features"):
            def reader(mode: str) -> FrameFeatures:
                return frame_features(self.backbone, image, mode, net.img_size, net.padding, s.target, candidates,
                                      net.max_map_side)

            features = features if features is not None else reader(net.sample_features)
            candidate_reader = features if net.candidate_features == net.sample_features else reader(
                net.candidate_features)
            candidate_feats = candidate_reader.extract(candidates)
        with s.timer("scoring"):
            scores = self._score(candidate_feats).numpy()
            if cand.exact_top_k:
                scores = self._rescored(image, candidates, scores)
            top = np.argsort(-scores)[:cand.top_k]
            score = float(scores[top].mean())
            previous = s.target
            s.target = candidates[top].mean(axis=0)
            success = score > cand.success_threshold
        result = s.target.copy()
        estimated = success and s.box_estimator is not None
        if estimated:
            with s.timer("bbreg"):
                result = s.box_estimator.estimate(image, candidate_reader, candidates[top], candidate_feats[top])
        # the flag a user reads; learning follows MDNet's own decision (withholding the samples of frames flagged
        # only by the score's drop cost bdfa 0.040 success AUC on OTB: results/absence/README.md)
        with s.timer("bbreg"):  # the box stage's head, as the flag's verifier
            agreement = s.lost_flag.head_agreement(s.box_estimator, image, result, estimated)
            lost = s.lost_flag.judge(score, success, agreement, previous[2:])
        # searched on that flag, not MDNet's decision alone: in another scene the classifier often scores some
        # object over 0, a drop from the sequence's typical score all the same
        with s.timer("redetect"):
            found = s.redetector.frame(image, s.frame_index, s.target, lost, s.lost_flag)
        if found is not None:
            s.target, score, success = found.box, found.score, True
            lost = s.lost_flag.judge_found(score, found.head_agreement)
            result = s.target.copy()
            if s.box_estimator is not None:
                s.box_estimator.reported(result)
        # a failed frame widens the search (MDNet's expand_trans); success resets it
        s.trans = cand.trans if success else min(s.trans * 1.1, cand.trans_limit)
        if estimated and found is None and cfg.box.box_feedback:
            s.target = result.copy()
        s.lost_flag.end_frame(score, lost)  # every frame's score joins the record, lost or not
        s.redetector.end_frame(candidate_feats[top])
        with s.timer("updates"):
            s.lost_run = 0 if success else s.lost_run + 1
            if not success:
                s.failed_frames += 1
                self._request_update(short_term=True,
                                     first_share=cfg.updates.update_first_lost_steps if s.lost_run == 1 else 0)
            else:
                if found is None:  # a re-detected box is trusted for the search, not yet for learning
                    self._collect(features, others)
                if s.frame_index % cfg.updates.long_interval == 0:
                    self._request_update(short_term=False)
            steps = self._learn()
        if s.frame_index % cfg.updates.long_interval == 0:
            release_free_memory()  # ~5 ms: keeps the heap near what is live (tracker/allocator.py)
        return FrameResult(result, score, lost, steps)

    def _score(self, feats: torch.Tensor) -> torch.Tensor:
        """The classifier's target scores of trunk features, as it scores candidates now."""
        return self.learner.scoring_head.positive_score(feats)

    def _rescored(self, image: np.ndarray, candidates: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """``scores`` with the best ``exact_top_k`` candidates scored again off their own crops (MDNet's exact
        reading), the rest put under them."""
        best = np.argsort(-scores)[:self.config.candidates.exact_top_k]
        crops = FrameFeatures(self.backbone, image, self.config.network.img_size, self.config.network.padding)
        rescored = np.full_like(scores, -np.inf)
        rescored[best] = self._score(crops.extract(candidates[best])).numpy()
        return rescored

    def sequence_stats(self) -> SequenceStats:
        if self.state is None:
            return SequenceStats(0)
        return SequenceStats(self.state.failed_frames, self.state.timer.as_dict())

    def close(self) -> None:
        """Stop the learner's and the search's worker threads, if any (they also stop with the process)."""
        self._close_search()
        self.learner.close()

    def _close_search(self) -> None:
        if self.state is not None and self.state.redetector is not None:
            self.state.redetector.close()

    # ---------------------------------------------------------------- learning
    def _learn(self) -> int:
        """This frame's learning steps, run (inline) or started by the learner; how many."""
        share = self.state.scheduler.take()
        self.learner.end_frame(None if share is None else partial(self.minibatches.run, self.head, self.updater,
                                                                  *share))
        return 0 if share is None else len(share[1])

    def _step(self, job: UpdateJob, it: int) -> None:
        """The job's minibatch ``it``, now."""
        self.minibatches.run(self.head, self.updater, job, range(it, it + 1))

    def _draw(self, features: FrameFeatures, generator: SampleGenerator, n: int,
              overlap: tuple[float, float]) -> np.ndarray:
        return generator.draw_in_overlap(self.state.target, n, overlap, self.state.rng, accept=features.contains)

    def _collect(self, features: FrameFeatures, others: np.ndarray | None) -> None:
        smp, size = self.config.samples, self.state.image_size
        pos = self._draw(features, SampleGenerator("gaussian", size, smp.trans_pos, smp.scale_pos), smp.n_pos_update,
                         (smp.overlap_pos_update, 1.0))
        neg = self._draw(features, SampleGenerator("uniform", size, smp.trans_neg, smp.scale_neg), smp.n_neg_update,
                         (0.0, smp.overlap_neg_update))
        neg = np.concatenate([neg, negatives_about(others, self.state.target, smp, smp.negatives_per_other, size,
                                                   self.state.rng, features.contains)])
        self.state.memory.add(features.extract(pos), features.extract(neg))

    def _request_update(self, short_term: bool, first_share: int = 0) -> None:
        """MDNet's short-term update (the last ``n_frames_short`` frames' positives) or long-term one (all kept)."""
        upd = self.config.updates
        job = self.minibatches.job(*self.state.memory.samples(short_term), upd.maxiter_update, upd.lr_update,
                                   self.state.rng, first_share)
        if job is not None:
            self.state.scheduler.request(job)
