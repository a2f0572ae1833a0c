"""Box estimation: once the classifier has found where the target is, how big is it?

The classifier reads one shared map per frame (fast, but it barely sees a box's scale:
results/scale_sensitivity/README.md). A box estimator is the stage after it. Each reads the features it needs itself:

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
- ``scale_filter``: ``zoom_bbreg``'s centre, with the size of DSST's scale filter (tracker/scale_filter.py),
  which compares the target with itself at ``size_filter_levels`` scales and keeps learning on every
  confident frame, so a target that grows or shrinks is followed past what the first frame showed.
- ``scale_aspect_filter``: ``scale_filter`` and a second filter of the same kind over aspect ratios at
  constant area, so width and height are estimated apart.
- ``online_bbreg``: ``zoom_bbreg`` whose regression is refit every ``long_interval`` confident frames
  from samples about the box it reported, read off that frame's map, beside the first frame's.

Every estimator leaves an uncertain frame (lost, or scored under ``box_min_score``) to ``hold``: the
classifier's box, or for the filters their last size at its centre; nothing is learnt from such a frame.

Whether the estimated box also steers the next frame's search is the tracker's business
(``box_feedback``, with its guards), not the estimator's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque

import numpy as np
import torch

from tracker.backbones import Backbone
from tracker.bbreg import BBoxRegressor
from tracker.boxes import SampleGenerator, about_centres, centres
from tracker.config import TrackerConfig
from tracker.features import FrameFeatures, feature_dim, frame_features
from tracker.head import Head
from tracker.scale_filter import SizeFilter, scaled, stretched


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
                 head: Head, score: float) -> np.ndarray:
        """The box (4,) on a frame where the classifier's best candidates are ``top`` (k, 4), read as
        ``top_features`` off ``frame``, with target score ``score``; ``head`` scores features."""

    def hold(self, box: np.ndarray) -> np.ndarray:
        """The box to report on an uncertain frame whose classifier box is ``box``; nothing is learnt."""
        return box


class SharedBBReg(BoxEstimator):
    """MDNet's bounding-box regression on the classifier's own features."""

    def __init__(self, config: TrackerConfig, backbone: Backbone) -> None:
        super().__init__(config, backbone)
        self.regressor = BBoxRegressor(config.bbreg_lambda)

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        self.regressor.fit(frame.extract(samples), samples, box)

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray, top_features: torch.Tensor,
                 head: Head, score: float) -> np.ndarray:
        return self.regressor.predict(top_features, top).mean(axis=0)


class CropBBReg(SharedBBReg):
    """The ridge regression on crop features: fit on the first ``box_fit_samples`` samples' crops, applied to
    the crops of the top candidates (``box_reads: top``) or of their mean box alone (``mean``)."""

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        samples = samples[:self.config.box_fit_samples]
        self.regressor.fit(self.crop_features(image).extract(samples), samples, box)

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray, top_features: torch.Tensor,
                 head: Head, score: float) -> np.ndarray:
        boxes = top if self.config.box_reads == "top" else top.mean(axis=0, keepdims=True)
        return self.regressor.predict(self.crop_features(image).extract(boxes), boxes).mean(axis=0)


class ZoomBBReg(SharedBBReg):
    """Ridge regression fit on samples read off maps zoomed for their scale; applied on the classifier's map."""

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        self.regressor.fit(self.zoomed_features(image, box, samples), samples, box)

    def zoomed_features(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray) -> torch.Tensor:
        """Each sample read off a map zoomed by the ``box_zoom_step`` power nearest its scale to ``box``."""
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
        return features


def scaled_about_centre(box: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``box`` (4,) scaled by each of ``factors`` about its centre: (len(factors), 4)."""
    return about_centres(centres(box), box[2:] * np.asarray(factors, dtype=np.float64)[:, None])


class ScaleSearch(BoxEstimator):
    """K sizes about the top candidates' mean centre, each read off its own crop, scored by the classifier."""

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        pass  # the classifier is the scale model; it learns with the tracker

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray, top_features: torch.Tensor,
                 head: Head, score: float) -> np.ndarray:
        cfg = self.config
        levels = np.arange(cfg.scale_levels) - (cfg.scale_levels - 1) / 2
        boxes = scaled_about_centre(top.mean(axis=0), cfg.scale_step ** levels)
        scores = head.positive_score(self.crop_features(image).extract(boxes)).numpy()
        return boxes[int(np.argmax(scores))]


