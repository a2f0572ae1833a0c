"""What the command line and the live demo show and record: boxes drawn, annotated videos, a screen check."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np

from tracker.data.sequence import decoder_messages, open_video
from tracker.errors import TrackerError, clipped
from tracker.files import opencv_name
from tracker.outputs import Output

VIDEO_FPS = 30.0  # the rate of a saved video when the source does not say (OTB's frame folders)
# Qt's own log lines (fonts, xcb, wayland) are noise on our stderr; a user's own rules win
os.environ.setdefault("QT_LOGGING_RULES", "*=false")
# a window opened and closed in a child process: Qt aborts the process it runs in when it cannot reach a display
WINDOW_PROBE = "import cv2; cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
PROBE_SECONDS = 30


def check_display(what: str) -> None:
    """Fail with one line where a window cannot open, whatever form DISPLAY takes (Qt would abort instead)."""
    if not sys.platform.startswith("linux"):
        return
    display = os.environ.get("DISPLAY", "")
    if not display and not os.environ.get("WAYLAND_DISPLAY"):
        raise TrackerError(f"no display available: {what} needs a screen (DISPLAY is not set)")
    where = f"DISPLAY={display}" if display else f"WAYLAND_DISPLAY={os.environ['WAYLAND_DISPLAY']}"
    try:
        probe = subprocess.run([sys.executable, "-c", WINDOW_PROBE], capture_output=True, text=True,
                               timeout=PROBE_SECONDS)
    except subprocess.TimeoutExpired:
        raise TrackerError(f"no display available: a window on {where} did not open within {PROBE_SECONDS} s") \
            from None
    if probe.returncode != 0:
        said = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
        reason = f" ({clipped(said[0])})" if said else ""
        raise TrackerError(f"no display available: {what} cannot open a window on {where}{reason}")


def draw_box(canvas: np.ndarray, box: np.ndarray, colour: tuple[int, int, int]) -> None:
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, 2)


# BGR, one per target id (cycled): far from the ground truth's green and from each other
TARGET_COLOURS = ((0, 0, 255), (255, 128, 0), (0, 200, 255), (255, 0, 255), (128, 255, 255), (0, 128, 255),
                  (255, 255, 0), (160, 80, 200))


def draw_target(canvas: np.ndarray, box: np.ndarray, target: int, lost: bool = False, note: str = "") -> None:
    """Target ``target``'s box in its colour, labelled with its id and "lost" where it is, else ``note``."""
    colour = TARGET_COLOURS[(target - 1) % len(TARGET_COLOURS)]
    draw_box(canvas, box, colour)
    x, y = int(round(box[0])), int(round(box[1]))
    label = f"{target} lost" if lost else f"{target} {note}".strip()
    cv2.putText(canvas, label, (x + 2, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)


class VideoRecorder:
    """An mp4 of BGR frames, opened on the first frame (its size is the video's). It is written beside ``path``
    and moved there by ``close()``; ``close(keep=False)`` (a failed run) leaves ``path`` as it was."""

    def __init__(self, path: str, fps: float = VIDEO_FPS) -> None:
        opencv_name(path, "--save")  # before anything is made beside it
        self.output = Output(path, "--save", streams=False)
        self.fps = fps
        self.writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, canvas_bgr: np.ndarray) -> None:
        if self.writer is None:
            # FFmpeg only: OpenCV's fallback, an image per frame, would number files after digits in the name
            with decoder_messages() as messages:  # FFmpeg's own lines: folded into our error
                self.writer = cv2.VideoWriter(str(self.output.temp_path()), cv2.CAP_FFMPEG,
                                              cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                              (canvas_bgr.shape[1], canvas_bgr.shape[0]))
            if not self.writer.isOpened():
                reason = f" ({clipped(messages[-1])})" if messages else ""
                raise TrackerError(f"cannot write video {self.output.path}: OpenCV cannot encode mp4v video into "
                                   f"a {self.output.path.suffix or 'suffix-less'} file{reason}")
        self.writer.write(canvas_bgr)
        self.frames += 1

    def close(self, keep: bool = True) -> None:
        """Move the video into place (``keep``) once it reads back whole, or leave ``path`` as it was. OpenCV's
        writer reports no failed write: a full disk left a video of a few frames, moved into place."""
        wrote = self.writer is not None
        if wrote:
            self.writer.release()
            self.writer = None
        if not (keep and wrote):
            self.output.discard()
            return
        with decoder_messages():  # FFmpeg's own complaint about a cut file: our line says it
            written = open_video(str(self.output.temp_path()))
            frames = int(written.get(cv2.CAP_PROP_FRAME_COUNT)) if written.isOpened() else 0
            written.release()
        if frames < self.frames:
            self.output.discard()
            raise TrackerError(f"cannot write video {self.output.path}: {frames} of {self.frames} frames read back "
                               "(a full disk, or a size limit?)")
        self.output.commit()
