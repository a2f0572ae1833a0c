"""Lost and found (not MDNet's): the lost flag a user reads, and the whole-frame search that finds a lost target.

MDNet only knows a failed frame (the target score under ``success_threshold``), after which it widens its search
about the last box. :class:`LostFlag` says when the target is gone: the box stage's offline head as the verifier,
where it has one, else the score's drop from the sequence's own typical score. :class:`Redetector` searches the
whole frame while the flag is up, and hands back a box only where the classifier, the likeness to the given
target and the head all agree. Learning follows MDNet's decision alone (results/absence/README.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple

import numpy as np
import torch

from tracker.backbones import Backbone
from tracker.box_estimation import BoxEstimator, agreement
from tracker.boxes import SampleGenerator, iou
from tracker.config_sections import CandidatesConfig, LostFlagConfig, NetworkConfig, RedetectionConfig
from tracker.features import FrameFeatures, frame_features
from tracker.nanotrack import HeadBox
from tracker.search_runner import SearchRunner

REDETECT_BOXES = 4096  # per size of the re-detection grid: bounds its features to 12 MB at 80 x 9 per box
REDETECT_RECORDS = 10_000
REDETECT_SEEDS = 5  # grid boxes a re-detection searches about, as the tracker searches a frame
REDETECT_CHUNK = 512  # grid boxes scored at once: 1.5 MB of features, where the whole grid held 40 MB at peak
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


class LostFlag:
    """Whether the target is lost, frame by frame, and what the target was like when the flag went up.

    Per frame: :meth:`judge` the classifier's score and the head's agreement (:meth:`head_agreement`),
    :meth:`judge_found` again where re-detection found the target, and :meth:`end_frame` with the frame's final
    score and flag."""

    def __init__(self, config: LostFlagConfig, success_threshold: float, min_iou: float, history: int) -> None:
        """``success_threshold``: MDNet's decision; ``min_iou``: how much the head's box must overlap ours to vouch
        for it; ``history``: how many frames' scores the typical score is the median of."""
        self.config = config
        self.success_threshold = success_threshold
        self.min_iou = min_iou
        self.recent_scores: deque[float] = deque(maxlen=history)  # every frame's, lost or not
        self.flagged_run = 0  # consecutive frames flagged, up to the last one
        self.since_found = 1 << 30  # frames since a re-detection: the flag's mean starts again there
        self.typical = 0.0  # the typical score when the flag was last raised: re-detection's reference
        self.size: np.ndarray | None = None  # the box's size then: a lost box drifts (a 26 x 24 biker's to 5 x 8)

    @property
    def asks_head(self) -> bool:
        """Whether the flag is the box stage's head's verdict (where there is a head)."""
        return bool(self.config.lost_head_agreement)

    def agreement(self, reading: HeadBox | None, box: np.ndarray) -> float | None:
        """How sure the head is that ``box`` holds the given target (:func:`agreement`); None without a reading
        or where the flag does not ask."""
        if reading is None or not self.asks_head:
            return None
        return agreement(reading, box, self.min_iou)

    def head_agreement(self, verifier: BoxEstimator | None, image: np.ndarray, box: np.ndarray,
                       estimated: bool) -> float | None:
        """How sure the box stage's offline head is that ``box`` holds the given target, reusing its reading where
        it ``estimated`` ``box``; None without a head, or where the flag does not ask."""
        if verifier is None or not self.asks_head:
            return None
        return self.agreement(verifier.last_reading() if estimated else verifier.verify(image, box), box)

    def judge(self, score: float, success: bool, head_agreement: float | None, size: np.ndarray) -> bool:
        """This frame's flag, from its target ``score``, MDNet's ``success`` and the head's agreement; where it
        goes up, the typical score and the box's ``size`` are kept for re-detection."""
        lost = self._flagged(score, success, head_agreement)
        if lost and not self.flagged_run:
            self.typical = typical_score(self.recent_scores, self.success_threshold)
            self.size = size.copy()
        return lost

    def judge_found(self, score: float, head_agreement: float | None) -> bool:
        """The flag again, on a re-detected box: the scores before it were of what was not the target."""
        self.since_found = 0
        return self._flagged(score, True, head_agreement)

    def end_frame(self, score: float, lost: bool) -> None:
        self.recent_scores.append(score)
        self.flagged_run = self.flagged_run + 1 if lost else 0
        self.since_found += 1

    def _flagged(self, score: float, success: bool, head_agreement: float | None) -> bool:
        """The head's agreement under ``lost_head_agreement`` where it has one, else MDNet's decision or the
        score's drop: the mean of the last ``lost_window`` frames' scores (none before a re-detection), this one's
        the last, at or under ``lost_ratio`` times the median of the previous frames' successful scores."""
        if head_agreement is not None:
            return head_agreement < self.config.lost_head_agreement
        history = list(self.recent_scores)
        recent = history[max(len(history) - self.config.lost_window + 1, len(history) - self.since_found, 0):]
        return not success or score_dropped(history, recent + [score], self.config.lost_ratio, self.success_threshold)


