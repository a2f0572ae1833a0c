"""Every box estimator: shapes, determinism, degenerate boxes, and following a target's scale."""

import numpy as np
import pytest
import torch

from tracker.box_estimation import BOX_ESTIMATORS, scaled_about_centre
from tracker.boxes import iou
from tracker.build import build_tracker
from tracker.config import TrackerConfig
from tracker.data.synthetic import synthetic_sequence
from tracker.features import FrameFeatures, frame_features

ESTIMATORS = sorted(BOX_ESTIMATORS)


def tracker_for(fast_config, estimator, **changes):
    config = fast_config.replace(backbone_channels=(16, 32, 32), box_estimator=estimator, box_img_size=75, **changes)
    with pytest.warns(UserWarning):  # the random backbone
        return build_tracker(config, "none")


def track(tracker, frames, box):
    tracker.init(frames[0], box)
    return np.array([tracker.update(frame) for frame in frames[1:]])


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_estimate_is_one_finite_box_and_the_same_for_the_same_seed(fast_config, estimator):
    sequence = synthetic_sequence(n_frames=5)
    runs = [track(tracker_for(fast_config, estimator),
                  sequence.frames, sequence.ground_truth[0]) for _ in range(2)]
    assert runs[0].shape == (4, 4) and np.all(np.isfinite(runs[0])) and np.all(runs[0][:, 2:] > 0)
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("box", [[150.0, 100.0, 4.0, 5.0],        # tiny
                                 [0.0, 0.0, 60.0, 50.0],           # in the corner
                                 [280.0, 200.0, 80.0, 70.0],       # half outside the image
                                 [-40.0, -30.0, 400.0, 300.0]],    # larger than the image
                         ids=["tiny", "corner", "half_outside", "larger_than_image"])
def test_degenerate_boxes_give_finite_boxes(fast_config, estimator, box):
    sequence = synthetic_sequence(n_frames=4)
    boxes = track(tracker_for(fast_config, estimator),
                  sequence.frames, np.array(box))
    assert np.all(np.isfinite(boxes)) and np.all(boxes[:, 2:] > 0)


def test_crop_bbreg_reads_the_configured_boxes(fast_config, backbone):
    """box_reads top: the regression of each top candidate's crop, averaged; mean: of their mean box's crop."""
    config = fast_config.replace(box_estimator="crop_bbreg", box_img_size=75, box_fit_samples=40)
    image = synthetic_sequence(n_frames=1).frames[0]
    box = np.array([120.0, 90.0, 40.0, 48.0])
    rng = np.random.default_rng(0)
    samples = box + np.c_[rng.uniform(-8, 8, (60, 2)), rng.uniform(-6, 6, (60, 2))]
    top = box + np.array([[3.0, -2, 4, 2], [-2, 1, -3, 0]])
    frame = FrameFeatures(backbone, image, 107, 16)
    estimates = {}
    for reads in ("top", "mean"):
        estimator = BOX_ESTIMATORS["crop_bbreg"](config.replace(box_reads=reads), backbone)
        estimator.fit(image, box, samples, frame)
        crops = FrameFeatures(backbone, image, 75, 16)
        boxes = top if reads == "top" else top.mean(axis=0, keepdims=True)
        expected = estimator.regressor.predict(crops.extract(boxes), boxes).mean(axis=0)
        estimates[reads] = estimator.estimate(image, frame, top, frame.extract(top))
        np.testing.assert_allclose(estimates[reads], expected)
    assert not np.allclose(estimates["top"], estimates["mean"])


def test_zoom_bbreg_reads_each_sample_off_a_map_zoomed_for_its_scale(fast_config, backbone):
    """A sample twice the box's size must be read as a crop of its own would show it: off a map zoomed for it,
    not off the box's map (where its features barely see its scale)."""
    config = fast_config.replace(box_estimator="zoom_bbreg")
    image = synthetic_sequence(n_frames=1).frames[0]
    box = np.array([120.0, 90.0, 40.0, 48.0])
    samples = scaled_about_centre(box, np.array([1.0, 2.0]))
    estimator = BOX_ESTIMATORS["zoom_bbreg"](config, backbone)
    read = []
    estimator.regressor.fit = lambda features, boxes, target: read.append(features)
    estimator.fit(image, box, samples, FrameFeatures(backbone, image, 107, 16))
    crops = FrameFeatures(backbone, image, 107, 16).extract(samples)
    box_map = frame_features(backbone, image, "shared", 107, 16, box, scaled_about_centre(box, np.array([4.0])))

    def corr(a, b):
        return float(torch.corrcoef(torch.stack([a, b]))[0, 1])

    assert corr(read[0][0], crops[0]) > 0.9
    assert corr(read[0][1], crops[1]) > corr(box_map.extract(samples)[1], crops[1]) + 0.03


@pytest.mark.parametrize("field,value", [("box_estimator", "magic"), ("box_reads", "all"), ("box_zoom_step", 1.0),
                                         ("box_img_size", 8)])
def test_box_settings_are_validated(field, value):
    from tracker.errors import TrackerError

    with pytest.raises(TrackerError, match=field):
        TrackerConfig().replace(**{field: value})


def test_default_follows_a_target_that_doubles_better_than_shared_bbreg():
    """A target grows to 2x and shrinks back: the default box stage must follow it better than MDNet's
    regression on the shared map (the previous default), on the default weights."""
    torch.set_num_threads(1)
    sequence = synthetic_sequence(n_frames=40, growth=2.0)
    config = TrackerConfig(n_pos_init=200, n_neg_init=1000, maxiter_init=30, maxiter_update=5, n_pos_update=20,
                           n_neg_update=60)
    previous = config.replace(box_estimator="shared_bbreg")
    assert config.box_estimator != previous.box_estimator
    mean_iou = {}
    for label, cfg in (("default", config), ("shared_bbreg", previous)):
        boxes = track(build_tracker(cfg), sequence.frames, sequence.ground_truth[0])
        mean_iou[label] = float(iou(boxes, sequence.ground_truth[1:]).mean())
    torch.set_num_threads(2)
    assert mean_iou["default"] > mean_iou["shared_bbreg"] + 0.02, mean_iou
