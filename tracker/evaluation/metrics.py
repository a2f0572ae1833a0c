"""OTB one-pass-evaluation scores, computed with the got10k toolkit's IoU and centre error.

Success counts IoU strictly above each of 21 thresholds 0, 0.05, ..., 1 (got10k / OTB convention:
ground truth against itself scores 20/21); precision counts centre errors within 0..50 px. Frames
whose ground truth is NaN (target absent, as UAV123 marks it) are not scored.
"""

from __future__ import annotations

import numpy as np
from got10k.utils.metrics import center_error, rect_iou

from tracker.boxes import about_centres, centres

SUCCESS_THRESHOLDS = np.linspace(0, 1, 21)
PRECISION_THRESHOLDS = np.arange(0, 51)
# LaSOT's normalised precision: the centre error in units of the true box's width and height, 0 .. 0.5
NORM_PRECISION_THRESHOLDS = np.linspace(0, 0.5, 51)


def annotated(boxes: np.ndarray, ground_truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frames that have ground truth: (boxes, ground truth) without the rows where it is NaN."""
    boxes, ground_truth = np.asarray(boxes, float), np.asarray(ground_truth, float)
    keep = np.isfinite(ground_truth).all(axis=1)
    return boxes[keep], ground_truth[keep]


def success_curve(boxes: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    ious = rect_iou(*annotated(boxes, ground_truth))
    return (ious[:, None] > SUCCESS_THRESHOLDS[None, :]).mean(axis=0) if len(ious) else np.zeros(21)


def precision_curve(boxes: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    errors = center_error(*annotated(boxes, ground_truth))
    return (errors[:, None] <= PRECISION_THRESHOLDS[None, :]).mean(axis=0) if len(errors) else np.zeros(51)


def normalised_precision_curve(boxes: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    """LaSOT's normalised precision curve: the share of frames whose centre error, divided per axis by the
    true box's width and height, is within each threshold (its mean is the normalised precision)."""
    boxes, ground_truth = annotated(boxes, ground_truth)
    if not len(boxes):
        return np.zeros(len(NORM_PRECISION_THRESHOLDS))
    size = np.maximum(ground_truth[:, 2:], 1e-12)
    offset = (boxes[:, :2] + boxes[:, 2:] / 2 - ground_truth[:, :2] - ground_truth[:, 2:] / 2) / size
    errors = np.linalg.norm(offset, axis=1)
    return (errors[:, None] <= NORM_PRECISION_THRESHOLDS[None, :]).mean(axis=0)


def size_diagnostic_curves(boxes: np.ndarray, ground_truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where success is lost: the success curve with the true width and height at each box's own centre (its
    location alone: its size made perfect), and with its own width and height at the true centre (its size
    alone)."""
    boxes, ground_truth = np.asarray(boxes, float), np.asarray(ground_truth, float)
    location_only = about_centres(centres(boxes), ground_truth[:, 2:])
    size_only = about_centres(centres(ground_truth), boxes[:, 2:])
    return success_curve(location_only, ground_truth), success_curve(size_only, ground_truth)


def overlaps(boxes: np.ndarray, ground_truth: np.ndarray, bound: tuple[int, int] | None = None) -> np.ndarray:
    """GOT-10k's per-frame IoU: frames after the first that have ground truth, boxes clipped to ``bound``."""
    return rect_iou(*annotated(boxes[1:], ground_truth[1:]), bound=bound)


def scores(boxes: np.ndarray, ground_truth: np.ndarray) -> dict[str, float | int | None]:
    """Mean IoU, success AUC (mean of the 21-point success curve), precision at 20 px and the size diagnostic
    over the ``scored_frames`` that have ground truth; None when none has."""
    boxes, ground_truth = annotated(boxes, ground_truth)
    if not len(boxes):
        return {"mean_iou": None, "success_auc": None, "precision_20": None, "location_only_auc": None,
                "size_only_auc": None, "scored_frames": 0}
    return {
        "mean_iou": float(rect_iou(boxes, ground_truth).mean()),
        "success_auc": float(success_curve(boxes, ground_truth).mean()),
        "precision_20": float(precision_curve(boxes, ground_truth)[20]),
        **dict(zip(("location_only_auc", "size_only_auc"),
                   (float(curve.mean()) for curve in size_diagnostic_curves(boxes, ground_truth)))),
        "scored_frames": len(boxes),
    }
