"""Torch's thread count for work beside the tracker: one core each, set for a call and given back after it.

On 2 cores, a tracker frame and a worker beside it (a delayed learner's steps, a whole-frame search) each run
torch single-threaded; both at 2 threads oversubscribe the cores. Torch's count is the calling thread's own
(OpenMP's), so it is set around each call that needs it and given back: nothing outside the tracker's calls
sees it changed, even where a tracker is never closed. A worker sets its own in each job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

Result = TypeVar("Result")


@contextmanager
def one_thread(active: bool = True) -> Iterator[None]:
    """Torch single-threaded in the calling thread inside the block (where ``active``), the count given back."""
    if not active:
        yield
        return
    found = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(found)


def single_threaded(call: Callable[[], Result]) -> Result:
    """``call()`` with torch single-threaded in the calling thread."""
    with one_thread():
        return call()
