"""What a frame must be for the tracker: an RGB uint8 array, checked once where it comes in."""

from __future__ import annotations

import numpy as np

from tracker.errors import TrackerError


def as_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 from a grey, RGB or RGBA uint8 array (a PIL image too). Any other dtype is refused, not
    cast: a float frame in [0, 1] would become a black-and-white one, int64 values would wrap, NaN has no byte."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TrackerError(f"a frame must be a uint8 array (values 0-255), got {image.dtype}: convert it first, "
                           "e.g. (frame * 255).round().astype(np.uint8) for floats in [0, 1]")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] < 3:
        raise TrackerError(f"a frame must be H x W grey or H x W x 3 (or 4) colour, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise TrackerError(f"a frame of {image.shape[1]}x{image.shape[0]} pixels has nothing to track")
    return np.ascontiguousarray(image[:, :, :3])
