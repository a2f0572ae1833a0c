"""A sequence of frames with optional ground truth, read lazily."""

from __future__ import annotations

import math
import os
import sys
import tempfile
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from tracker.errors import TrackerError, clipped
from tracker.files import opencv_name


class Sequence(ABC):
    """Frames (RGB uint8) and, when known, one ground-truth box per frame."""

    def __init__(self, name: str, ground_truth: np.ndarray | None = None,
                 ground_truth_file: Path | None = None) -> None:
        self.name = name
        self.ground_truth = ground_truth
        self.ground_truth_file = ground_truth_file
        self.bound: tuple[int, int] | None = None  # (width, height) IoU clips boxes to, where a benchmark says
        self.fps: float | None = None  # the source's frame rate, where it says (a video file's header)

    def input_files(self) -> list[tuple[str, Path]]:
        """``(what, path)`` for each file the sequence is read from: outputs must never replace one."""
        return [("the ground truth", self.ground_truth_file)] if self.ground_truth_file is not None else []

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __iter__(self) -> Iterator[np.ndarray]: ...

    def first_frame(self) -> np.ndarray:
        return next(iter(self))

    @property
    def announced_length(self) -> int | None:
        """How many frames it has, when that is known without reading them all (a video may not say)."""
        return len(self)


class CorruptFrameWarning(UserWarning):
    """A frame decoded only in part (libjpeg's "Corrupt JPEG data"): tracking goes on with what decoded."""


class TruncatedVideoWarning(UserWarning):
    """A video that ends before the frame count its header announces: what was read is tracked."""


# one temporary file per process, reused by every read (a frame is read 30 times a second); the lock is held
# for the whole capture, so only the thread holding it ever sees _capturing set
_capture_lock = threading.RLock()
_capture_file = None
_capturing = False


@contextmanager
def decoder_messages() -> Iterator[list[str]]:
    """Catch what C decoders print on file descriptor 2 (libjpeg warns there and decodes anyway). Where no
    temporary file can be made (a full or read-only temp folder), their lines go to stderr as they are."""
    global _capture_file, _capturing
    messages: list[str] = []
    with _capture_lock:
        if _capture_file is None and not _capturing:
            try:
                _capture_file = tempfile.TemporaryFile()
            except OSError:
                pass
        if _capturing or _capture_file is None:  # nested (the enclosing capture gets the lines), or no file
            yield messages
            return
        caught = _capture_file
        caught.seek(0)
        caught.truncate()
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        _capturing = True
        try:
            yield messages
        finally:
            _capturing = False
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            messages += [m for m in caught.read(65536).decode(errors="replace").splitlines() if m.strip()]


def read_image(path: Path) -> np.ndarray:
    """RGB uint8. Unreadable -> error; decoded in part -> a :class:`CorruptFrameWarning` naming the frame."""
    with decoder_messages() as messages:
        image = cv2.imread(opencv_name(path, "frame"), cv2.IMREAD_COLOR)
    if image is None:
        raise TrackerError(f"unreadable frame: {path}")
    if messages:
        warnings.warn(f"frame {path} is corrupt ({messages[0]}); tracking it as decoded", CorruptFrameWarning,
                      stacklevel=2)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageSequence(Sequence):
    def __init__(self, name: str, paths: list[Path], ground_truth: np.ndarray | None = None,
                 ground_truth_file: Path | None = None) -> None:
        super().__init__(name, ground_truth, ground_truth_file)
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def input_files(self) -> list[tuple[str, Path]]:
        return super().input_files() + [("a frame", path) for path in self.paths]

    def __iter__(self) -> Iterator[np.ndarray]:
        size = None
        for path in self.paths:
            image = read_image(path)
            if size is None:
                size = image.shape[:2]
            elif image.shape[:2] != size:
                raise TrackerError(f"frame {path} is {image.shape[1]}x{image.shape[0]}, but the sequence's first "
                                   f"frame is {size[1]}x{size[0]}: every frame of a sequence must have one size")
            yield image


class VideoSequence(Sequence):
    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.path = path
        with decoder_messages() as messages:
            capture = cv2.VideoCapture(opencv_name(path, "video"))
            ok = capture.isOpened() and capture.read()[0]
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if ok else 0
            rate = capture.get(cv2.CAP_PROP_FPS) if ok else 0.0
            capture.release()
        self.fps = float(rate) if math.isfinite(rate) and 0.0 < rate <= 1000.0 else None
        # a raw MJPEG stream, or a container without an index, has no count (OpenCV says -1): read to the end
        self.n_frames: int | None = count if count > 0 else None
        if not ok:
            detail = f" ({clipped(messages[0])})" if messages else ""
            raise TrackerError(f"cannot read video file: {path}{detail}")

    @property
    def announced_length(self) -> int | None:
        return self.n_frames

    def __len__(self) -> int:
        """The header's frame count; without one, the frames counted by reading the video through once."""
        if self.n_frames is None:
            capture = cv2.VideoCapture(opencv_name(self.path, "video"))
            counted = 0
            try:
                while capture.grab():
                    counted += 1
            finally:
                capture.release()
            self.n_frames = counted
        return self.n_frames

    def input_files(self) -> list[tuple[str, Path]]:
        return [("the video", self.path)]

    def __iter__(self) -> Iterator[np.ndarray]:
        capture = cv2.VideoCapture(opencv_name(self.path, "video"))
        read = 0
        said: list[str] = []
        try:
            while True:
                with decoder_messages() as messages:  # FFmpeg's own lines, folded into one warning below
                    ok, frame = capture.read()
                said = said or messages[:1]
                if not ok:
                    break
                read += 1
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()
        if self.n_frames is not None and read < self.n_frames:
            detail = f" (the decoder says: {clipped(said[0])})" if said else ""
            warnings.warn(f"video {self.path} ended after {read} of the {self.n_frames} frames its header announces"
                          f"{detail}", TruncatedVideoWarning, stacklevel=2)


class ArraySequence(Sequence):
    def __init__(self, name: str, frames: list[np.ndarray], ground_truth: np.ndarray | None = None) -> None:
        super().__init__(name, ground_truth)
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.frames)


def frame_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` -> (width, height), each 16-8192 pixels."""
    width, sep, height = text.strip().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and 16 <= int(width) <= 8192 and 16 <= int(height) <= 8192):
        raise TrackerError(f"a frame size is WIDTHxHEIGHT, 16-8192 pixels each, got {text.strip()!r}")
    return int(width), int(height)


class ResizedSequence(Sequence):
    """``sequence`` with every frame resized to ``size`` (width, height) and its boxes scaled alike: the same
    video at a webcam's sizes, for what the frame size costs (``tracker.evaluation.speed --frame-sizes``)."""

    def __init__(self, sequence: Sequence, size: tuple[int, int]) -> None:
        height, width = sequence.first_frame().shape[:2]
        scale = np.array([size[0] / width, size[1] / height] * 2)
        ground_truth = None if sequence.ground_truth is None else sequence.ground_truth * scale
        super().__init__(f"{sequence.name}@{size[0]}x{size[1]}", ground_truth)
        self.sequence, self.size = sequence, size

    def __len__(self) -> int:
        return len(self.sequence)

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.sequence:
            yield cv2.resize(frame, self.size, interpolation=cv2.INTER_LINEAR)
