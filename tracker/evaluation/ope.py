"""OTB one-pass evaluation: result files in the got10k / OTB layout, anchors, attributes, scores.

Layout (what got10k's ``ExperimentOTB`` writes and reads, so other toolkits can read ours):
``<results>/<tracker>/<sequence>.txt`` (x,y,w,h per frame) and
``<results>/<tracker>/times/<sequence>_time.txt`` (seconds per frame).
Scoring follows got10k: frame 1 is replaced by the ground truth, success counts IoU strictly above
21 thresholds, precision counts centre errors within 0..50 px, curves are averaged over sequences.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tracker.data.otb import parse_boxes
from tracker.data.sequence import Sequence
from tracker.errors import TrackerError
from tracker.evaluation.metrics import (
    normalised_precision_curve,
    overlaps,
    precision_curve,
    size_diagnostic_curves,
    success_curve,
)
from tracker.files import read_text
from tracker.outputs import writing


def run_name(updater: str, batch_size: int, seed: int) -> str:
    """The result folder of one of our runs: ``bdfa-b16-s2``."""
    return f"{updater}-b{batch_size}-s{seed}"


def result_files(results: Path, tracker: str, sequence: str) -> tuple[Path, Path]:
    folder = Path(results) / tracker
    return folder / f"{sequence}.txt", folder / "times" / f"{sequence}_time.txt"


def _atomic_savetxt(path: Path, data: np.ndarray, fmt: str, delimiter: str = ",") -> None:
    with writing(path, "result file") as output:
        np.savetxt(output.open(), data, fmt=fmt, delimiter=delimiter)


def write_result(results: Path, tracker: str, sequence: str, boxes: np.ndarray, times: np.ndarray) -> None:
    """Times first, boxes last: a boxes file means the run finished."""
    boxes_path, times_path = result_files(results, tracker, sequence)
    _atomic_savetxt(times_path, np.asarray(times, float).reshape(-1, 1), "%.8f")
    _atomic_savetxt(boxes_path, np.asarray(boxes, float), "%.3f")


def has_result(results: Path, tracker: str, sequence: str) -> bool:
    return all(p.is_file() for p in result_files(results, tracker, sequence))


def read_result(results: Path, tracker: str, sequence: str) -> tuple[np.ndarray, np.ndarray]:
    """A finished run's boxes and per-frame seconds. A damaged file (text in the times, a box that is not four
    numbers, one count for the other) is one line naming it: deleting it makes the harness redo that run."""
    boxes_path, times_path = result_files(results, tracker, sequence)
    redo = "delete it and run the same tracker.evaluation.otb_ope command again to redo that run"
    try:
        boxes = parse_boxes(boxes_path)
    except TrackerError as exc:
        raise TrackerError(f"damaged result file: {exc}; {redo}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns, and returns nothing, on an empty file
            times = np.loadtxt(io.StringIO(read_text(times_path, "times file")), ndmin=1, dtype=float)
    except (ValueError, UserWarning) as exc:
        raise TrackerError(f"damaged result file {times_path}: {str(exc).splitlines()[0][:120]}; {redo}") from None
    if times.ndim != 1 or len(times) != len(boxes) or not np.all(np.isfinite(times)):
        raise TrackerError(f"damaged result file {times_path}: {len(times)} finite times expected for the "
                           f"{len(boxes)} boxes of {boxes_path.name}; {redo}")
    return boxes, times


def normalise_name(name: str) -> str:
    """``Jogging.1``, ``jogging_1`` and ``Jogging-1`` are the same sequence."""
    return re.sub(r"[._-]", "_", name.lower())


def anchor_boxes(anchors: Path, tracker: str, sequence: str) -> np.ndarray | None:
    """A published tracker's raw result for ``sequence`` (file names matched case-insensitively)."""
    folder = Path(anchors) / tracker
    wanted = normalise_name(sequence)
    for path in folder.glob("*.txt"):
        if normalise_name(path.stem) == wanted:
            return parse_boxes(path)
    return None


