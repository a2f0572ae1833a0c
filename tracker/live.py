"""Live tracking from a camera, stream or video file, with an interactive overlay window.

The newest frame is always the one tracked: a reader thread keeps only the latest frame of the
source, and frames that arrive while the tracker is busy are counted as skipped, never queued.
Several targets: a adds one (drag its box), tab selects the next, x removes the selected one; each is drawn in
its own colour with its id, score and lost state, and u switches the rule of all. Keys: r re-select (one target
again), a add, tab next, x remove, space pause/resume, u cycle updater (re-initialises every target on the
current frame), s snapshot PNG, q / Esc quit.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from tracker.boxes import check_box
from tracker.config import TrackerConfig
from tracker.data.sequence import decoder_messages, open_video
from tracker.display import VideoRecorder, check_display, draw_box, draw_target
from tracker.errors import TrackerError, clipped
from tracker.files import opencv_name
from tracker.tracking import FrameResult, Tracker
from tracker.updaters import UPDATERS

UPDATER_CYCLE = tuple(UPDATERS)  # the u key walks every registered rule
FAILED_READS_BEFORE_UNPLUGGED = 50


class Capture(Protocol):
    """What ``cv2.VideoCapture`` offers and the live loop uses (tests pass a fake)."""

    def isOpened(self) -> bool: ...  # noqa: N802 - OpenCV's name

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


def open_capture(source: str) -> tuple[cv2.VideoCapture, bool]:
    """(capture, is_camera) for a camera index, a video file or a stream URL."""
    is_camera = source.isascii() and source.isdigit()  # not str.isdigit alone: '²' is a digit to it
    if is_camera and int(source) >= 2**31:
        raise TrackerError(f"no camera at index {source}")
    if not is_camera and "://" not in source and not Path(source).is_file():
        raise TrackerError(f"no such video file: {source}")
    if not is_camera:
        opencv_name(source, "video source")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our one line says it
    with decoder_messages() as said:  # FFmpeg's own reason ("moov atom not found"): folded into our line
        capture = cv2.VideoCapture(int(source)) if is_camera else open_video(source)
        opened = capture.isOpened()
        if not opened:
            capture.release()
    if not opened:
        detail = f" ({clipped(said[0])})" if said else ""
        raise TrackerError(f"no camera at index {source}" if is_camera
                           else f"cannot open video source {source}{detail}")
    return capture, is_camera


class LatestFrameReader:
    """Reads ``capture`` in a thread and keeps only the newest frame (RGB) and its number.

    ``pace_fps`` plays a file at its own rate, as a live source would deliver it. ``every_frame`` instead
    reads the next frame only once the last one was taken: a recorded clip played at the tracker's pace,
    every frame tracked.
    """

    def __init__(self, capture: Capture, is_camera: bool, pace_fps: float | None = None,
                 every_frame: bool = False) -> None:
        self.capture = capture
        self.is_camera = is_camera
        self.pace = 1.0 / pace_fps if pace_fps else 0.0
        self.every_frame = every_frame
        self.lock = threading.Condition()
        self.frame: np.ndarray | None = None
        self.frame_id = -1
        self.taken_id = -1  # the newest frame handed out by latest()
        self.ended = False  # a file or stream finished
        self.decoder_said: tuple[int, str] | None = None  # the decoder's first complaint on a file: frame, words
        self.failed = False  # a camera stopped delivering frames
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LatestFrameReader:
        self.thread.start()
        return self

    def _run(self) -> None:
        failures = 0
        while not self.stopping:
            start = time.perf_counter()
            if self.is_camera:  # a camera's read waits for the next frame: descriptor 2 is not held that long
                ok, frame = self.capture.read()
            else:
                with decoder_messages() as said:  # said once, at the end (run_webcam), not over the window
                    ok, frame = self.capture.read()
                if said and self.decoder_said is None:
                    self.decoder_said = (self.frame_id + 2, said[0])  # frames are numbered from 1 here
            if not ok or frame is None:
                failures += 1
                if not self.is_camera or failures >= FAILED_READS_BEFORE_UNPLUGGED:
                    self.failed, self.ended = self.is_camera, not self.is_camera
                    return
                time.sleep(0.01)
                continue
            failures = 0
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            with self.lock:
                self.frame, self.frame_id = rgb, self.frame_id + 1
                while self.every_frame and self.taken_id < self.frame_id and not self.stopping:
                    self.lock.wait(0.05)
            if self.pace:
                time.sleep(max(0.0, self.pace - (time.perf_counter() - start)))

    def latest(self, after: int, timeout: float = 5.0) -> tuple[int, np.ndarray | None]:
        """The newest frame numbered above ``after``; (after, None) once the source has stopped."""
        deadline = time.perf_counter() + timeout
        while True:
            with self.lock:
                if self.frame_id > after:
                    self.taken_id = self.frame_id
                    self.lock.notify_all()
                    return self.frame_id, self.frame
            if self.ended or self.failed or time.perf_counter() > deadline:
                return after, None
            time.sleep(0.001)

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(timeout=2)
        self.capture.release()


class Targets(Protocol):
    """What the live loop drives: :class:`~tracker.multi.MultiTargetTracker`, or :class:`OneTarget`."""

    def init(self, image: np.ndarray, boxes: list[np.ndarray]) -> list[int]: ...

    def add(self, image: np.ndarray, box: np.ndarray) -> int: ...

    def remove(self, target_id: int) -> None: ...

    def update(self, image: np.ndarray) -> dict[int, FrameResult]: ...


class OneTarget:
    """A single-target tracker (an OpenCV peer) in the :class:`Targets` shape: one target, id 1."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def init(self, image: np.ndarray, boxes: list[np.ndarray]) -> list[int]:
        self.tracker.init(image, boxes[0])
        return [1]

    def add(self, image: np.ndarray, box: np.ndarray) -> int:
        raise TrackerError("this tracker follows one target: r re-selects it")

    def remove(self, target_id: int) -> None:
        raise TrackerError("this tracker follows one target: r re-selects it")

    def update(self, image: np.ndarray) -> dict[int, FrameResult]:
        return {1: self.tracker.track_frame(image)}


