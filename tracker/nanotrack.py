"""NanoTrack v2's Siamese networks, run by OpenCV's DNN module: the crops they read and the decoding of their maps.

NanoTrack (Chu et al., SiamTrackers) is trained offline on many videos (GOT-10k, LaSOT, COCO, ImageNet VID and
DET, YouTube-BB) to say how big a target is. Its backbone (MobileNetV3, 48 channels at stride 16) reads a 127 px
exemplar crop of the target once, and a 255 px search region each frame; its head correlates the two and gives,
per cell of a 16 x 16 grid, a target probability and the distances from the cell's point to the box's four
sides. The decoding is the one the NanoTrack tracker publishes, described here in this project's words:

- a box's *context size* is ``sqrt((w + p) (h + p))`` with ``p = (w + h) / 2``: the exemplar crop has that side
  and the search region ``255 / 127`` times it, both about the target's centre, the frame's mean colour beyond
  its edges;
- each cell's box is scored by its probability times a penalty on the change it makes, in context size and in
  aspect ratio, from the current box: ``exp(-k (r_scale r_aspect - 1))`` with each ``r`` the larger of a
  change and its inverse, then blended with a cosine window over the grid (weight ``window``) that favours
  staying near the centre;
- the best cell gives the centre; the size moves from the current one towards the cell's by a rate of
  ``lr`` times that cell's penalised probability.

The two ONNX files are package data (Apache-2.0, ``tracker/pretrained/NanoTrack-LICENSE.txt``), checked
against their sha256 before they are read.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from tracker.errors import TrackerError

BACKBONE_FILE, HEAD_FILE = "nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx"
EXEMPLAR_SIZE = 127
SEARCH_SIZE = 255
STRIDE = 16
GRID = 16  # cells a side of the head's maps
CONTEXT = 0.5  # of (w + h), added to each side of the box: the exemplar's margin
# the files' sha256, as SOURCES.tsv in ../shared/anchors/models records them (NanoTrack v2, the models OpenCV uses)
FILES = {
    BACKBONE_FILE: "530bdd0cd00f19afab79a863e71ba71e3312395a5dc9151af675082bdaaa2fc4",
    HEAD_FILE: "0d8c0637be849f092cc7236cae02e55c8b9455ebe37ba50601d6115db4247cd9",
}


@dataclass(frozen=True)
class Decoding:
    """How the head's maps become a box (NanoTrack v2's published values are window 0.490, k 0.150, lr 0.385)."""

    window: float
    penalty_k: float
    lr: float


@dataclass(frozen=True)
class HeadBox:
    """The head's reading of one search region: its box in frame pixels and the target probability there."""

    box: np.ndarray  # x, y, w, h
    score: float


def context_side(size: np.ndarray) -> np.ndarray:
    """The side of the square a box of ``size`` (w, h; or (2, ...) of them) is read in, margin included."""
    pad = CONTEXT * (size[0] + size[1])
    return np.sqrt((size[0] + pad) * (size[1] + pad))


def square_crop(image: np.ndarray, centre: np.ndarray, side: float, out: int, fill: np.ndarray) -> np.ndarray:
    """The ``side`` x ``side`` square about ``centre`` (cx, cy) resampled to ``out`` x ``out``; ``fill`` beyond
    the frame. Pixel i covers [i, i + 1): the square's edges are continuous coordinates, not whole pixels."""
    k = out / side
    shift = k * (side / 2 - np.asarray(centre, dtype=np.float64)) + 0.5 * (k - 1)
    matrix = np.array([[k, 0.0, shift[0]], [0.0, k, shift[1]]])
    return cv2.warpAffine(image, matrix, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=tuple(float(v) for v in fill))


def _change(ratio: np.ndarray) -> np.ndarray:
    return np.maximum(ratio, 1.0 / ratio)