def load_attributes(path: Path) -> dict[str, list[str]]:
    """OTB attribute list: ``Name<TAB>IV, OCC, ...`` per line, by normalised name."""
    attributes = {}
    for line in read_text(Path(path), 'attribute list').splitlines():
        if "\t" in line:
            name, tags = line.split("\t", 1)
            attributes[normalise_name(name.strip())] = [t.strip() for t in tags.split(",") if t.strip()]
    return attributes


@dataclass
class SequenceScore:
    success: np.ndarray  # (21,)
    precision: np.ndarray  # (51,)
    frames: int
    seconds: float | None = None
    ious: np.ndarray = field(default_factory=lambda: np.zeros(0))  # GOT-10k's: frames after the first
    norm_precision: np.ndarray = field(default_factory=lambda: np.zeros(51))  # LaSOT's curve
    # the size diagnostic's success curves: the true size at our centres, our size at the true centres
    location_only: np.ndarray = field(default_factory=lambda: np.zeros(21))
    size_only: np.ndarray = field(default_factory=lambda: np.zeros(21))


def score_sequence(boxes: np.ndarray, ground_truth: np.ndarray, times: np.ndarray | None = None,
                   bound: tuple[int, int] | None = None) -> SequenceScore:
    """got10k's per-sequence curves, GOT-10k's overlaps and LaSOT's normalised precision; results longer than
    the ground truth are cut to its length."""
    n = len(ground_truth)
    if len(boxes) < n:
        raise TrackerError(f"result has {len(boxes)} boxes for {n} ground-truth frames")
    boxes = np.array(boxes[:n], dtype=float)
    boxes[0] = ground_truth[0]
    seconds = float(np.sum(times[:n])) if times is not None else None
    return SequenceScore(success_curve(boxes, ground_truth), precision_curve(boxes, ground_truth), n, seconds,
                         overlaps(boxes, ground_truth, bound), normalised_precision_curve(boxes, ground_truth),
                         *size_diagnostic_curves(boxes, ground_truth))


def finished_auc(results: Path, tracker: str, sequence: Sequence) -> tuple[float, np.ndarray] | None:
    """A finished run's success AUC on ``sequence`` and its boxes; None if the run has not finished."""
    if not has_result(results, tracker, sequence.name):
        return None
    boxes, times = read_result(results, tracker, sequence.name)
    return float(score_sequence(boxes, sequence.ground_truth, times).success.mean()), boxes


def summarise(scores: list[SequenceScore]) -> dict[str, object]:
    """Curves averaged over sequences, success AUC, precision@20 and fps (all frames / all time); the size
    diagnostic's AUCs (true size at our centres, our size at the true centres); GOT-10k's AO and success rates
    over all frames together, by its toolkit's own evaluation; LaSOT's normalised precision averaged over
    sequences."""
    success = np.mean([s.success for s in scores], axis=0)
    precision = np.mean([s.precision for s in scores], axis=0)
    timed = [s for s in scores if s.seconds]
    fps = sum(s.frames for s in timed) / sum(s.seconds for s in timed) if timed else None
    from got10k.experiments import ExperimentGOT10k  # (matplotlib with it: only where a report is made)

    ious = np.concatenate([s.ious for s in scores])
    ao, sr50, _, _ = ExperimentGOT10k._evaluate(None, ious, np.zeros(0)) if len(ious) else (0.0, 0.0, None, None)
    return {"success_curve": success.tolist(), "precision_curve": precision.tolist(),
            "success_auc": float(success.mean()), "precision_20": float(precision[20]), "fps": fps,
            "location_only_auc": float(np.mean([s.location_only.mean() for s in scores])),
            "size_only_auc": float(np.mean([s.size_only.mean() for s in scores])),
            "ao": float(ao), "sr50": float(sr50), "sr75": float(np.mean(ious > 0.75)) if len(ious) else 0.0,
            "norm_precision": float(np.mean([s.norm_precision.mean() for s in scores]))}