class Window(Protocol):
    def show(self, image_bgr: np.ndarray) -> None: ...

    def key(self) -> int:
        """The key pressed since the last call (-1 for none)."""

    def select(self, image_rgb: np.ndarray) -> np.ndarray | None:
        """A box the user drags around the target, or None if they give up."""

    def paint(self) -> None:
        """Draw what was shown now, before a long computation (HighGUI draws only inside waitKey)."""

    def close(self) -> None: ...


class OpenCVWindow:
    """An OpenCV HighGUI window with mouse-drag box selection."""

    def __init__(self, title: str = "bdfa-tracker live") -> None:
        check_display("the live demo")  # Qt aborts the process where no window can open
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)

    def show(self, image_bgr: np.ndarray) -> None:
        cv2.imshow(self.title, image_bgr)

    def key(self) -> int:
        return cv2.waitKey(1)

    def select(self, image_rgb: np.ndarray) -> np.ndarray | None:
        x, y, w, h = cv2.selectROI(self.title, selection_canvas(image_rgb), showCrosshair=False)
        return np.array([x, y, w, h], dtype=float) if w > 0 and h > 0 else None

    def paint(self) -> None:
        cv2.waitKey(1)

    def close(self) -> None:
        cv2.destroyWindow(self.title)


@dataclass
class LiveStats:
    frames: int = 0
    skipped: int = 0
    fps: float = 0.0
    snapshots: int = 0