class Search(NamedTuple):
    """One whole-frame search for a lost target: the frame, its best box, that box's score, its likeness (the
    cosine similarity of its trunk features to the first frame's positives' mean: the target as it was given),
    and the target's typical likeness when the flag was raised, what that is measured against."""

    frame: int
    box: np.ndarray
    score: float
    likeness: float
    typical_likeness: float


class Found(NamedTuple):
    """A re-detection taken: the box, its score and the head's agreement there (None without a head)."""

    box: np.ndarray
    score: float
    head_agreement: float | None


class Redetector:
    """The whole-frame search, on every ``redetect_interval``-th consecutive frame flagged lost (and on the
    frame after an unconfirmed find, with ``redetect_confirm``), read off one shared map, run where its runner
    runs it (``redetect_runner``, tracker/search_runner.py).

    It reads boxes as the classifier does (``network``) and refines them as the tracker's own search does
    (``candidates``); ``seed`` with the frame's index seeds that search. ``score`` scores trunk features as the
    classifier does now; ``template`` is the first frame's positives' mean trunk features (unit length);
    ``verifier`` the box stage, whose head (where it has one) must vouch too; ``history`` is the flag's;
    ``freeze_score`` returns a copy of ``score`` as it is now, which a search run later scores with."""

    def __init__(self, config: RedetectionConfig, network: NetworkConfig, candidates: CandidatesConfig, seed: int,
                 backbone: Backbone, score: Callable[[torch.Tensor], torch.Tensor], image_size: tuple[int, int],
                 template: torch.Tensor, verifier: BoxEstimator | None, history: int,
                 freeze_score: Callable[[], Callable[[torch.Tensor], torch.Tensor]] | None = None) -> None:
        self.config, self.network, self.candidates, self.seed = config, network, candidates, seed
        self.backbone, self.score = backbone, score
        self.freeze_score = freeze_score or (lambda: score)  # ``score`` as it is now, for a search run later
        self.runner: SearchRunner[Search] | None = (None if config.redetect_runner == "inline" else
                                                    SearchRunner(config.redetect_runner, config.redetect_delay))
        self.image_size, self.template, self.verifier = image_size, template, verifier
        self.about = SampleGenerator("gaussian", image_size, candidates.trans, candidates.scale)  # the refinement's
        self.recent_likeness: deque[float] = deque(maxlen=history)  # each frame's box's
        self.typical_likeness = 0.0  # the target's, when the flag was raised
        self.candidate: np.ndarray | None = None  # a find waiting for the next frame's search to confirm it
        # the searches, taken or not (the last REDETECT_RECORDS: a long video cannot grow it without end)
        self.searches: deque[Search] = deque(maxlen=REDETECT_RECORDS)

    @property
    def enabled(self) -> bool:
        return bool(self.config.redetect_interval)

    def due(self, lost: bool, flag: LostFlag) -> bool:
        """Whether this frame searches, given its flag (before the flag's :meth:`LostFlag.end_frame`)."""
        if not self.enabled:
            return False
        if lost and not flag.flagged_run:
            self.typical_likeness = typical_score(flag.recent_scores, flag.success_threshold, self.recent_likeness)
        if not lost:
            self.candidate = None
        busy = self.runner is not None and self.runner.busy  # one search at a time
        return lost and not busy and (self.candidate is not None
                                      or (flag.flagged_run + 1) % self.config.redetect_interval == 0)

    def end_frame(self, top_features: torch.Tensor) -> None:
        """The frame's box's likeness (``top_features``: its top candidates') joins the record."""
        if self.enabled:
            self.recent_likeness.append(self.likeness(top_features))

    def likeness(self, feats: torch.Tensor) -> float:
        """The cosine similarity of the mean of ``feats`` (a box's top candidates) to the given target's."""
        return float(torch.nn.functional.normalize(feats.float().mean(0), dim=0) @ self.template)

    def frame(self, image: np.ndarray, frame_index: int, target: np.ndarray, lost: bool,
              flag: LostFlag) -> Found | None:
        """This frame's part in re-detection, given its flag: where a search is :meth:`due`, with the ``inline``
        runner the :meth:`search` now, else one started beside the tracker; where one started earlier lands, its
        find :meth:`check` ed on this frame and judged."""
        if self.runner is not None and not lost:
            self.runner.drop()  # the tracker has the target again: a search still out is not needed
        if self.due(lost, flag):
            if self.runner is None:
                return self.search(image, frame_index, target, flag)
            # on copies of the frame and of the classifier's weights: the tracker goes on changing both
            image_then, size, score = image.copy(), flag.size.copy(), self.freeze_score()
            self.runner.start(frame_index, lambda: self.look(image_then, frame_index, size, score))
        landed = self.runner.landed(frame_index) if self.runner is not None else None
        if landed is None:
            return None
        return self.accept(self.check(landed, image, frame_index), image, target, flag)

    def frame_threads(self) -> AbstractContextManager[None]:
        """The tracker's frame, run single-threaded while a search is out (:meth:`SearchRunner.frame`)."""
        return self.runner.frame() if self.runner is not None else nullcontext()

    def search(self, image: np.ndarray, frame_index: int, target: np.ndarray, flag: LostFlag) -> Found | None:
        """A search of the whole frame now, judged now (what the ``inline`` runner does): :meth:`look`, then
        :meth:`accept`."""
        return self.accept(self.look(image, frame_index, flag.size, self.score), image, target, flag)

    def look(self, image: np.ndarray, frame_index: int, size: np.ndarray,
             score: Callable[[torch.Tensor], torch.Tensor]) -> Search:
        """The best box of a whole-frame search for a target of ``size``, scored by ``score``: boxes of that size
        (and ``redetect_scale_step`` times larger and smaller) on grids half their smaller side apart are scored
        by the classifier, and about the ``REDETECT_SEEDS`` best the tracker's own search runs (Gaussian
        candidates, the mean of the ``top_k`` best): a grid half a box apart can meet a target at IoU 0.4, which
        the classifier, taught on positives at IoU >= 0.7, scores as background. Reads nothing that the tracker
        changes meanwhile (the runner may run it on a worker).

        The map covers the whole frame: where that would exceed ``redetect_map_side`` (or ``max_map_side``) at the
        searched size's crop scale, it is read at a coarser scale (a larger reference box), so that no box reads
        outside it. The grid is scored ``REDETECT_CHUNK`` boxes at a time: its features are never all held."""
        net, candidates, rule = self.network, self.candidates, self.config
        width, height = self.image_size
        sizes = [np.minimum(size * k, [width, height])
                 for k in sorted({1.0, rule.redetect_scale_step, 1 / rule.redetect_scale_step})]
        grid = np.concatenate([self.grid(w, h) for w, h in sizes])
        reference = np.r_[0.0, 0.0, np.minimum(size, [width, height])]  # the map's scale: the searched size
        features = frame_features(self.backbone, image, net.candidate_features, net.img_size, net.padding,
                                  reference, grid, min(net.max_map_side, rule.redetect_map_side), fit=True)
        grid_scores = np.concatenate([score(features.extract(grid[i:i + REDETECT_CHUNK])).numpy()
                                      for i in range(0, len(grid), REDETECT_CHUNK)])
        seeds = grid[np.argsort(-grid_scores)[:REDETECT_SEEDS]]
        per_seed = max(candidates.n_samples // len(seeds), candidates.top_k)
        rng = np.random.default_rng([self.seed, frame_index])  # not the tracker's: a search draws nothing
        return self._best(features, np.stack([self._about(seed, per_seed, rng) for seed in seeds]), frame_index,
                          score)

    def check(self, search: Search, image: np.ndarray, frame_index: int) -> Search:
        """A search's find checked on a later frame, ``image``: the tracker's own search about the found box
        there (``n_samples`` Gaussian candidates, the mean of the ``top_k`` best), scored by the classifier now."""
        candidates = self.candidates
        rng = np.random.default_rng([self.seed, frame_index, search.frame])
        boxes = self._about(search.box, candidates.n_samples, rng)
        net = self.network
        features = frame_features(self.backbone, image, net.candidate_features, net.img_size, net.padding,
                                  search.box, boxes, net.max_map_side)
        return self._best(features, boxes[None], frame_index, self.score)

    def _about(self, box: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` Gaussian candidates about ``box``, as the tracker draws them."""
        return self.about.draw(box, n, rng)

    def _best(self, features: FrameFeatures, boxes: np.ndarray, frame_index: int,
              score: Callable[[torch.Tensor], torch.Tensor]) -> Search:
        """Of ``boxes`` (groups x n x 4), the group whose ``top_k`` best score highest on average: their mean box."""
        groups, per_group = boxes.shape[:2]
        feats = features.extract(boxes.reshape(-1, 4))
        scores = score(feats).numpy().reshape(groups, per_group)
        top = np.argsort(-scores, axis=1)[:, :self.candidates.top_k]
        estimates = np.take_along_axis(scores, top, axis=1).mean(axis=1)
        best = int(np.argmax(estimates))
        return Search(frame_index, boxes[best, top[best]].mean(axis=0), float(estimates[best]),
                      self.likeness(feats[best * per_group + top[best]]), self.typical_likeness)

    def accept(self, search: Search, image: np.ndarray, target: np.ndarray, flag: LostFlag) -> Found | None:
        """A search's best box (kept in :attr:`searches`) taken, or None.

        Taken if it clears both ``redetect_threshold`` and ``redetect_ratio`` times the typical score when the
        target was flagged lost (a target's score depends on the target: small ones score 1-2, large ones 5-8),
        its likeness to the given target is at least ``redetect_likeness`` times the target's typical likeness
        then, the verifier puts the target there (on ``image``) with probability at least ``redetect_head_min``,
        and, with ``redetect_confirm``, the previous search found it too. A box on the tracker's own ``target``
        (IoU >= ``REDETECT_AGREE``) returns the tracker's own box: found there."""
        rule = self.config
        self.searches.append(search)
        candidate, self.candidate = self.candidate, None
        if (search.score <= max(rule.redetect_threshold, rule.redetect_ratio * flag.typical)
                or search.likeness < rule.redetect_likeness * self.typical_likeness):
            return None
        # the box stage's head, where there is one and the bar or the flag asks for it
        asks = self.verifier is not None and bool(rule.redetect_head_min or flag.asks_head)
        reading = self.verifier.verify(image, search.box) if asks else None
        if reading is not None and reading.score < rule.redetect_head_min:
            return None
        box = search.box
        if iou(search.box[None], target[None])[0] >= REDETECT_AGREE:
            box = target  # where the tracker already is: its own, finer box stands, vouched for
        elif rule.redetect_confirm and (candidate is None
                                        or iou(candidate[None], search.box[None])[0] < REDETECT_AGREE):
            self.candidate = search.box
            return None
        return Found(box, search.score, flag.agreement(reading, box))

    def close(self) -> None:
        """Finish any search still out and stop the runner's worker."""
        if self.runner is not None:
            self.runner.close()

    def grid(self, w: float, h: float) -> np.ndarray:
        """Boxes of w x h over the whole frame, half their smaller side apart, at most about ``REDETECT_BOXES``."""
        width, height = self.image_size
        # a lost box can shrink to a few pixels: a 1-pixel grid of a 640x360 frame held 2 GB of features
        step = max(0.5 * min(w, h), (width * height / REDETECT_BOXES) ** 0.5, 1.0)
        return np.array([[x, y, w, h] for y in np.arange(0.0, height - h + 1, step)
                         for x in np.arange(0.0, width - w + 1, step)])
