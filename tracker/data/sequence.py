"""A sequence of frames with optional ground truth, read lazily."""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from tracker.errors import TrackerError


class Sequence(ABC):
    """Frames (RGB uint8) and, when known, one ground-truth box per frame."""

    def __init__(self, name: str, ground_truth: np.ndarray | None = None) -> None:
        self.name = name
        self.ground_truth = ground_truth

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __iter__(self) -> Iterator[np.ndarray]: ...

    def first_frame(self) -> np.ndarray:
        return next(iter(self))


class CorruptFrameWarning(UserWarning):
    """A frame decoded only in part (libjpeg's "Corrupt JPEG data"): tracking goes on with what decoded."""


@contextmanager
def decoder_messages() -> Iterator[list[str]]:
    """Catch what C decoders print on file descriptor 2 (libjpeg warns there and decodes anyway)."""
    messages: list[str] = []
    with tempfile.TemporaryFile() as caught:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            yield messages
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            messages += [m for m in caught.read().decode(errors="replace").splitlines() if m.strip()]


def read_image(path: Path) -> np.ndarray:
    """RGB uint8. Unreadable -> error; decoded in part -> a :class:`CorruptFrameWarning` naming the frame."""
    with decoder_messages() as messages:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise TrackerError(f"unreadable frame: {path}")
    if messages:
        warnings.warn(f"frame {path} is corrupt ({messages[0]}); tracking it as decoded", CorruptFrameWarning,
                      stacklevel=2)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageSequence(Sequence):
    def __init__(self, name: str, paths: list[Path], ground_truth: np.ndarray | None = None) -> None:
        super().__init__(name, ground_truth)
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield read_image(path)


class VideoSequence(Sequence):
    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.path = path
        capture = cv2.VideoCapture(str(path))
        ok = capture.isOpened() and capture.read()[0]
        self.n_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if ok else 0
        capture.release()
        if not ok:
            raise TrackerError(f"cannot read video file: {path}")

    def __len__(self) -> int:
        return self.n_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        capture = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()


class ArraySequence(Sequence):
    def __init__(self, name: str, frames: list[np.ndarray], ground_truth: np.ndarray | None = None) -> None:
        super().__init__(name, ground_truth)
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.frames)
