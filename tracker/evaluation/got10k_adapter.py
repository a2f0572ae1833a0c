"""Drive the tracker from the got10k toolkit (``ExperimentOTB`` and friends)."""

from __future__ import annotations

import numpy as np
from got10k.trackers import Tracker

from tracker.build import build_tracker
from tracker.config import TrackerConfig
from tracker.evaluation.ope import run_name


class GOT10kTracker(Tracker):
    """got10k passes PIL images and (x, y, w, h) boxes; this forwards them to an MDNet tracker."""

    def __init__(self, config: TrackerConfig, weights: str | None = None, name: str | None = None) -> None:
        label = run_name(config.learning.updater, config.updates.batch_size, config.seed)
        super().__init__(name=name or f"MDNet-{label}", is_deterministic=True)
        self.tracker = build_tracker(config, weights)

    def init(self, image, box) -> None:
        self.tracker.init(np.asarray(image.convert("RGB")), np.asarray(box, dtype=float))

    def update(self, image) -> np.ndarray:
        return self.tracker.update(np.asarray(image.convert("RGB")))
