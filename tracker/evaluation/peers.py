"""OpenCV's CPU trackers behind the same init / update interface, as peers in the OTB harness."""

from __future__ import annotations

import cv2
import numpy as np

from tracker.errors import TrackerError

# name in reports -> OpenCV factory; CSRT and KCF come only with opencv-contrib-python
PEERS = {"OpenCV-MIL": "TrackerMIL_create", "OpenCV-CSRT": "TrackerCSRT_create", "OpenCV-KCF": "TrackerKCF_create"}


def available_peers() -> list[str]:
    return [name for name, factory in PEERS.items() if hasattr(cv2, factory)]


class OpenCVTracker:
    """RGB frames and (x, y, w, h) boxes in and out, like :class:`tracker.mdnet.MDNetTracker`."""

    def __init__(self, name: str) -> None:
        if name not in PEERS:
            raise TrackerError(f"unknown OpenCV peer {name!r}; choose from {sorted(PEERS)}")
        if not hasattr(cv2, PEERS[name]):
            raise TrackerError(f"{name} needs opencv-contrib-python")
        self.name = name
        self.box = np.zeros(4)

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        self.tracker = getattr(cv2, PEERS[self.name])()
        self.box = np.asarray(box, dtype=float)
        self.tracker.init(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), tuple(int(round(v)) for v in self.box))

    def update(self, image: np.ndarray) -> np.ndarray:
        ok, box = self.tracker.update(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if ok:  # on a miss OpenCV returns garbage: keep the last box, as OTB results of such trackers do
            self.box = np.asarray(box, dtype=float)
        return self.box.copy()