COSINE_WINDOW = np.outer(np.hanning(GRID), np.hanning(GRID))
# each cell's point, as (dx, dy) from the search region's centre, in search-crop pixels: (2, GRID, GRID)
CELL_OFFSETS = np.stack(np.meshgrid(*[(np.arange(GRID) - GRID // 2) * STRIDE] * 2)).astype(np.float64)


def decode(probability: np.ndarray, sides: np.ndarray, size: np.ndarray,
           decoding: Decoding) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The head's maps, ``probability`` (GRID, GRID) and ``sides`` (4, GRID, GRID: distances to the left, top,
    right and bottom sides), read against the current ``size`` (w, h), all in search-crop pixels.

    Returns the best cell's centre offset (dx, dy) from the region's centre, the new size (the current one moved
    towards the cell's by the rate), that cell's probability, and the rate."""
    points = CELL_OFFSETS
    x1, y1 = points[0] - sides[0], points[1] - sides[1]
    x2, y2 = points[0] + sides[2], points[1] + sides[3]
    w, h = np.maximum(x2 - x1, 1e-6), np.maximum(y2 - y1, 1e-6)
    scale_change = _change(context_side(np.stack([w, h])) / context_side(size))
    aspect_change = _change((size[0] / size[1]) / (w / h))
    penalty = np.exp(-(scale_change * aspect_change - 1) * decoding.penalty_k)
    ranked = penalty * probability * (1 - decoding.window) + COSINE_WINDOW * decoding.window
    best = np.unravel_index(int(np.argmax(ranked)), ranked.shape)
    rate = float(penalty[best] * probability[best] * decoding.lr)
    centre = np.array([(x1[best] + x2[best]) / 2, (y1[best] + y2[best]) / 2])
    new_size = (1 - rate) * np.asarray(size, dtype=np.float64) + rate * np.array([w[best], h[best]])
    return centre, new_size, float(probability[best]), rate


def _softmax_target(logits: np.ndarray) -> np.ndarray:
    """The target's probability from the head's two-class logits (2, GRID, GRID)."""
    shifted = logits - logits.max(axis=0, keepdims=True)
    exp = np.exp(shifted)
    return exp[1] / exp.sum(axis=0)


def _checked(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrackerError(f"cannot read the NanoTrack model {path}: {exc.strerror or exc}: reinstall the package "
                           "(it ships both files)") from None
    expected = FILES.get(path.name)
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise TrackerError(f"the NanoTrack model {path} is damaged (its sha256 is not the published file's): "
                           "reinstall the package")
    return data


def read_net(path: Path) -> cv2.dnn.Net:
    """One of the two networks, checked against its sha256, as a fresh OpenCV network."""
    data = _checked(path)
    try:
        return cv2.dnn.readNetFromONNX(np.frombuffer(data, dtype=np.uint8))
    except cv2.error as exc:
        raise TrackerError(f"OpenCV cannot read the NanoTrack model {path}: "
                           f"{str(exc).strip().splitlines()[-1][:200]}") from None


# the nets are shared by every tracker of the process and hold their inputs between setInput and forward: two
# trackers in two threads mixed them up (OpenCV asserted on a buffer's shape), so one reading at a time
NETS_IN_USE = threading.RLock()


@cache
def _nets(folder: str) -> tuple[cv2.dnn.Net, cv2.dnn.Net]:
    """The backbone and head, read once per process (a tracker per sequence shares them)."""
    backbone, head = (read_net(Path(folder) / name) for name in FILES)
    return backbone, head


class NanoTrackHead:
    """NanoTrack's template, taken once from the first frame, and its box read about any centre afterwards."""

    def __init__(self, folder: Path, decoding: Decoding) -> None:
        self.backbone, self.head = _nets(str(folder))
        self.decoding = decoding
        self.template: np.ndarray | None = None

    def _features(self, crop: np.ndarray) -> np.ndarray:
        # RGB, 0-255, no normalisation: as OpenCV's TrackerNano feeds it (blobFromImage with swapRB from BGR)
        with NETS_IN_USE:
            self.backbone.setInput(np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32))
            return self.backbone.forward().copy()

    def set_template(self, image: np.ndarray, box: np.ndarray) -> None:
        """The exemplar: ``box`` (x, y, w, h) with its margin, from ``image`` (RGB uint8)."""
        box = np.asarray(box, dtype=np.float64)
        fill = np.asarray(cv2.mean(image)[:3])
        crop = square_crop(image, box[:2] + box[2:] / 2, float(context_side(box[2:])), EXEMPLAR_SIZE, fill)
        self.template = self._features(crop)

    def read(self, image: np.ndarray, centre: np.ndarray, size: np.ndarray) -> HeadBox:
        """The box the head finds in the search region about ``centre`` (cx, cy), scaled for ``size`` (w, h), the
        size it is measured against (the last one reported)."""
        if self.template is None:
            raise RuntimeError("read() before set_template()")
        size = np.asarray(size, dtype=np.float64)
        side = float(context_side(size))
        to_crop = EXEMPLAR_SIZE / side  # frame pixels to crop pixels
        fill = np.asarray(cv2.mean(image)[:3])
        crop = square_crop(image, centre, side * SEARCH_SIZE / EXEMPLAR_SIZE, SEARCH_SIZE, fill)
        with NETS_IN_USE:
            self.head.setInput(self.template, "input1")
            self.head.setInput(self._features(crop), "input2")
            logits, sides = self.head.forward(["output1", "output2"])
        offset, new_size, score, _ = decode(_softmax_target(logits[0].astype(np.float64)),
                                            sides[0].astype(np.float64), size * to_crop, self.decoding)
        box_centre = np.asarray(centre, dtype=np.float64) + offset / to_crop
        new_size = new_size / to_crop
        return HeadBox(np.r_[box_centre - new_size / 2, new_size], score)