def draw_lines(canvas: np.ndarray, lines: list[str]) -> np.ndarray:
    """``lines`` of white text outlined in black, top left of ``canvas`` (BGR), readable on any frame."""
    for i, text in enumerate(lines):
        for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(canvas, text, (8, 20 + 20 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.55, colour, width, cv2.LINE_AA)
    return canvas


SELECT_HINT = ["drag a box around the target,", "then ENTER or SPACE (c: cancel)"]


def selection_canvas(image_rgb: np.ndarray) -> np.ndarray:
    """The frame a box is drawn on (BGR), with how to draw it on screen, not only in the terminal."""
    return draw_lines(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), SELECT_HINT)


def draw_overlay(image_rgb: np.ndarray, rows: dict[int, tuple[np.ndarray, float, bool]], updater: str,
                 stats: LiveStats, paused: bool, selected: int | None = None, notice: str = "") -> np.ndarray:
    """The frame with each target's (box, score, lost), by id: one target green (red where lost) with its score
    in the corner; several each in its colour, labelled with its id and score or "lost", the selected one
    outlined twice."""
    canvas = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    lines = [f"{updater}  {stats.fps:.1f} fps"]
    if len(rows) == 1:
        (box, score, lost), = rows.values()
        draw_box(canvas, box, (0, 0, 255) if lost else (0, 255, 0))
        lines.append("lost" if lost else ("found" if np.isnan(score) else f"score {score:+.2f}"))
    else:
        for target, (box, score, lost) in rows.items():
            draw_target(canvas, box, target, lost, "" if lost or not np.isfinite(score) else f"{score:+.1f}")
            if target == selected:
                draw_box(canvas, np.asarray(box) + [-3, -3, 6, 6], (255, 255, 255))
        lines.append(f"{len(rows)} targets" + (f", {selected} selected (x removes)" if selected in rows else "")
                     if rows else "no target: a adds one")
    return draw_lines(canvas, lines + [f"skipped {stats.skipped}"] + (["PAUSED"] if paused else [])
                      + ([notice] if notice else []))


def save_snapshot(folder: Path, image_bgr: np.ndarray) -> bool:
    """The next free ``snapshot_NNN.png`` in ``folder`` (an earlier session's are kept); a warning if it fails."""
    number = 1
    while (folder / f"snapshot_{number:03d}.png").exists():
        number += 1
    path = folder / f"snapshot_{number:03d}.png"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = cv2.imwrite(opencv_name(path, "snapshot"), image_bgr)
    except (OSError, cv2.error, TrackerError):
        written = False
    if not written:
        warnings.warn(f"cannot write the snapshot {path}", stacklevel=2)
    return written


def start_on(tracker: Targets, frame: np.ndarray, boxes: list[np.ndarray], window: Window) -> list[int]:
    """``tracker.init`` on ``frame``, with the frame on screen meanwhile: the first frame trains for about a
    second, and a window left black that long looks broken."""
    canvas = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    for box in boxes:
        draw_box(canvas, box, (0, 255, 255))
    window.show(draw_lines(canvas, ["learning the target..." if len(boxes) == 1 else "learning the targets..."]))
    window.paint()
    return tracker.init(frame, boxes)


TAB = 9


def run_live(reader: LatestFrameReader, window: Window, config: TrackerConfig,
             make_tracker: Callable[[TrackerConfig], Targets], init_boxes: list[np.ndarray] | None = None,
             save: str | None = None, snapshot_dir: str = ".", fixed_name: str | None = None) -> LiveStats:
    """The live loop. Returns when the user quits or a file ends; raises TrackerError on failure.

    ``fixed_name``: the tracker is not ours (an OpenCV peer, one target): the overlay shows that name, and ``u``
    (which cycles our learning rules) and ``a`` / ``x`` (several targets) do nothing. However it ends (a box
    outside the frame, a weights file missing), the reader's thread is stopped and the window closed before it
    returns: a reader still inside OpenCV's capture at exit aborted the process after our error line.
    """
    try:
        return _live_loop(reader, window, config, make_tracker, init_boxes, save, snapshot_dir, fixed_name)
    finally:
        reader.stop()
        window.close()


