"""Box estimation: once the classifier has found where the target is, how big is it?

The classifier reads one shared map per frame (fast, but it barely sees a box's scale: README
*Scale*). A box estimator is the stage after it. Each reads the features it needs itself:

- ``shared_bbreg``: MDNet's ridge regression on the frame's own (shared-map) features of the top
  candidates. The baseline.
- ``crop_bbreg``: the same regression, fit and applied on features read off each box's own crop, whose
  content zooms with the box, so its features see scale. The crops are cut in one ``grid_sample``
  and go through the trunk in one batch, at ``box_img_size`` pixels.
- ``zoom_bbreg``: the regression fit on samples each read off a shared map zoomed for its own scale
  (a pyramid of small maps, ``box_zoom_step`` apart, on the first frame only), and applied, as
  ``shared_bbreg`` is, to the top candidates on the classifier's map, which the tracker zooms for the
  previous target. Fit on one map (``shared_bbreg``), the regression only ever sees the target at one
  zoom, and cannot tell how big it is once the map's zoom is off; here it learns from the target's
  apparent size. Nothing is added to a tracked frame.
- ``scale_search``: ``scale_levels`` boxes about the centre, ``scale_step`` apart in scale, each read
  off its own crop and scored by the classifier; the best-scoring size wins.

Whether the estimated box also steers the next frame's search is the tracker's business
(``box_feedback``, with its guards), not the estimator's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np
import torch

from tracker.backbones import Backbone
from tracker.bbreg import BBoxRegressor
from tracker.features import FrameFeatures, feature_dim, frame_features
from tracker.head import Head

if TYPE_CHECKING:  # the config validates box_estimator against this module's names
    from tracker.config import TrackerConfig


class BoxEstimator(ABC):
    """Fit once on the first frame's samples about the true box, then estimate the box on each frame."""

    def __init__(self, config: TrackerConfig, backbone: Backbone) -> None:
        self.config = config
        self.backbone = backbone

    def crop_features(self, image: np.ndarray) -> FrameFeatures:
        """A reader of boxes off their own crops of ``image``, at the box stage's crop size."""
        return FrameFeatures(self.backbone, image, self.config.box_img_size, self.config.padding)

    @abstractmethod
    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        """First frame: ``samples`` (n, 4) drawn about the true ``box``; ``frame`` is the classifier's reading."""

    @abstractmethod
    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray, top_features: torch.Tensor,
                 head: Head) -> np.ndarray:
        """The box (4,) on a frame where the classifier's best candidates are ``top`` (k, 4), read as
        ``top_features`` off ``frame``; ``head`` scores features."""


class SharedBBReg(BoxEstimator):
    """MDNet's bounding-box regression on the classifier's own features."""

    def __init__(self, config: TrackerConfig, backbone: Backbone) -> None:
        super().__init__(config, backbone)
        self.regressor = BBoxRegressor(config.bbreg_lambda)

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        self.regressor.fit(frame.extract(samples), samples, box)

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray, top_features: torch.Tensor,
                 head: Head) -> np.ndarray:
        return self.regressor.predict(top_features, top).mean(axis=0)


class CropBBReg(SharedBBReg):
    """The ridge regression on crop features: fit on the first ``box_fit_samples`` samples' crops, applied to
    the crops of the top candidates (``box_reads: top``) or of their mean box alone (``mean``)."""

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        samples = samples[:self.config.box_fit_samples]
        self.regressor.fit(self.crop_features(image).extract(samples), samples, box)

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray, top_features: torch.Tensor,
                 head: Head) -> np.ndarray:
        boxes = top if self.config.box_reads == "top" else top.mean(axis=0, keepdims=True)
        return self.regressor.predict(self.crop_features(image).extract(boxes), boxes).mean(axis=0)


class ZoomBBReg(SharedBBReg):
    """Ridge regression fit on samples read off maps zoomed for their scale; applied on the classifier's map."""

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        cfg = self.config
        log_scale = 0.5 * np.log(samples[:, 2] * samples[:, 3] / (box[2] * box[3]))
        levels = np.round(log_scale / np.log(cfg.box_zoom_step)).astype(int)
        features = torch.zeros(len(samples), feature_dim(self.backbone))
        for level in np.unique(levels):
            reference, search = scaled_about_centre(box, cfg.box_zoom_step ** level * np.array([1.0, 2.0]))
            chosen = levels == level
            # the map reaches as far round the target as a tracked frame's search region does
            cover = np.concatenate([samples[chosen], search[None]])
            zoomed = frame_features(self.backbone, image, "shared", cfg.img_size, cfg.padding, reference, cover,
                                    cfg.max_map_side)
            features[torch.from_numpy(chosen)] = zoomed.extract(samples[chosen])
        self.regressor.fit(features, samples, box)


def scaled_about_centre(box: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``box`` (4,) scaled by each of ``factors`` about its centre: (len(factors), 4)."""
    centre = box[:2] + box[2:] / 2
    sizes = box[2:] * np.asarray(factors, dtype=np.float64)[:, None]
    return np.concatenate([np.broadcast_to(centre, sizes.shape) - sizes / 2, sizes], axis=1)


class ScaleSearch(BoxEstimator):
    """K sizes about the top candidates' mean centre, each read off its own crop, scored by the classifier."""

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        pass  # the classifier is the scale model; it learns with the tracker

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray, top_features: torch.Tensor,
                 head: Head) -> np.ndarray:
        cfg = self.config
        levels = np.arange(cfg.scale_levels) - (cfg.scale_levels - 1) / 2
        boxes = scaled_about_centre(top.mean(axis=0), cfg.scale_step ** levels)
        scores = head.positive_score(self.crop_features(image).extract(boxes)).numpy()
        return boxes[int(np.argmax(scores))]


BOX_ESTIMATORS: dict[str, type[BoxEstimator]] = {
    "shared_bbreg": SharedBBReg,
    "crop_bbreg": CropBBReg,
    "zoom_bbreg": ZoomBBReg,
    "scale_search": ScaleSearch,
}


def make_box_estimator(config: TrackerConfig, backbone: Backbone) -> BoxEstimator:
    return BOX_ESTIMATORS[config.box_estimator](config, backbone)
