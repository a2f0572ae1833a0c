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
- ``siamese_head``: NanoTrack v2's Siamese backbone and head, trained offline on many videos to say how big a
  target is (tracker/nanotrack.py), read about the classifier's box (``zoom_bbreg``'s) at the last reported
  size. A guard takes the head's box only where its target probability is high and its centre agrees with the
  classifier's, and bounds its size change a frame; else the classifier's box stands.
Other estimators were measured and left the core with their study: ``scale_search``, DSST's
``scale_filter`` and ``scale_aspect_filter``, ``online_bbreg`` (results/box_estimation/README.md names the
commit that has them).

A lost frame reports the classifier's box: no estimator runs on it. An estimator with an offline-trained head
(``siamese_head``) also verifies: its head's reading about a box says whether the given target is there, which
the lost flag and re-detection ask (tracker/mdnet.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from tracker import PRETRAINED_DIR
from tracker.backbones import Backbone
from tracker.bbreg import BBoxRegressor
from tracker.boxes import about_centres, centres, iou
from tracker.config_sections import BoxConfig, NetworkConfig
from tracker.features import FrameFeatures, feature_dim, frame_features
from tracker.nanotrack import Decoding, HeadBox, NanoTrackHead


class BoxEstimator(ABC):
    """Fit once on the first frame's samples about the true box, then estimate the box on each frame."""

    def __init__(self, config: BoxConfig, network: NetworkConfig, backbone: Backbone,
                 score: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.config = config  # the box section
        self.network = network  # how the classifier reads boxes: the zoomed maps read them alike
        self.backbone = backbone
        self.score = score  # the online classifier's target score of boxes' features, where the tracker lends it

    def crop_features(self, image: np.ndarray) -> FrameFeatures:
        """A reader of boxes off their own crops of ``image``, at the box stage's crop size."""
        return FrameFeatures(self.backbone, image, self.config.box_img_size, self.network.padding)

    @abstractmethod
    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        """First frame: ``samples`` (n, 4) drawn about the true ``box``; ``frame`` is the classifier's reading."""

    @abstractmethod
    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray,
                 top_features: torch.Tensor) -> np.ndarray:
        """The box (4,) on a tracked frame where the classifier's best candidates are ``top`` (k, 4), read as
        ``top_features`` off ``frame``."""

    def verify(self, image: np.ndarray, box: np.ndarray) -> HeadBox | None:
        """The head's reading of ``image`` about ``box`` at its size (how sure it is that the given target is
        there, and where it puts it); None without a head (at no cost)."""
        return None

    def last_reading(self) -> HeadBox | None:
        """The head's reading made by the last :meth:`estimate`; None without a head."""
        return None

    def reported(self, box: np.ndarray) -> None:
        """The tracker reported ``box`` on a frame this estimator did not estimate (a re-detection)."""
        return None  # only an estimator that follows its own size needs to hear it


class SharedBBReg(BoxEstimator):
    """MDNet's bounding-box regression on the classifier's own features."""

    def __init__(self, config: BoxConfig, network: NetworkConfig, backbone: Backbone,
                 score: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__(config, network, backbone, score)
        self.regressor = BBoxRegressor(config.bbreg_lambda)

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        self.regressor.fit(frame.extract(samples), samples, box)

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray,
                 top_features: torch.Tensor) -> np.ndarray:
        return self.regressor.predict(top_features, top).mean(axis=0)


class CropBBReg(SharedBBReg):
    """The ridge regression on crop features: fit on the first ``box_fit_samples`` samples' crops, applied to
    the crops of the top candidates (``box_reads: top``) or of their mean box alone (``mean``)."""

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        samples = samples[:self.config.box_fit_samples]
        self.regressor.fit(self.crop_features(image).extract(samples), samples, box)

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray,
                 top_features: torch.Tensor) -> np.ndarray:
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
            zoomed = frame_features(self.backbone, image, "shared", self.network.img_size, self.network.padding,
                                    reference,
                                    cover, self.network.max_map_side)
            features[torch.from_numpy(chosen)] = zoomed.extract(samples[chosen])
        return features


