"""What fc4-fc6 learn from online: MDNet's sample memories, and its training loop drawn as jobs of minibatches.

:class:`SampleMemory` keeps each tracked frame's positive and negative sample features (the positives of the
last ``n_frames_long`` frames, the negatives of the last ``n_frames_short``); :class:`Minibatches` draws an
update over them as an :class:`~tracker.update_schedule.UpdateJob` (fixed-size minibatches walking through
shuffled samples) and runs any of its steps, each one's negatives the hardest of a larger set. The tracker
and the studies that time a step (``studies/step_cost.py``) use both alike.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
import torch

from tracker.boxes import SampleGenerator, iou
from tracker.config_sections import SamplesConfig, UpdatesConfig
from tracker.head import Head
from tracker.update_schedule import SampleSet, UpdateJob
from tracker.updaters import Trainer


class SampleMemory:
    """Per tracked frame, its positives' and negatives' features: the first frame's to start with."""

    def __init__(self, config: SamplesConfig, first_pos: torch.Tensor, first_neg: torch.Tensor) -> None:
        self.short_frames = config.n_frames_short
        self.pos: deque[torch.Tensor] = deque([first_pos[:config.n_pos_update]], maxlen=config.n_frames_long)
        self.neg: deque[torch.Tensor] = deque([first_neg[:config.n_neg_update]], maxlen=config.n_frames_short)

    def add(self, pos: torch.Tensor, neg: torch.Tensor) -> None:
        self.pos.append(pos)
        self.neg.append(neg)

    def samples(self, short_term: bool) -> tuple[SampleSet, SampleSet]:
        """MDNet's short-term update's samples (the last ``n_frames_short`` frames' positives) or the long-term
        one's (all kept); the negatives of the last ``n_frames_short`` frames either way."""
        pos = list(self.pos)[-self.short_frames:] if short_term else list(self.pos)
        return SampleSet(pos), SampleSet(list(self.neg))


class Minibatches:
    """MDNet's training loop: ``batch_pos`` positives and ``batch_neg`` negatives a step, the negatives the hardest
    (scored most target-like) of ``batch_neg_cand`` with hard negative mining."""

    def __init__(self, config: UpdatesConfig) -> None:
        self.batch_pos, self.batch_neg = config.batch_pos, config.batch_neg
        self.negative_candidates = config.batch_neg_cand if config.hard_negative_mining else config.batch_neg
        self.labels = torch.cat([torch.ones(self.batch_pos, dtype=torch.long),
                                 torch.zeros(self.batch_neg, dtype=torch.long)])

    def job(self, pos: SampleSet, neg: SampleSet, iterations: int, lr: float, rng: np.random.Generator,
            first_share: int = 0) -> UpdateJob | None:
        """An update of ``iterations`` steps, its minibatches drawn now from ``rng``; None without samples."""
        if len(pos) == 0 or len(neg) == 0:
            return None
        return UpdateJob(pos, neg, epoch_order(len(pos), self.batch_pos * iterations, rng),
                         epoch_order(len(neg), self.negative_candidates * iterations, rng), iterations, lr,
                         first_share)

    def run(self, head: Head, trainer: Trainer, job: UpdateJob, iterations: range) -> None:
        """The job's minibatches ``iterations`` (consecutive), learnt by ``trainer`` into ``head``. Their rows are
        gathered at once: a gather walks every frame's chunk of the memories (about 1 ms for 100 frames),
        whatever the number of rows."""
        n_pos, n_cand = self.batch_pos, self.negative_candidates
        first, last = iterations.start, iterations.stop
        pos = job.pos[job.pos_order[first * n_pos:last * n_pos]]
        neg = job.neg[job.neg_order[first * n_cand:last * n_cand]]
        for i in range(len(iterations)):
            batch_pos, batch_neg = pos[i * n_pos:(i + 1) * n_pos], neg[i * n_cand:(i + 1) * n_cand]
            if n_cand > self.batch_neg:  # hard negative mining: the negatives scored most target-like
                scores = head.positive_score(batch_neg, dtype=trainer.dtype)
                batch_neg = batch_neg[torch.topk(scores, self.batch_neg).indices]
            trainer.step(torch.cat([batch_pos, batch_neg]), self.labels, job.lr)


def epoch_order(n: int, total: int, rng: np.random.Generator) -> torch.Tensor:
    """Indices walking through shuffled copies of range(n) until ``total`` are drawn."""
    repeats = -(-total // n)
    return torch.from_numpy(np.concatenate([rng.permutation(n) for _ in range(repeats)])[:total])


def negatives_about(others: np.ndarray | None, target: np.ndarray, config: SamplesConfig, n: int,
                    image_size: tuple[int, int], rng: np.random.Generator,
                    accept: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``n`` negatives about each of the ``others`` boxes (other targets), drawn as positives are about a target
    (overlapping it by ``overlap_pos_update``; ``accept``: which the frame's features cover), none overlapping
    ``target`` by ``overlap_neg_update``: the classifier learns the target from the look-alike beside it."""
    if others is None or not len(others) or not n:
        return np.zeros((0, 4))
    generator = SampleGenerator("gaussian", image_size, config.trans_pos, config.scale_pos)
    boxes = np.concatenate([generator.draw_in_overlap(other, n, (config.overlap_pos_update, 1.0), rng, accept=accept)
                            for other in np.atleast_2d(others)])
    return boxes[iou(boxes, target[None]) < config.overlap_neg_update] if len(boxes) else np.zeros((0, 4))
