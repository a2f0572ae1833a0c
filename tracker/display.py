"""What the command line and the live demo show and record: boxes drawn, annotated videos, a screen check."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from tracker.errors import TrackerError

VIDEO_FPS = 30.0  # the rate of a saved video when the source does not say (OTB's frame folders)


def check_display(what: str) -> None:
    """Fail with one line where a window cannot open (Qt would abort the process instead)."""
    if not sys.platform.startswith("linux") or os.environ.get("WAYLAND_DISPLAY"):
        return
    display = os.environ.get("DISPLAY", "")
    if not display:
        raise TrackerError(f"no display available: {what} needs a screen (DISPLAY is not set)")
    if display.startswith(":") and not Path(f"/tmp/.X11-unix/X{display[1:].split('.')[0]}").exists():
        raise TrackerError(f"no display available: no X server is running on DISPLAY={display}")


def draw_box(canvas: np.ndarray, box: np.ndarray, colour: tuple[int, int, int]) -> None:
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, 2)


class VideoRecorder:
    """An mp4 of BGR frames, opened on the first frame (its size is the video's)."""

    def __init__(self, path: str, fps: float = VIDEO_FPS) -> None:
        self.path = path
        self.fps = fps
        self.writer: cv2.VideoWriter | None = None

    def write(self, canvas_bgr: np.ndarray) -> None:
        if self.writer is None:
            self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                          (canvas_bgr.shape[1], canvas_bgr.shape[0]))
            if not self.writer.isOpened():
                raise TrackerError(f"cannot write video {self.path}")
        self.writer.write(canvas_bgr)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