class SiameseHead(ZoomBBReg):
    """NanoTrack's head reads the size about the classifier's box; a guard decides whether it is reported."""

    def fit(self, image: np.ndarray, box: np.ndarray, samples: np.ndarray, frame: FrameFeatures) -> None:
        super().fit(image, box, samples, frame)
        self.start(image, box)

    def start(self, image: np.ndarray, box: np.ndarray) -> None:
        """The head's part of the first frame: its template of the given ``box``."""
        self.head = nanotrack_head(self.config)
        self.head.set_template(image, box)
        self.reported(box)  # the last reported size: the head's reference
        self.reading: HeadBox | None = None

    def estimate(self, image: np.ndarray, frame: FrameFeatures, top: np.ndarray,
                 top_features: torch.Tensor) -> np.ndarray:
        classifier = super().estimate(image, frame, top, top_features)
        return self.follow(image, classifier, partial(self.classifier_accepts, frame, top_features, classifier))

    def follow(self, image: np.ndarray, classifier: np.ndarray,
               accepts: Callable[[np.ndarray], bool] | None = None) -> np.ndarray:
        """The box reported where the classifier's (regressed) box is ``classifier``; with ``accepts``, the head's
        box only where it says yes too."""
        self.reading = self.head.read(image, centres(classifier), self.size)
        box = self.guarded(classifier, self.reading)
        if accepts is not None and not np.array_equal(box, classifier) and not accepts(box):
            box = np.asarray(classifier, dtype=np.float64)
        self.size = box[2:].copy()
        return box

    def classifier_accepts(self, frame: FrameFeatures, top_features: torch.Tensor, classifier: np.ndarray,
                           box: np.ndarray) -> bool:
        """With ``siamese_score_gate``: whether the online classifier scores the head's ``box`` (read off its
        ``frame``) at least its best candidates' mean (``top_features``) minus ``siamese_score_margin``, where
        ``box`` overlaps the classifier's own by less than ``siamese_score_gate_below_iou``. It learnt this target
        against its neighbours, which the head, matching the first frame, cannot tell from it."""
        cfg = self.config
        if (not cfg.siamese_score_gate or self.score is None or not frame.contains(box[None])[0]
                or iou(box, classifier)[0] >= cfg.siamese_score_gate_below_iou):
            return True
        own = float(self.score(top_features).mean())
        return float(self.score(frame.extract(box[None]))[0]) >= own - cfg.siamese_score_margin

    def verify(self, image: np.ndarray, box: np.ndarray) -> HeadBox:
        return self.head.read(image, centres(box), np.asarray(box[2:], dtype=np.float64))

    def last_reading(self) -> HeadBox | None:
        return self.reading

    def reported(self, box: np.ndarray) -> None:
        self.size = np.asarray(box[2:], dtype=np.float64).copy()

    def guarded(self, classifier: np.ndarray, reading: HeadBox) -> np.ndarray:
        """``reading``'s size (bounded to ``siamese_max_step`` a frame), where it is sure enough of the target, its
        centre is near the classifier's and its box overlaps the classifier's; its centre too where they overlap by
        ``siamese_centre_min_iou``; else ``classifier``."""
        cfg = self.config
        shift = float(np.linalg.norm(centres(reading.box) - centres(classifier)))
        overlap = iou(reading.box, classifier)[0]
        if (reading.score < cfg.siamese_min_score or shift > cfg.siamese_max_shift * float(np.sqrt(np.prod(self.size)))
                or overlap < cfg.siamese_min_iou):
            return np.asarray(classifier, dtype=np.float64)
        size = np.clip(reading.box[2:], self.size / cfg.siamese_max_step, self.size * cfg.siamese_max_step)
        weight = cfg.siamese_centre if overlap >= cfg.siamese_centre_min_iou else 0.0
        centre = (1 - weight) * centres(classifier) + weight * centres(reading.box)
        return about_centres(centre, size)


def agreement(reading: HeadBox, box: np.ndarray, min_iou: float) -> float:
    """The head's target probability where its box overlaps ``box`` by at least ``min_iou``; 0 where it is
    elsewhere (sure of a target, but not of this one)."""
    return reading.score if iou(reading.box, box)[0] >= min_iou else 0.0


def nanotrack_head(config: BoxConfig) -> NanoTrackHead:
    """The shipped NanoTrack networks, decoded with the box section's settings."""
    return NanoTrackHead(PRETRAINED_DIR, Decoding(config.siamese_window, config.siamese_penalty_k, config.siamese_lr))


def scaled_about_centre(box: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``box`` (4,) scaled by each of ``factors`` about its centre: (len(factors), 4)."""
    return about_centres(centres(box), box[2:] * np.asarray(factors, dtype=np.float64)[:, None])


BOX_ESTIMATORS: dict[str, type[BoxEstimator]] = {
    "shared_bbreg": SharedBBReg,
    "crop_bbreg": CropBBReg,
    "zoom_bbreg": ZoomBBReg,
    "siamese_head": SiameseHead,
}


def make_box_estimator(config: BoxConfig, network: NetworkConfig, backbone: Backbone,
                       score: Callable[[torch.Tensor], torch.Tensor] | None = None) -> BoxEstimator:
    return BOX_ESTIMATORS[config.box_estimator](config, network, backbone, score)
