"""OTB one-pass-evaluation scores, computed with the got10k toolkit's IoU and centre error.

Success counts IoU strictly above each of 21 thresholds 0, 0.05, ..., 1 (got10k / OTB convention:
ground truth against itself scores 20/21); precision counts centre errors within 0..50 px.
"""

from __future__ import annotations

import numpy as np
from got10k.utils.metrics import center_error, rect_iou

SUCCESS_THRESHOLDS = np.linspace(0, 1, 21)
PRECISION_THRESHOLDS = np.arange(0, 51)


def success_curve(boxes: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    ious = rect_iou(np.asarray(boxes, float), np.asarray(ground_truth, float))
    return (ious[:, None] > SUCCESS_THRESHOLDS[None, :]).mean(axis=0)


def precision_curve(boxes: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    errors = center_error(np.asarray(boxes, float), np.asarray(ground_truth, float))
    return (errors[:, None] <= PRECISION_THRESHOLDS[None, :]).mean(axis=0)


def scores(boxes: np.ndarray, ground_truth: np.ndarray) -> dict[str, float]:
    """Mean IoU, success AUC (mean of the 21-point success curve) and precision at 20 px."""
    boxes, ground_truth = np.asarray(boxes, float), np.asarray(ground_truth, float)
    return {
        "mean_iou": float(rect_iou(boxes, ground_truth).mean()),
        "success_auc": float(success_curve(boxes, ground_truth).mean()),
        "precision_20": float(precision_curve(boxes, ground_truth)[20]),
    }
