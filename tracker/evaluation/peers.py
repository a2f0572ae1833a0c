"""OpenCV's CPU trackers behind the same init / update shape as ours, as peers in every comparison.

NanoTrack (``cv2.TrackerNano``) and VitTrack (``cv2.TrackerVit``) ship with ``opencv-python`` but need
their ONNX files (``../shared/anchors/models``); MIL needs nothing; CSRT and KCF come only with
``opencv-contrib-python`` (``cv2`` or ``cv2.legacy``), which cannot sit beside ``opencv-python``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from tracker.boxes import check_box
from tracker.errors import TrackerError, clipped, quoted
from tracker.tracking import FrameResult, SequenceStats

DEFAULT_MODELS = Path(__file__).resolve().parents[3] / "shared" / "anchors" / "models"
# OpenCV's DNN warns on every model load that its new graph engine ignores the target: noise for users
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@cache
def _libc() -> ctypes.CDLL | None:
    """The C library, looked up once (``find_library`` runs ``ldconfig``)."""
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name is not None else None


def _seed_c_rand(seed: int) -> None:
    """Seed the C library's ``rand()``, which MIL's Haar features draw from (OpenCV's RNG does not reach it)."""
    libc = _libc()
    if libc is not None:
        libc.srand(ctypes.c_uint(seed))


def _contrib(name: str) -> Callable[[], object] | None:
    """An opencv-contrib factory, from ``cv2`` (new API) or ``cv2.legacy``; None when absent."""
    return getattr(cv2, name, None) or getattr(getattr(cv2, "legacy", None), name, None)


def _nano(models: Path) -> object:
    params = cv2.TrackerNano_Params()
    params.backbone = str(models / "nanotrack_backbone_sim.onnx")
    params.neckhead = str(models / "nanotrack_head_sim.onnx")
    return cv2.TrackerNano_create(params)


def _vit(models: Path) -> object:
    params = cv2.TrackerVit_Params()
    params.net = str(models / "object_tracking_vittrack_2023sep.onnx")
    return cv2.TrackerVit_create(params)


@dataclass(frozen=True)
class Peer:
    key: str  # what --peers and --tracker take
    label: str  # its name in reports and result folders
    create: Callable[[Path], object]  # the OpenCV tracker, given the models folder
    model_files: tuple[str, ...] = ()
    contrib: str | None = None  # the opencv-contrib factory it needs
    min_side: float = 1.0  # the smallest box side it starts on, in pixels
    seeded: bool = False  # its boxes depend on the seed: sweeps run it once per seed, like ours
    # it gives a confidence (getTrackingScore); OpenCV's others answer that call too, always with -1
    scored: bool = False

    def run_names(self, seeds: int) -> list[str]:
        """Its result folders in a sweep over seeds 0..seeds-1: one per seed if seeded, else one."""
        return [f"{self.label}-s{s}" for s in range(seeds)] if self.seeded else [self.label]

    def unavailable(self, models: Path) -> str | None:
        """Why this peer cannot run here, in one line; None when it can."""
        if self.contrib is not None and _contrib(self.contrib) is None:
            return "needs opencv-contrib-python, which is not installed"
        missing = [f for f in self.model_files if not (models / f).is_file()]
        if missing:
            where = " (the default, beside a checkout): give --peer-models FOLDER" if models == DEFAULT_MODELS else ""
            return f"{', '.join(missing)} not found in {models}{where}"
        try:
            self.create(models)
        except cv2.error as exc:
            return f"OpenCV cannot load its model from {models}: {str(exc).strip().splitlines()[-1]}"
        return None


PEERS = {peer.key: peer for peer in (
    # MIL never returns from init on some boxes with a side under 5 px (its Haar features find no place)
    Peer("mil", "OpenCV-MIL", lambda _: cv2.TrackerMIL_create(), min_side=5.0, seeded=True),
    Peer("nano", "NanoTrack", _nano, ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx"), scored=True),
    Peer("vit", "VitTrack", _vit, ("object_tracking_vittrack_2023sep.onnx",), scored=True),
    Peer("csrt", "OpenCV-CSRT", lambda _: _contrib("TrackerCSRT_create")(), contrib="TrackerCSRT_create"),
    Peer("kcf", "OpenCV-KCF", lambda _: _contrib("TrackerKCF_create")(), contrib="TrackerKCF_create"),
)}


def peer(key: str) -> Peer:
    if key not in PEERS:
        raise TrackerError(f"unknown peer {quoted(key)}; choose from {', '.join(PEERS)}")
    return PEERS[key]


class OpenCVTracker:
    """RGB frames and (x, y, w, h) boxes in and out, like :class:`tracker.mdnet.MDNetTracker`."""

    def __init__(self, key: str, models: Path = DEFAULT_MODELS, seed: int = 0) -> None:
        self.peer = peer(key)
        if not 0 <= seed < 2**32:
            raise TrackerError(f"seed must be in 0 .. 2**32 - 1, got {seed}")
        self.seed = seed
        self.models = Path(models)
        reason = self.peer.unavailable(self.models)
        if reason is not None:
            raise TrackerError(f"{self.peer.label} cannot run: {reason}")
        self.name = self.peer.label
        self.box = np.zeros(4)
        self.lost_frames = 0

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        # MIL samples with OpenCV's RNG and picks its features with C's rand(): both process-wide, so without a
        # reset its boxes depend on what ran before in the process (and on the thread count)
        cv2.setRNGSeed(self.seed)
        _seed_c_rand(self.seed)
        self.tracker = self.peer.create(self.models)
        self.box = check_box(box, image.shape)
        self.lost_frames = 0
        if min(self.box[2:]) < self.peer.min_side:
            raise TrackerError(f"{self.name} needs a box of at least {self.peer.min_side:g}x{self.peer.min_side:g} "
                               f"px, got {self.box[2]:g}x{self.box[3]:g}")
        try:
            self.tracker.init(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), tuple(int(round(v)) for v in self.box))
        except cv2.error as exc:
            raise TrackerError(f"{self.name} cannot start on the box {self.box.tolist()}: "
                               f"{clipped(str(exc).strip().splitlines()[-1])}") from None

    def update(self, image: np.ndarray) -> np.ndarray:
        return self.track_frame(image).box

    def track_frame(self, image: np.ndarray) -> FrameResult:
        """Found or not, as OpenCV says; the score is OpenCV's ``getTrackingScore`` where the tracker gives one
        (NanoTrack, VitTrack: a confidence in [0, 1]), else NaN (MIL answers -1); the box on a miss is the last
        one."""
        ok, box = self.tracker.update(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if ok:  # on a miss OpenCV returns garbage: keep the last box, as OTB results of such trackers do
            self.box = np.asarray(box, dtype=float)
        self.lost_frames += not ok
        score = float(self.tracker.getTrackingScore()) if self.peer.scored else float("nan")
        return FrameResult(self.box.copy(), score, not ok)

    def sequence_stats(self) -> SequenceStats:
        return SequenceStats(self.lost_frames)
