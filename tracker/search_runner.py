"""Where the whole-frame search for a lost target runs, and on which frame its find lands.

A search reads the whole frame (about 100 ms on a 2-core CPU, results/search_cost/README.md): inside the frame
that asks for it, it stalls the video exactly when the target is lost. Runners (``redetection.redetect_runner``):

- ``inline``: the search runs in the frame that asks for it and its find is judged there;
- ``thread``: the search of frame t runs on a worker beside the tracker, which goes on tracking frames t+1,
  t+2, ... as lost; its find lands on frame t + ``redetect_delay``, where the tracker waits only if the worker
  has not finished, and is checked on that frame (:meth:`~tracker.lost_and_found.Redetector.check`);
- ``sequential``: the same search of frame t, run in the tracker's own thread on frame t + ``redetect_delay``.
  It gives the same boxes as ``thread`` (tests/test_search_runner.py), so evaluation stays reproducible
  without a second thread.

While a search is out, the tracker's frames run torch single-threaded, and so does the search: on 2 cores one
tracks while the other searches, and ``thread`` and ``sequential`` compute with the same thread counts, hence
the same numbers. Torch's thread count is the calling thread's own: it is set for a frame (:meth:`frame`) and
given back after it, so that nothing outside the tracker's calls sees it changed. Which frame a search lands
on depends only on frame numbers, never on the clock. A search's inputs (the frame, the classifier's weights
then) are its own copies.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

from tracker.config import SEARCH_RUNNERS
from tracker.threads import one_thread, single_threaded

DEFERRED = tuple(kind for kind in SEARCH_RUNNERS if kind != "inline")
Result = TypeVar("Result")


class SearchRunner(Generic[Result]):
    """A ``thread`` or ``sequential`` runner (``inline`` needs none): at most one search at a time; :meth:`start`
    it, then ask each frame whether it :meth:`landed`."""

    def __init__(self, kind: str, delay: int) -> None:
        if kind not in DEFERRED:
            raise ValueError(f"a search runner is one of {DEFERRED}, got {kind!r}")
        if delay < 1:
            raise ValueError(f"a {kind} search runner needs a delay of at least 1 frame, got {delay}")
        self.kind, self.delay = kind, delay
        self._pending: tuple[int, Future | Callable[[], Result]] | None = None  # (landing frame, the search)
        self._worker: ThreadPoolExecutor | None = None

    @property
    def busy(self) -> bool:
        """Whether a search is out (no other starts before it lands or is dropped)."""
        return self._pending is not None

    def frame(self) -> AbstractContextManager[None]:
        """One of the tracker's frames: single-threaded where a search is out as it begins."""
        return one_thread(self._pending is not None)

    def start(self, frame_index: int, search: Callable[[], Result]) -> None:
        """Start ``search`` on frame ``frame_index``: its result lands on frame ``frame_index + delay``."""
        if self.kind == "thread":
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="search")
            self._pending = (frame_index + self.delay, self._worker.submit(single_threaded, search))
        else:
            self._pending = (frame_index + self.delay, search)

    def landed(self, frame_index: int) -> Result | None:
        """The result of the search that lands on frame ``frame_index`` (waiting for the worker if it has not
        finished), or None where none does."""
        if self._pending is None or frame_index < self._pending[0]:
            return None
        search = self._pending[1]
        self._pending = None
        return search.result() if isinstance(search, Future) else single_threaded(search)

    def drop(self) -> None:
        """Forget the search that is out (the target was found another way); the worker finishes it unread."""
        self._pending = None

    def close(self) -> None:
        """Forget any search and stop the worker, once it has finished."""
        self.drop()
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
