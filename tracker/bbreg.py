"""First-frame bounding-box regression (MDNet): ridge regression from conv3 features to box offsets."""

from __future__ import annotations

import numpy as np
import torch


def box_deltas(boxes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(dx, dy, dw, dh) taking each box to its target: centre shift over size, log size ratio."""
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    target_centres = targets[:, :2] + targets[:, 2:] / 2
    return np.concatenate([(target_centres - centres) / boxes[:, 2:], np.log(targets[:, 2:] / boxes[:, 2:])], 1)


def apply_deltas(boxes: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    centres = boxes[:, :2] + boxes[:, 2:] / 2 + deltas[:, :2] * boxes[:, 2:]
    sizes = boxes[:, 2:] * np.exp(deltas[:, 2:])
    return np.concatenate([centres - sizes / 2, sizes], 1)


class BBoxRegressor:
    """Ridge regression with intercept: (X^T X + lam I)^-1 X^T Y, solved in whichever form is smaller."""

    def __init__(self, lam: float = 1000.0) -> None:
        self.lam = lam
        self.weights: np.ndarray | None = None
        self.feature_mean: np.ndarray | None = None
        self.target_mean: np.ndarray | None = None

    def fit(self, features: torch.Tensor, boxes: np.ndarray, target: np.ndarray) -> None:
        """``target``: the true box (4,), or each sample's own (n, 4)."""
        x = features.double().numpy()
        y = box_deltas(boxes, np.broadcast_to(target, boxes.shape))
        self.feature_mean = x.mean(0)
        self.target_mean = y.mean(0)
        xc, yc = x - self.feature_mean, y - self.target_mean
        if len(xc) <= xc.shape[1]:  # the dual: an n x n system
            self.weights = xc.T @ np.linalg.solve(xc @ xc.T + self.lam * np.eye(len(xc)), yc)
        else:  # the primal, the same weights: a d x d system
            self.weights = np.linalg.solve(xc.T @ xc + self.lam * np.eye(xc.shape[1]), xc.T @ yc)

    def predict(self, features: torch.Tensor, boxes: np.ndarray) -> np.ndarray:
        if self.weights is None:
            return boxes
        deltas = (features.double().numpy() - self.feature_mean) @ self.weights + self.target_mean
        return apply_deltas(boxes, deltas)