def _live_loop(reader: LatestFrameReader, window: Window, config: TrackerConfig,
               make_tracker: Callable[[TrackerConfig], Targets], init_boxes: list[np.ndarray] | None,
               save: str | None, snapshot_dir: str, fixed_name: str | None) -> LiveStats:
    frame_id, frame = reader.latest(-1)
    if frame is None:
        raise TrackerError("the video source delivered no frame")
    if not init_boxes:
        chosen = window.select(frame)
        if chosen is None:
            return LiveStats()
        init_boxes = [chosen]
    boxes = [check_box(box, frame.shape) for box in init_boxes]
    updater = fixed_name or config.learning.updater  # what the overlay names
    tracker = make_tracker(config)
    rows = {i: (box, float("nan"), False) for i, box in zip(start_on(tracker, frame, boxes, window), boxes)}
    selected = max(rows)
    stats, paused, notice = LiveStats(), False, ""
    recorder = VideoRecorder(save) if save else None
    overlay = draw_overlay(frame, rows, updater, stats, paused, selected)
    finished = False
    try:
        while True:
            key = window.key() & 0xFF
            if key in (ord("q"), 27):
                break
            if key == ord(" "):
                paused = not paused
            elif key == ord("s"):
                stats.snapshots += save_snapshot(Path(snapshot_dir), overlay)
            elif key == TAB and rows:
                ids = list(rows)
                selected = ids[(ids.index(selected) + 1) % len(ids)] if selected in ids else ids[0]
            elif key in (ord("a"), ord("x")) and fixed_name is None:
                notice = ""
                try:  # a box on a tracked target, or outside the frame: said on screen, the others go on
                    if key == ord("a"):
                        chosen = window.select(frame)
                        if chosen is not None:
                            target = tracker.add(frame, chosen) if rows else start_on(tracker, frame, [chosen],
                                                                                      window)[0]
                            rows[target], selected = (np.asarray(chosen, float), float("nan"), False), target
                    elif selected in rows:
                        tracker.remove(selected)
                        del rows[selected]
                        selected = max(rows) if rows else None
                except TrackerError as exc:
                    notice = str(exc)[:80]
            elif key == ord("r") or (key == ord("u") and fixed_name is None):
                if key == ord("r"):
                    chosen = window.select(frame)
                    boxes = [check_box(chosen, frame.shape)] if chosen is not None else [r[0] for r in rows.values()]
                else:
                    updater = UPDATER_CYCLE[(UPDATER_CYCLE.index(updater) + 1) % len(UPDATER_CYCLE)] \
                        if updater in UPDATER_CYCLE else UPDATER_CYCLE[0]
                    tracker = make_tracker(config.replace(learning={"updater": updater}))
                    boxes = [r[0] for r in rows.values()]
                if boxes:  # every target starts again on this frame, numbered from 1
                    rows = {i: (box, float("nan"), False) for i, box in zip(start_on(tracker, frame, boxes, window),
                                                                          boxes)}
                    selected = max(rows)
            if paused or not rows:
                overlay = draw_overlay(frame, rows, updater, stats, paused, selected, notice)
                window.show(overlay)
                if paused:
                    time.sleep(0.01)
                    continue
            new_id, new_frame = reader.latest(frame_id)
            if new_frame is None:
                if reader.failed:
                    raise TrackerError("the camera stopped delivering frames (unplugged?)")
                break
            stats.skipped += new_id - frame_id - 1
            frame_id, frame = new_id, new_frame
            if not rows:
                continue
            start = time.perf_counter()
            results = tracker.update(frame)
            elapsed = time.perf_counter() - start
            stats.fps = 1 / elapsed if stats.fps == 0 else 0.9 * stats.fps + 0.1 / elapsed
            stats.frames += 1
            rows = {i: (r.box, r.score, r.lost) for i, r in results.items()}
            overlay = draw_overlay(frame, rows, updater, stats, paused, selected, notice)
            window.show(overlay)
            if recorder:
                recorder.write(overlay)
        finished = True
    finally:
        if recorder:
            recorder.close(keep=finished)
    return stats
