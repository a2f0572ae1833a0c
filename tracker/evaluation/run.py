"""The frame loop shared by the command line and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tracker.data.layouts import TITLES, Opener, list_dataset
from tracker.data.sequence import Sequence
from tracker.errors import TrackerError
from tracker.tracking import FrameResult, Tracker

if TYPE_CHECKING:  # the frame loop imports no tracker: an OpenCV peer's process runs without torch
    from tracker.multi import MultiTargetTracker


@dataclass(frozen=True)
class TrackedFrame:
    image: np.ndarray
    box: np.ndarray
    seconds: float  # the tracker's own time on this frame (init on the first)
    lost: bool  # whether the tracker judged the target lost (never on the first frame)
    score: float = float("nan")  # the tracker's target score (NaN on the first frame, and for trackers without one)


def track(tracker: Tracker, sequence: Sequence, init_box: np.ndarray,
          max_frames: int | None = None) -> Iterator[TrackedFrame]:
    """Each frame in turn: ``init`` on the first, ``track_frame`` on the rest."""
    for index, image in enumerate(sequence):
        if max_frames is not None and index >= max_frames:
            return
        start = time.perf_counter()
        if index == 0:
            tracker.init(image, init_box)
            box, lost, score = np.asarray(init_box, dtype=float), False, float("nan")
        else:
            result = tracker.track_frame(image)
            box, lost, score = result.box, result.lost, result.score
        seconds = time.perf_counter() - start
        if not np.all(np.isfinite(box)):
            raise TrackerError(f"{sequence.name}: tracker produced a non-finite box at frame {index + 1}")
        yield TrackedFrame(image, box, seconds, lost, score)


@dataclass(frozen=True)
class TrackedTargets:
    image: np.ndarray
    results: dict[int, FrameResult]  # by target id; on the first frame each target's given box (score NaN)
    seconds: float  # the tracker's own time on this frame, all targets (init on the first)


def track_targets(tracker: MultiTargetTracker, sequence: Sequence, init_boxes: list[np.ndarray],
                  max_frames: int | None = None) -> Iterator[TrackedTargets]:
    """Each frame in turn, every target at once: ``init`` on the first, ``update`` on the rest."""
    for index, image in enumerate(sequence):
        if max_frames is not None and index >= max_frames:
            return
        start = time.perf_counter()
        if index == 0:
            ids = tracker.init(image, init_boxes)
            results = {i: FrameResult(np.asarray(box, dtype=float), float("nan"), False)
                       for i, box in zip(ids, init_boxes)}
        else:
            results = tracker.update(image)
        yield TrackedTargets(image, results, time.perf_counter() - start)


@dataclass
class SequenceResult:
    name: str
    boxes: np.ndarray
    seconds: np.ndarray
    lost: np.ndarray  # per frame, whether the tracker judged the target lost
    phase_seconds: dict[str, float] = field(default_factory=dict)
    failed_frames: int = 0  # frames the tracker judged the target lost

    @property
    def fps(self) -> float:
        return len(self.seconds) / float(self.seconds.sum())


def release(tracker: Tracker) -> None:
    """Release what ``tracker`` holds beyond its weights (a learner's worker thread), if it has a ``close``."""
    close = getattr(tracker, "close", None)
    if close is not None:
        close()


def run_sequence(tracker: Tracker, sequence: Sequence, max_frames: int | None = None) -> SequenceResult:
    """Track a sequence from its first ground-truth box (one-pass evaluation); then release what the tracker
    holds beyond its weights (a learner's worker thread), if it has a ``close``."""
    try:
        frames = [(f.box, f.seconds, f.lost) for f in track(tracker, sequence, sequence.ground_truth[0], max_frames)]
    finally:
        release(tracker)
    boxes, seconds, lost = (np.array(column) for column in zip(*frames))
    stats = tracker.sequence_stats()
    return SequenceResult(sequence.name, boxes, seconds, lost, stats.phase_seconds, stats.failed_frames)


def list_sequences(root: str, names: list[str] | None = None, dataset: str = "otb") -> dict[str, Opener]:
    """The sequences of ``dataset``'s layout under ``root`` (OTB's ``Jogging`` -> ``Jogging.1``, ``Jogging.2``),
    optionally by name: name -> opener."""
    found = list_dataset(dataset, root)
    if names:
        unknown = sorted(set(names) - set(found))
        if unknown:
            raise TrackerError(f"sequence(s) not found under {root}: {', '.join(unknown)}")
        found = {n: found[n] for n in names}
    if not found:
        raise TrackerError(f"no {TITLES[dataset]} sequences found under {root}")
    return found


def open_sequences(root: str, names: list[str] | None = None, unreadable: dict[str, str] | None = None,
                   dataset: str = "otb") -> list[Sequence]:
    """The sequences under ``root``, opened. With ``unreadable`` given, a sequence that cannot be opened is left
    out and recorded there (name -> why) instead of failing them all."""
    sequences = []
    for name, opener in list_sequences(root, names, dataset).items():
        try:
            sequences.append(opener())
        except TrackerError as exc:
            if unreadable is None:
                raise
            unreadable[name] = str(exc)
    return sequences
