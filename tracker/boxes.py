"""Boxes (x, y, w, h in pixels, OTB convention), overlap and MDNet's sample generator."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tracker.errors import TrackerError

MIN_SIDE = 10.0  # py-MDNet's smallest sample side, in pixels
MAX_BOX_SCALE = 10.0  # a box this many times the image is a typo (or 1e300), not a target


def iou(boxes: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """IoU of each row of ``boxes`` (n, 4) with ``ref`` (4,) or with the matching row of ``ref`` (n, 4)."""
    boxes = np.atleast_2d(boxes).astype(np.float64)
    ref = np.atleast_2d(ref).astype(np.float64)
    x1 = np.maximum(boxes[:, 0], ref[:, 0])
    y1 = np.maximum(boxes[:, 1], ref[:, 1])
    x2 = np.minimum(boxes[:, 0] + boxes[:, 2], ref[:, 0] + ref[:, 2])
    y2 = np.minimum(boxes[:, 1] + boxes[:, 3], ref[:, 1] + ref[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = boxes[:, 2] * boxes[:, 3] + ref[:, 2] * ref[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def centres(boxes: np.ndarray) -> np.ndarray:
    """The centre (cx, cy) of each box (..., 4)."""
    return boxes[..., :2] + boxes[..., 2:] / 2


def about_centres(centres: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Boxes (..., 4) of ``sizes`` (w, h) centred on ``centres`` (cx, cy)."""
    return np.concatenate([centres - sizes / 2, sizes], axis=-1)


def check_box(box: np.ndarray, image_shape: tuple[int, ...], what: str = "initial box") -> np.ndarray:
    """The box as float64 (4,), or a TrackerError if it has no area or lies outside the image."""
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)):
        raise TrackerError(f"{what} must be 4 finite numbers x,y,w,h, got {box.tolist()}")
    x, y, w, h = box
    height, width = image_shape[:2]
    if w < 1 or h < 1:
        raise TrackerError(f"{what} {box.tolist()} is smaller than 1x1 px")
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise TrackerError(f"{what} {box.tolist()} lies outside the {width}x{height} image")
    if w > MAX_BOX_SCALE * width or h > MAX_BOX_SCALE * height:
        raise TrackerError(f"{what} {box.tolist()} is more than {MAX_BOX_SCALE:g} times the {width}x{height} image")
    return box


class SampleGenerator:
    """MDNet's candidate and training-sample distributions around a box.

    ``kind`` is "gaussian" (offsets and log-scales from a clipped normal), "uniform" or "whole"
    (boxes spread over the whole image). Translation is in units of mean(w, h), scale is a factor
    per unit of the clipped random draw, as in py-MDNet's ``SampleGenerator``.
    """

    def __init__(self, kind: str, image_size: tuple[int, int], trans: float, scale: float,
                 aspect: float | None = None) -> None:
        if kind not in ("gaussian", "uniform", "whole"):
            raise ValueError(f"unknown sample distribution {kind!r}")
        self.kind = kind
        self.image_size = np.array(image_size, dtype=np.float64)  # (width, height)
        self.trans = trans
        self.scale = scale
        self.aspect = aspect

    def draw(self, box: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` boxes (n, 4) drawn around ``box``: sizes kept in [10, image - 10], centres in the image.

        The 10-px floor is py-MDNet's; for a target under 20 px it drops to half the target's side, so
        samples still overlap a tiny target (else bounding-box regression has nothing to fit).
        """
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        samples = np.tile(np.array([cx, cy, box[2], box[3]], dtype=np.float64), (n, 1))
        if self.aspect is not None:
            ratio = rng.random((n, 1)) * 2 - 1
            samples[:, 2:] *= self.aspect ** np.concatenate([ratio, -ratio], axis=1)
        mean_size = np.mean(box[2:])
        if self.kind == "gaussian":
            samples[:, :2] += self.trans * mean_size * np.clip(0.5 * rng.standard_normal((n, 2)), -1, 1)
            samples[:, 2:] *= self.scale ** np.clip(0.5 * rng.standard_normal((n, 1)), -1, 1)
        elif self.kind == "uniform":
            samples[:, :2] += self.trans * mean_size * (rng.random((n, 2)) * 2 - 1)
            samples[:, 2:] *= self.scale ** (rng.random((n, 1)) * 2 - 1)
        else:
            side = int(np.ceil(2 * np.sqrt(n)))
            grid = np.stack(np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side)), -1).reshape(-1, 2)
            grid = grid[rng.permutation(len(grid))[:n]]
            samples[:, :2] = box[2:] / 2 + grid * (self.image_size - box[2:] / 2 - 1)
            samples[:, 2:] *= self.scale ** (rng.random((n, 1)) * 2 - 1)
        floor = np.minimum(MIN_SIDE, box[2:] / 2)
        samples[:, 2:] = np.clip(samples[:, 2:], floor, np.maximum(self.image_size - MIN_SIDE, floor))
        samples[:, :2] = np.clip(samples[:, :2], 0, self.image_size)
        samples[:, :2] -= samples[:, 2:] / 2
        return samples

    def draw_in_overlap(self, box: np.ndarray, n: int, overlap: tuple[float, float],
                        rng: np.random.Generator, accept: Callable[[np.ndarray], np.ndarray] | None = None,
                        max_rounds: int = 20) -> np.ndarray:
        """Up to ``n`` boxes whose IoU with ``box`` lies in ``overlap`` (and that ``accept`` keeps)."""
        kept: list[np.ndarray] = []
        found = 0
        for _ in range(max_rounds):
            samples = self.draw(box, 2 * n, rng)
            overlaps = iou(samples, box)
            keep = (overlaps >= overlap[0]) & (overlaps <= overlap[1])
            if accept is not None:
                keep &= accept(samples)
            kept.append(samples[keep])
            found += int(keep.sum())
            if found >= n:
                break
        return np.concatenate(kept)[:n]
