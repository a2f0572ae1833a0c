"""A 1-D correlation filter over a family of resizings of the target: DSST's scale filter.

Danelljan et al., *Accurate Scale Estimation for Robust Visual Tracking* (BMVC 2014; fDSST, TPAMI 2017),
the scale stage of OpenCV's CSRT. The target's patch is cut at S sizes about its centre, each resized to one
small model size and described by histograms of oriented gradients; the filter, learnt with a Gaussian label
over the S sizes, says which of them looks most like the target it has learnt. It compares the target with
itself, so it needs nothing from the classifier but the centre.

The sizes are a family ``size * resize(factor)`` for factors ``step ** k``: a uniform scale
(:func:`scaled`) or an aspect change at constant area (:func:`stretched`), so one filter of each kind
estimates width and height apart.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

MODEL_AREA = 512.0  # DSST's largest model patch area, in pixels
MIN_MODEL_SIDE = 8  # two HOG cells
HOG_CELL = 4
HOG_BINS = 9
HOG_CLIP = 0.2  # Dalal and Triggs' clipping of a normalised histogram
REGULARISATION = 0.01  # DSST's lambda
LABEL_SIGMA = 0.25  # DSST's scale_sigma_factor: the label's width, times sqrt(S), in levels
GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)

Resize = Callable[[np.ndarray, np.ndarray], np.ndarray]


def scaled(size: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(S, 2): ``size`` (w, h) times each factor."""
    return np.asarray(size, dtype=np.float64) * np.asarray(factors, dtype=np.float64)[:, None]


