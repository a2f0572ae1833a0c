"""The frame loop shared by the command line and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from tracker.data.otb import list_otb, open_otb
from tracker.data.sequence import Sequence
from tracker.errors import TrackerError
from tracker.tracking import Tracker


def track(tracker: Tracker, sequence: Sequence, init_box: np.ndarray,
          max_frames: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, float]]:
    """Yield (image, box, seconds) per frame: ``init`` on the first, ``update`` on the rest."""
    for index, image in enumerate(sequence):
        if max_frames is not None and index >= max_frames:
            return
        start = time.perf_counter()
        if index == 0:
            tracker.init(image, init_box)
            box = np.asarray(init_box, dtype=float)
        else:
            box = tracker.update(image)
        seconds = time.perf_counter() - start
        if not np.all(np.isfinite(box)):
            raise TrackerError(f"{sequence.name}: tracker produced a non-finite box at frame {index + 1}")
        yield image, box, seconds


@dataclass
class SequenceResult:
    name: str
    boxes: np.ndarray
    seconds: np.ndarray
    phase_seconds: dict[str, float] = field(default_factory=dict)
    failed_frames: int = 0  # frames the tracker judged the target lost

    @property
    def fps(self) -> float:
        return len(self.seconds) / float(self.seconds.sum())


def run_sequence(tracker: Tracker, sequence: Sequence, max_frames: int | None = None) -> SequenceResult:
    """Track a sequence from its first ground-truth box (one-pass evaluation)."""
    boxes, seconds = [], []
    for _, box, dt in track(tracker, sequence, sequence.ground_truth[0], max_frames):
        boxes.append(box)
        seconds.append(dt)
    stats = tracker.sequence_stats()
    return SequenceResult(sequence.name, np.array(boxes), np.array(seconds), stats.phase_seconds,
                          stats.failed_frames)


def otb_sequences(root: str, names: list[str] | None = None) -> list[Sequence]:
    """The OTB sequences under ``root`` (``Jogging`` -> ``Jogging.1``, ``Jogging.2``), optionally by name."""
    found = list_otb(root)
    if names:
        unknown = sorted(set(names) - set(found))
        if unknown:
            raise TrackerError(f"sequence(s) not found under {root}: {', '.join(unknown)}")
        found = {n: found[n] for n in names}
    if not found:
        raise TrackerError(f"no OTB sequences found under {root}")
    return [open_otb(folder, target, name) for name, (folder, target) in found.items()]
