"""Where a frame's learning steps run, and from which frame the weights they learn score candidates.

MDNet learns inside the frame that asks for it: the classifier scoring frame t+1 is the one learnt up to
frame t. A frame's learning does not have to be finished by the next frame, though: as in real-time
systems that split tracking from mapping (PTAM, ORB-SLAM), the classifier scoring frame t+1 can be the
one learnt up to frame t - ``delay``, so that frame t's steps run while the next frames are read and scored.

Learners (``learner``):

- ``inline``: the steps run in the frame that asks for them and score the next frame (MDNet's way);
- ``thread``: the steps run on a worker thread, beside the tracker; their weights go live ``learner_delay``
  frames later, and the tracker waits at that frame only if the worker has not finished them;
- ``sequential``: the same delayed schedule run in the tracker's own thread. It gives the same boxes as
  ``thread`` (asserted in tests/test_learner.py), so evaluation stays reproducible without a second thread.

With a delayed learner, the tracker's frames after the first and the steps run torch single-threaded (set for
each frame, :meth:`Learner.frame`, and each job, and given back: tracker/threads.py): on 2 cores, one core
tracks while the other learns, and ``thread`` and ``sequential`` compute with the same thread counts, hence the
same boxes. The first frame, on which nothing runs beside it, keeps every thread.

Two heads make this work: the learning head, which the learning rule trains (and which mines its hard
negatives), and the scoring head, a copy of the learning head's weights as they were after a given frame's
steps. Which frame's weights score which frame depends only on frame numbers, never on the clock.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager

import torch

from tracker.config import LEARNERS
from tracker.head import Head
from tracker.threads import one_thread, single_threaded

Weights = list[torch.Tensor]


def weights_of(head: Head) -> Weights:
    return [p.detach().clone() for p in head.parameters()]


class Learner:
    """Runs each frame's learning steps on ``learning_head`` and keeps ``scoring_head`` ``delay`` frames behind.

    Call :meth:`end_frame` once a frame with that frame's steps (a callable running them, or None when there
    are none). With ``inline`` the two heads are one object and the steps run at once.
    """

    def __init__(self, kind: str, delay: int, learning_head: Head) -> None:
        if kind not in LEARNERS:
            raise ValueError(f"learner must be one of {LEARNERS}, got {kind!r}")
        if kind != "inline" and delay < 1:
            raise ValueError(f"a {kind} learner needs a delay of at least 1 frame, got {delay}")
        self.kind = kind
        self.delay = delay
        self.learning_head = learning_head
        self.scoring_head = learning_head if kind == "inline" else copy.deepcopy(learning_head)
        # one entry per frame not yet live: the weights after that frame's steps (None: it ran none)
        self._queue: deque[Future | Weights | None] = deque()
        self._worker: ThreadPoolExecutor | None = None  # started with each sequence, stopped by close()

    def start_sequence(self) -> None:
        """Before a new first frame trains the learning head: whatever the last sequence queued is finished
        and dropped."""
        self.wait_all()
        self._queue.clear()
        if self.kind == "thread" and self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="learner")

    def go_live_now(self) -> None:
        """The scoring head takes the learning head's weights at once (after the first frame's training); from
        here a delayed learner tracks and learns on one thread each."""
        if self.scoring_head is not self.learning_head:
            self._load(weights_of(self.learning_head))

    def frame(self) -> AbstractContextManager[None]:
        """One of the tracker's frames after the first: single-threaded with a delayed learner."""
        return one_thread(self.kind != "inline")

    def end_frame(self, steps: Callable[[], None] | None) -> None:
        """Start this frame's ``steps`` and make live the weights learnt ``delay`` frames ago."""
        if self.kind == "inline":
            if steps is not None:
                steps()
            return
        if self._worker is not None:
            self._queue.append(self._worker.submit(self._run, steps) if steps is not None else None)
        else:
            self._queue.append(self._run(steps) if steps is not None else None)
        if len(self._queue) > self.delay:
            self._go_live(self._queue.popleft())

    def wait_all(self) -> None:
        """Finish every step started so far (their weights stay queued for their frame)."""
        for entry in self._queue:
            if isinstance(entry, Future):
                entry.result()

    def close(self) -> None:
        """Finish the queued steps and stop the worker. The next sequence starts it again."""
        self.wait_all()
        if self._worker is not None:
            self._worker.shutdown()
            self._worker = None

    def _run(self, steps: Callable[[], None]) -> Weights:
        single_threaded(steps)
        return weights_of(self.learning_head)

    def _go_live(self, entry: Future | Weights | None) -> None:
        if isinstance(entry, Future):
            entry = entry.result()  # the only place the tracker waits for the worker
        if entry is not None:
            self._load(entry)

    def _load(self, weights: Weights) -> None:
        with torch.no_grad():
            for param, value in zip(self.scoring_head.parameters(), weights):
                param.copy_(value)
