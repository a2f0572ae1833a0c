"""A built-in synthetic sequence with known ground truth: no data needed to try the tracker.

A textured target moves over clutter along a smooth path, changes scale, is partly hidden by a
passing occluder and lives through an illumination change. Everything derives from ``seed``.
"""

from __future__ import annotations

import cv2
import numpy as np

from tracker.data.sequence import ArraySequence


def _texture(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Random coloured blobs: noise at a coarse grid, upsampled smoothly."""
    coarse = rng.integers(0, 256, (max(height // cell, 2), max(width // cell, 2), 3)).astype(np.uint8)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def synthetic_sequence(n_frames: int = 60, size: tuple[int, int] = (320, 240), seed: int = 0,
                       name: str = "synthetic", growth: float | None = None,
                       absent: tuple[int, int] | None = None,
                       aspect: tuple[float, float] | None = None) -> ArraySequence:
    """``growth``: the target grows to this many times its first size at mid-sequence and shrinks back
    (default: it swings by +-30%). ``absent``: frames ``[start, stop)`` do not show the target, and their
    ground truth is NaN (how UAV123 marks a target out of view). ``aspect``: the target's width over height
    goes from the first value to the second (geometrically), at the area its scale gives."""
    width, height = size
    rng = np.random.default_rng(seed)
    background = _texture(rng, height, width, 12)
    for _ in range(12):  # distractor clutter: rectangles in the target's colours would be too hard
        x, y = rng.integers(0, width - 20), rng.integers(0, height - 20)
        cv2.rectangle(background, (int(x), int(y)), (int(x + rng.integers(8, 30)), int(y + rng.integers(8, 30))),
                      tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    base_w, base_h = 40, 48
    target = _texture(rng, base_h * 2, base_w * 2, 8)
    cv2.rectangle(target, (0, 0), (base_w * 2 - 1, base_h * 2 - 1), (255, 255, 255), 6)
    cv2.circle(target, (base_w, base_h), base_w // 2, (0, 0, 0), -1)

    frames, boxes = [], []
    for t in range(n_frames):
        phase = t / max(n_frames - 1, 1)
        if growth is None:
            scale = 1.0 + 0.3 * np.sin(2 * np.pi * phase)
        else:
            scale = 1.0 + (growth - 1.0) * np.sin(np.pi * phase)
        w, h = base_w * scale, base_h * scale
        if aspect is not None:
            ratio = aspect[0] * (aspect[1] / aspect[0]) ** phase
            area = w * h
            w, h = np.sqrt(area * ratio), np.sqrt(area / ratio)
        cx = width / 2 + (width / 2 - 50) * np.sin(2 * np.pi * phase)
        cy = height / 2 + (height / 2 - 50) * np.sin(4 * np.pi * phase) * 0.8
        frame = background.copy()
        x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
        patch = cv2.resize(target, (int(round(w)), int(round(h))), interpolation=cv2.INTER_AREA)
        hidden = absent is not None and absent[0] <= t < absent[1]
        if not hidden:  # the part of the patch inside the frame
            top, left = max(-y0, 0), max(-x0, 0)
            visible = patch[top:max(height - y0, 0), left:max(width - x0, 0)]
            frame[y0 + top:y0 + top + visible.shape[0], x0 + left:x0 + left + visible.shape[1]] = visible
        if 0.4 <= phase <= 0.55:  # an occluder crosses over the target's left part
            ox = int(x0 - 10 + (phase - 0.4) / 0.15 * w * 0.6)
            cv2.rectangle(frame, (ox, 0), (ox + int(w * 0.4), height - 1), (90, 90, 90), -1)
        gain = 1.0 - 0.45 * np.clip((phase - 0.6) / 0.2, 0, 1)  # the lights dim
        frame = np.clip(frame.astype(np.float32) * gain + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
        boxes.append([np.nan] * 4 if hidden else [x0, y0, patch.shape[1], patch.shape[0]])
    return ArraySequence(name, frames, np.array(boxes, dtype=np.float64))


def crossing_targets(n_frames: int = 40, size: tuple[int, int] = (320, 240), seed: int = 0) -> list[ArraySequence]:
    """Two textured targets of one size crossing over clutter, one left to right, the other right to left, the
    second passing in front of the first half-way: one sequence per target, sharing their frames (as OTB's
    Jogging.1 and Jogging.2)."""
    width, height = size
    rng = np.random.default_rng(seed)
    background = _texture(rng, height, width, 12)
    w, h = 36, 44
    looks = []
    for colour in ((255, 255, 255), (0, 0, 0)):
        look = _texture(rng, h, w, 6)
        cv2.rectangle(look, (0, 0), (w - 1, h - 1), colour, 4)
        looks.append(look)
    frames, boxes = [], [[], []]
    for t in range(n_frames):
        phase = t / max(n_frames - 1, 1)
        frame = background.copy()
        for k, look in enumerate(looks):  # the second drawn last: in front
            x = 30 + (width - 60 - w) * (phase if k == 0 else 1 - phase)
            y = height / 2 - h / 2 + (-8 if k == 0 else 8)
            x0, y0 = int(round(x)), int(round(y))
            frame[y0:y0 + h, x0:x0 + w] = look
            boxes[k].append([x0, y0, w, h])
        frames.append(np.clip(frame.astype(np.float32) + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8))
    return [ArraySequence(f"crossing.{k + 1}", frames, np.array(b, dtype=np.float64)) for k, b in enumerate(boxes)]
