"""What every tracker here is to the code that drives it: the got10k shape plus a per-frame result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np


class Proposal(NamedTuple):
    """A frame begun (``MDNetTracker.propose``): the frame as RGB, its candidates and the box they are about."""

    image: np.ndarray
    candidates: np.ndarray
    reference: np.ndarray


@dataclass(frozen=True)
class FrameResult:
    """One frame's outcome: the box, the tracker's target score (NaN when it gives none), whether it
    judged the target lost there, and how many online learning steps the frame ran."""

    box: np.ndarray
    score: float
    lost: bool
    learning_steps: int = 0


@dataclass
class SequenceStats:
    """What a tracker measured since its last ``init``."""

    failed_frames: int  # frames it judged the target lost
    phase_seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase (ours only)


class Tracker(Protocol):
    """``init`` then ``update`` (got10k's toolkit drives that), or ``track_frame`` for the full result."""

    def init(self, image: np.ndarray, box: np.ndarray) -> None: ...

    def update(self, image: np.ndarray) -> np.ndarray: ...

    def track_frame(self, image: np.ndarray) -> FrameResult: ...

    def sequence_stats(self) -> SequenceStats: ...
