"""A sequence of frames with optional ground truth, read lazily."""

from __future__ import annotations

import atexit
import math
import os
import re
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
FFMPEG_CONTEXT = re.compile(r"^\[([^\]@]*?) @ 0x[0-9a-fA-F]+\]")  # "[mpeg4 @ 0x55e6...]": the pointer is no news


@contextmanager
def decoder_messages() -> Iterator[list[str]]:
    """Catch what C decoders print on file descriptor 2 (libjpeg warns there and decodes anyway; FFmpeg says why a
    video will not open). Python's own messages (``sys.stderr``, any thread's) still reach the real stderr while
    descriptor 2 is caught. Where no temporary file can be made (a full or read-only temp folder), the decoders'
    lines go to stderr as they are."""
    global _capture_file, _capturing
    messages: list[str] = []
    with _capture_lock:
        if _capture_file is None and not _capturing:
            try:
                _capture_file = tempfile.TemporaryFile()
                atexit.register(_capture_file.close)
            except OSError:
                pass
        if _capturing or _capture_file is None:  # nested (the enclosing capture gets the lines), or no file
            yield messages
            return
        caught = _capture_file
        caught.seek(0)
        caught.truncate()
        ours = sys.stderr
        if ours is not None:
            ours.flush()
        saved = os.dup(2)
        # a warning printed by another thread meanwhile goes where it always went, not into the decoders' lines
        real = open(saved, "w", closefd=False, encoding=getattr(ours, "encoding", None) or "utf-8",  # noqa: SIM115
                    errors="backslashreplace", buffering=1) if _writes_to_fd2(ours) else None
        os.dup2(caught.fileno(), 2)
        if real is not None:
            sys.stderr = real
        _capturing = True
        try:
            yield messages
        finally:
            _capturing = False
            if real is not None:
                if sys.stderr is real:
                    sys.stderr = ours
                real.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            said = caught.read(65536).decode(errors="replace").splitlines()
            messages += [FFMPEG_CONTEXT.sub(r"[\1]", line).strip() for line in said if line.strip()]


def _writes_to_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False  # a test's capture, or no stream: nothing of ours goes through descriptor 2


def open_video(name: str) -> cv2.VideoCapture:
    """A capture of a video file or stream, decoded in the calling thread: FFmpeg's frame threads printed their
    complaints about a damaged frame after :func:`decoder_messages` had given descriptor 2 back (measured: one
    decoder thread costs 0.6 ms a frame at 1080p)."""
    return cv2.VideoCapture(name, cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])


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
        self.damage_said = False  # a damaged frame was warned about (the first frame is read twice)
        with decoder_messages() as messages:
            capture = open_video(opencv_name(path, "video"))
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
            counted = 0
            with decoder_messages():  # a damaged frame's complaint is said, once, when the frames are read
                capture = open_video(opencv_name(self.path, "video"))
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
        with decoder_messages():
            capture = open_video(opencv_name(self.path, "video"))
        read = 0
        damaged: tuple[int, str] | None = None  # the first frame the decoder complained about, and its words
        ended: str | None = None  # its words on the read that ended the video early
        try:
            while True:
                with decoder_messages() as messages:  # FFmpeg's own lines, folded into one warning at the end
                    ok, frame = capture.read()
                if not ok:
                    ended = next(iter(messages), None)
                    break
                read += 1
                damaged = damaged or ((read, messages[0]) if messages else None)
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        except GeneratorExit:  # the reader stopped early (--max-frames, the first frame alone)
            self._say_damage(damaged)
            raise
        finally:
            with decoder_messages():
                capture.release()
        if self.n_frames is not None and read < self.n_frames:
            said = damaged[1] if damaged else ended
            detail = f" (the decoder says: {clipped(said)})" if said else ""
            warnings.warn(f"video {self.path} ended after {read} of the {self.n_frames} frames its header announces"
                          f"{detail}", TruncatedVideoWarning, stacklevel=2)
        else:
            self._say_damage(damaged)

    def _say_damage(self, damaged: tuple[int, str] | None) -> None:
        if damaged is None or self.damage_said:
            return
        self.damage_said = True  # once per video: a damaged stream complains on most frames after the first
        warnings.warn(f"video {self.path}: frame {damaged[0]} is damaged (the decoder says: {clipped(damaged[1])}); "
                      "it and any later damaged frame were tracked as decoded", CorruptFrameWarning, stacklevel=3)


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
