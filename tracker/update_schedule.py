"""When fc4-fc6 learn within the frame loop: MDNet's updates as jobs of learning steps, a bounded number per frame.

MDNet runs each update (15 steps) inside the frame that asks for it: the short-term update on every frame
scored as lost and the long-term one every ``long_interval`` frames. A step costs about 8 ms on 2 cores, a
tracked frame about 15, so such a frame takes 10x a tracked one, and the picture stalls exactly while the
target is being lost. Here an update is a queued :class:`UpdateJob`; each frame runs at most a few of its
steps, and a newer request replaces what is left of an older one (it holds the newer samples).

Schedules (``update_schedule``):

- ``full``: MDNet's, every job run to the end in the frame that asks for it;
- a job may run more steps on its first frame (``first_share``): the first frame's training in full, and the
  short-term update of the first frame of a lost stretch ``update_first_lost_steps`` steps at once (what the
  tracker needs at once; the rest of it, the later frames of the stretch and the periodic long-term updates
  are spread);
- ``steps``: at most ``update_steps_per_frame`` steps a frame; deterministic, so the same seed gives the
  same boxes on any machine.
(A ``deadline`` schedule, fitting steps into the frame budget by the clock, was measured and left the core:
results/latency/README.md names the commit that has it.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from tracker.config import SCHEDULES


class SampleSet:
    """Several frames' sample features read as one set of rows, without concatenating them: a long-term
    update's 100 frames of positives and 30 of negatives would otherwise be copied (31 MB) for every job,
    and a spread job holds its copy for several frames."""

    def __init__(self, chunks: list[torch.Tensor]) -> None:
        self.chunks = [c for c in chunks if len(c)]
        self.offsets = np.cumsum([0] + [len(c) for c in self.chunks])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        """The rows at ``index`` (into the set as if concatenated), in that order."""
        if len(self.chunks) == 1:
            return self.chunks[0][index]
        rows = index.numpy()
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        out = torch.empty((len(rows), self.chunks[0].shape[1]), dtype=self.chunks[0].dtype)
        for chunk in np.unique(which):
            chosen = which == chunk
            out[torch.from_numpy(chosen)] = self.chunks[chunk][torch.from_numpy(rows[chosen] - self.offsets[chunk])]
        return out


@dataclass
class UpdateJob:
    """One update's steps, drawn when it was asked for: minibatch ``i`` takes ``pos[pos_order[i * n_pos:
    (i + 1) * n_pos]]`` and the negatives likewise, so a job cut across frames learns the same as run at once."""

    pos: SampleSet
    neg: SampleSet
    pos_order: torch.Tensor
    neg_order: torch.Tensor
    iterations: int
    lr: float
    first_share: int = 0  # steps its first frame runs, whatever the schedule (more than the job's: all)
    done: int = 0

    @property
    def remaining(self) -> int:
        return self.iterations - self.done


class UpdateScheduler:
    """Holds at most one pending job and decides how many of its steps a frame runs."""

    def __init__(self, schedule: str, steps_per_frame: int) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        self.schedule = schedule
        self.steps_per_frame = steps_per_frame
        self.pending: UpdateJob | None = None

    def request(self, job: UpdateJob) -> None:
        """Queue ``job``; what is left of an older one is dropped: the new one learns from newer samples."""
        self.pending = job

    def take(self) -> tuple[UpdateJob, range] | None:
        """This frame's share of the pending job, counted off now (a delayed learner runs it later): the job
        and its iterations."""
        if self.pending is None:
            return None
        job = self.pending
        n = self.steps_per_frame if job.done else max(self.steps_per_frame, job.first_share)
        n = job.remaining if self.schedule == "full" else min(n, job.remaining)
        share = range(job.done, job.done + n)
        job.done += n
        if job.remaining <= 0:
            self.pending = None
        return job, share

    def run(self, step: Callable[[UpdateJob, int], None]) -> int:
        """Run this frame's share now through ``step(job, iteration)``; return how many ran."""
        share = self.take()
        if share is None:
            return 0
        job, iterations = share
        for it in iterations:
            step(job, it)
        return len(iterations)