def stretched(size: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(S, 2): ``size`` (w, h) with its aspect ratio w / h times each factor, at the same area."""
    root = np.sqrt(np.asarray(factors, dtype=np.float64))
    return np.asarray(size, dtype=np.float64) * np.stack([root, 1 / root], axis=1)


def model_size(size: np.ndarray) -> tuple[int, int]:
    """The (w, h) every patch is resized to: the target's shape, at most ``MODEL_AREA`` pixels (DSST's rule)."""
    w, h = np.asarray(size, dtype=np.float64)
    factor = min(1.0, np.sqrt(MODEL_AREA / (w * h)))
    return max(int(w * factor), MIN_MODEL_SIDE), max(int(h * factor), MIN_MODEL_SIDE)


def patches(image: np.ndarray, centre: np.ndarray, sizes: np.ndarray, out: tuple[int, int]) -> np.ndarray:
    """Grey patches (S, out_h, out_w), float32, of ``image`` about ``centre`` at each of ``sizes`` (S, 2).

    The region all of them cover is read once, shrunk (area interpolation) to about the resolution of the
    smallest patch, so that the cost does not grow with the target's size; each patch is then resampled off
    that. Parts outside the image repeat its edge, as DSST does.
    """
    height, width = image.shape[:2]
    out_w, out_h = out
    span = sizes.max(axis=0)
    resolution = np.array(out, dtype=np.float64) / sizes.min(axis=0)  # buffer pixels per image pixel
    lo = np.floor(centre - span / 2).astype(int)
    hi = np.ceil(centre + span / 2).astype(int)
    x0, y0 = np.clip(lo, 0, [width - 1, height - 1])
    x1, y1 = np.maximum(np.clip(hi, 0, [width, height]), [x0 + 1, y0 + 1])
    buffer_w = max(int(round((x1 - x0) * resolution[0])), 1)
    buffer_h = max(int(round((y1 - y0) * resolution[1])), 1)
    view = image[y0:y1, x0:x1]
    shrinking = buffer_w < view.shape[1] and buffer_h < view.shape[0]
    buffer = cv2.resize(view, (buffer_w, buffer_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    buffer = buffer.astype(np.float32) @ GREY if buffer.ndim == 3 else buffer.astype(np.float32)
    # image point p is buffer point (p - origin) * gain - 0.5 (pixel centres, OpenCV's convention)
    gain = np.array([buffer_w / (x1 - x0), buffer_h / (y1 - y0)])
    result = np.empty((len(sizes), out_h, out_w), dtype=np.float32)
    for i, size in enumerate(sizes):
        step = size * gain / np.array(out)  # buffer pixels per patch pixel
        start = (centre - size / 2 - [x0, y0]) * gain + 0.5 * step - 0.5
        matrix = np.array([[step[0], 0, start[0]], [0, step[1], start[1]]])
        result[i] = cv2.warpAffine(buffer, matrix, out, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REPLICATE)
    return result


def gradient_histograms(patches: np.ndarray) -> np.ndarray:
    """HOG (S, cells * HOG_BINS): unsigned orientations, soft-binned, per ``HOG_CELL`` cell, each cell's
    histogram L2-normalised and clipped (Dalal and Triggs)."""
    n, height, width = patches.shape
    rows, cols = height // HOG_CELL, width // HOG_CELL
    patches = patches[:, :rows * HOG_CELL, :cols * HOG_CELL]
    gx = np.zeros_like(patches)
    gy = np.zeros_like(patches)
    gx[:, :, 1:-1] = patches[:, :, 2:] - patches[:, :, :-2]
    gy[:, 1:-1, :] = patches[:, 2:, :] - patches[:, :-2, :]
    magnitude = np.hypot(gx, gy).ravel()
    position = (np.mod(np.arctan2(gy, gx), np.pi) * (HOG_BINS / np.pi)).ravel()
    lower = np.floor(position)
    upper_weight = position - lower
    lower = lower.astype(np.int64) % HOG_BINS
    # every pixel's cell, as a flat (patch, cell row, cell column) index
    cell_rows = np.arange(rows * HOG_CELL) // HOG_CELL
    cell_cols = np.arange(cols * HOG_CELL) // HOG_CELL
    cells = (np.arange(n)[:, None, None] * rows + cell_rows[None, :, None]) * cols + cell_cols[None, None, :]
    cells = cells.ravel() * HOG_BINS
    size = n * rows * cols * HOG_BINS
    histogram = (np.bincount(cells + lower, magnitude * (1 - upper_weight), size)
                 + np.bincount(cells + (lower + 1) % HOG_BINS, magnitude * upper_weight, size))
    histogram = histogram.reshape(n, rows, cols, HOG_BINS)
    histogram /= np.linalg.norm(histogram, axis=3, keepdims=True) + 1e-6
    return np.minimum(histogram, HOG_CLIP).reshape(n, -1)


class SizeFilter:
    """DSST's 1-D filter over ``levels`` resizings ``step ** k`` apart (k centred on 0), by ``resize``.

    ``fit`` learns the target at ``size``; ``estimate`` returns the factor whose resizing matches best, within
    ``max_change``; ``update`` blends in the target at its new size at rate ``rate`` (DSST's Eq. 5 running
    numerator and denominator).
    """

    def __init__(self, resize: Resize, levels: int, step: float, rate: float, max_change: float) -> None:
        self.resize = resize
        self.rate = rate
        offsets = np.arange(levels) - (levels - 1) // 2
        self.factors = step ** offsets.astype(np.float64)
        self.step = step
        self.max_log_change = np.log(max_change)
        self.allowed = np.abs(np.log(self.factors)) <= self.max_log_change + 1e-9
        sigma = LABEL_SIGMA * np.sqrt(levels)
        label = np.exp(-0.5 * offsets.astype(np.float64) ** 2 / sigma ** 2)
        self.label_f = np.fft.fft(np.roll(label, -((levels - 1) // 2)))  # the peak at offset 0, index 0
        self.window = np.hanning(levels + 2)[1:-1] if levels > 1 else np.ones(1)
        self.out: tuple[int, int] | None = None
        self.numerator: np.ndarray | None = None
        self.denominator: np.ndarray | None = None

    def _spectrum(self, image: np.ndarray, centre: np.ndarray, size: np.ndarray) -> np.ndarray:
        assert self.out is not None
        features = gradient_histograms(patches(image, centre, self.resize(size, self.factors), self.out))
        # (D, S): one row per feature, one column per resizing, windowed over the resizings
        return np.fft.fft(features.T.astype(np.float64) * self.window, axis=1)

    def _learn(self, image: np.ndarray, centre: np.ndarray, size: np.ndarray, rate: float) -> None:
        spectrum = self._spectrum(image, centre, size)
        numerator = self.label_f * np.conj(spectrum)
        denominator = np.sum(np.real(spectrum * np.conj(spectrum)), axis=0)
        if self.numerator is None or self.denominator is None:
            self.numerator, self.denominator = numerator, denominator
        else:
            self.numerator = (1 - rate) * self.numerator + rate * numerator
            self.denominator = (1 - rate) * self.denominator + rate * denominator

    def fit(self, image: np.ndarray, centre: np.ndarray, size: np.ndarray) -> None:
        self.out = model_size(size)
        self.numerator = self.denominator = None
        self._learn(image, centre, size, 1.0)

    def response(self, image: np.ndarray, centre: np.ndarray, size: np.ndarray) -> np.ndarray:
        """The filter's response at each resizing of ``size``, in the order of ``factors``."""
        assert self.numerator is not None and self.denominator is not None
        spectrum = self._spectrum(image, centre, size)
        correlation = np.real(np.fft.ifft(np.sum(self.numerator * spectrum, axis=0) / (self.denominator
                                                                                         + REGULARISATION)))
        return np.roll(correlation, (len(self.factors) - 1) // 2)

    def estimate(self, image: np.ndarray, centre: np.ndarray, size: np.ndarray) -> float:
        """The factor, within ``max_change``, whose resizing of ``size`` the filter likes best: the response's
        peak among the allowed levels, refined between levels by a parabola through it and its neighbours
        (fDSST interpolates its 17 levels to 33 for the same reason: one level is a 2% step)."""
        response = self.response(image, centre, size)
        peak = int(np.argmax(np.where(self.allowed, response, -np.inf)))
        offset = 0.0
        if 0 < peak < len(response) - 1:
            left, middle, right = response[peak - 1:peak + 2]
            curvature = left - 2 * middle + right
            if curvature < 0:
                offset = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
        log_factor = np.log(self.factors[peak]) + offset * np.log(self.step)
        return float(np.exp(np.clip(log_factor, -self.max_log_change, self.max_log_change)))

    def update(self, image: np.ndarray, centre: np.ndarray, size: np.ndarray) -> None:
        self._learn(image, centre, size, self.rate)