class OnlineBBReg(ZoomBBReg):
    """``zoom_bbreg`` that keeps learning: every ``long_interval``-th frame it estimates, ``n_bbreg / 10``
    samples drawn about its box (as the first frame's are about the true one) are read off the frame's map and
    kept for ``n_frames_long / long_interval`` such frames; the ridge regression is refit on them and the first
    frame's samples together."""

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        cfg = self.config
        self.rng = np.random.default_rng(cfg.seed)
        self.sampler = SampleGenerator("uniform", (image.shape[1], image.shape[0]), cfg.trans_bbreg, cfg.scale_bbreg,
                                       cfg.aspect_bbreg)
        self.frames_estimated = 0
        self.first = (self.zoomed_features(image, box, samples), samples, np.tile(box, (len(samples), 1)))
        self.memory: deque[tuple[torch.Tensor, np.ndarray, np.ndarray]] = deque(
            maxlen=max(cfg.n_frames_long // cfg.long_interval, 1))
        self.regressor.fit(*self.first)

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray, top_features: torch.Tensor,
                 head: Head, score: float) -> np.ndarray:
        box = super().estimate(image, frame, top, top_features, head, score)
        self.frames_estimated += 1
        if self.frames_estimated % self.config.long_interval == 0:
            samples = self.sampler.draw_in_overlap(box, max(self.config.n_bbreg // 10, 1),
                                                   (self.config.overlap_bbreg, 1.0), self.rng, accept=frame.contains)
            if len(samples):
                self.memory.append((frame.extract(samples), samples, np.tile(box, (len(samples), 1))))
                kept = [self.first, *self.memory]
                self.regressor.fit(torch.cat([m[0] for m in kept]), np.concatenate([m[1] for m in kept]),
                                   np.concatenate([m[2] for m in kept]))
        return box


class ScaleFilter(ZoomBBReg):
    """``zoom_bbreg``'s centre with DSST's filter's size: a scale filter (and, ``aspect``, an aspect one) learnt
    on the first frame and updated on every frame it estimates."""

    aspect = False

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        super().fit(image, box, samples, frame)
        cfg = self.config
        self.filters = [SizeFilter(resize, cfg.size_filter_levels, cfg.size_filter_step, cfg.size_filter_rate,
                                   cfg.size_filter_max_change)
                        for resize in ((scaled, stretched) if self.aspect else (scaled,))]
        centre, self.size = centres(box), box[2:].copy()
        # DSST's bounds: at least 5 pixels a side (or the first box's), at most the image
        self.min_size = np.minimum(box[2:], 5.0)
        self.max_size = np.maximum(box[2:], [image.shape[1], image.shape[0]])
        for size_filter in self.filters:
            size_filter.fit(image, centre, self.size)

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray, top_features: torch.Tensor,
                 head: Head, score: float) -> np.ndarray:
        cfg = self.config
        regressed = super().estimate(image, frame, top, top_features, head, score)
        centre = centres(regressed)
        for size_filter in self.filters:
            factor = size_filter.estimate(image, centre, self.size)
            self.size = size_filter.resize(self.size, np.array([factor]))[0]
        if cfg.size_filter_weight < 1.0:  # anchored to the regression: a geometric mean of the two sizes
            self.size = regressed[2:] ** (1 - cfg.size_filter_weight) * self.size ** cfg.size_filter_weight
        self.size = np.clip(self.size, self.min_size, self.max_size)
        if score > cfg.size_filter_min_score:
            for size_filter in self.filters:
                size_filter.update(image, centre, self.size)
        return self.hold(regressed)

    def hold(self, box: np.ndarray) -> np.ndarray:
        return about_centres(centres(box), self.size)


class ScaleAspectFilter(ScaleFilter):
    """``scale_filter`` with a second filter over aspect ratios: width and height apart."""

    aspect = True


BOX_ESTIMATORS: dict[str, type[BoxEstimator]] = {
    "shared_bbreg": SharedBBReg,
    "crop_bbreg": CropBBReg,
    "zoom_bbreg": ZoomBBReg,
    "scale_search": ScaleSearch,
    "online_bbreg": OnlineBBReg,
    "scale_filter": ScaleFilter,
    "scale_aspect_filter": ScaleAspectFilter,
}


def make_box_estimator(config: TrackerConfig, backbone: Backbone) -> BoxEstimator:
    return BOX_ESTIMATORS[config.box_estimator](config, backbone)
