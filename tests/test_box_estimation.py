"""Every box estimator: shapes, determinism, degenerate boxes, and following a target's scale."""

from functools import partial

import numpy as np
import pytest
import torch

from tracker import PRETRAINED_DIR as MODELS
from tracker.box_estimation import BOX_ESTIMATORS, SiameseHead, scaled_about_centre
from tracker.boxes import centres, iou
from tracker.build import build_tracker
from tracker.config import TrackerConfig
from tracker.config_sections import BoxConfig, NetworkConfig
from tracker.data.synthetic import synthetic_sequence
from tracker.features import FrameFeatures, frame_features
from tracker.nanotrack import FILES, GRID, STRIDE, Decoding, HeadBox, NanoTrackHead, decode, square_crop

ESTIMATORS = sorted(BOX_ESTIMATORS)


def tracker_for(fast_config, estimator, **box_changes):
    config = fast_config.replace(network={"backbone_channels": (16, 32, 32)},
                                 box={"box_estimator": estimator, "box_img_size": 75, **box_changes})
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
    config = fast_config.replace(box={"box_estimator": "crop_bbreg", "box_img_size": 75, "box_fit_samples": 40})
    image = synthetic_sequence(n_frames=1).frames[0]
    box = np.array([120.0, 90.0, 40.0, 48.0])
    rng = np.random.default_rng(0)
    samples = box + np.c_[rng.uniform(-8, 8, (60, 2)), rng.uniform(-6, 6, (60, 2))]
    top = box + np.array([[3.0, -2, 4, 2], [-2, 1, -3, 0]])
    frame = FrameFeatures(backbone, image, 107, 16)
    estimates = {}
    for reads in ("top", "mean"):
        estimator = BOX_ESTIMATORS["crop_bbreg"](config.replace(box={"box_reads": reads}).box, config.network,
                                                 backbone)
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
    config = fast_config.replace(box={"box_estimator": "zoom_bbreg"})
    image = synthetic_sequence(n_frames=1).frames[0]
    box = np.array([120.0, 90.0, 40.0, 48.0])
    samples = scaled_about_centre(box, np.array([1.0, 2.0]))
    estimator = BOX_ESTIMATORS["zoom_bbreg"](config.box, config.network, backbone)
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
        TrackerConfig().replace(box={field: value})


@pytest.mark.slow
def test_default_follows_a_target_that_doubles_better_than_shared_bbreg():
    """A target grows to 2x and shrinks back: the default box stage must follow it better than MDNet's
    regression on the shared map (the previous default), on the default weights."""
    torch.set_num_threads(1)
    sequence = synthetic_sequence(n_frames=40, growth=2.0)
    config = TrackerConfig().replace(samples={"n_pos_init": 200, "n_neg_init": 1000, "n_pos_update": 20,
                                              "n_neg_update": 60}, updates={"maxiter_init": 30, "maxiter_update": 5})
    previous = config.replace(box={"box_estimator": "shared_bbreg"})
    assert config.box.box_estimator != previous.box.box_estimator
    mean_iou = {}
    for label, cfg in (("default", config), ("shared_bbreg", previous)):
        boxes = track(build_tracker(cfg), sequence.frames, sequence.ground_truth[0])
        mean_iou[label] = float(iou(boxes, sequence.ground_truth[1:]).mean())
    torch.set_num_threads(2)
    assert mean_iou["default"] > mean_iou["shared_bbreg"] + 0.02, mean_iou


@pytest.mark.slow
def test_siamese_head_follows_a_target_that_doubles_and_changes_aspect_better_than_zoom_bbreg():
    """A target grows to 2x and back while its aspect goes from 0.7 to 1.5: NanoTrack's offline-trained head,
    read about the classifier's box, must follow its size better than the default's regression."""
    torch.set_num_threads(1)
    sequence = synthetic_sequence(n_frames=60, growth=2.0, aspect=(0.7, 1.5))
    config = TrackerConfig().replace(samples={"n_pos_init": 200, "n_neg_init": 1000, "n_pos_update": 20,
                                              "n_neg_update": 60}, updates={"maxiter_init": 30, "maxiter_update": 5})
    mean_iou = {}
    for estimator in ("siamese_head", "zoom_bbreg"):
        boxes = track(build_tracker(config.replace(box={"box_estimator": estimator})), sequence.frames,
                      sequence.ground_truth[0])
        mean_iou[estimator] = float(iou(boxes, sequence.ground_truth[1:]).mean())
    torch.set_num_threads(2)
    assert mean_iou["siamese_head"] > mean_iou["zoom_bbreg"] + 0.05, mean_iou


def siamese_head(**changes):
    head = SiameseHead(BoxConfig(**changes), NetworkConfig(), backbone=None)
    head.size = np.array([40.0, 50.0])
    return head


def test_siamese_guard_keeps_the_classifiers_box_where_the_head_is_unsure_or_elsewhere():
    classifier = np.array([100.0, 100.0, 40.0, 50.0])
    head = siamese_head(siamese_min_score=0.5, siamese_max_shift=0.5, siamese_centre=0.0)
    elsewhere = HeadBox(np.array([160.0, 100.0, 44.0, 52.0]), 0.95)  # a neighbour: 60 px off, over 0.5 x 44.7
    unsure = HeadBox(np.array([102.0, 101.0, 44.0, 52.0]), 0.3)
    apart = HeadBox(np.array([112.0, 115.0, 16.0, 20.0]), 0.95)  # centred near ours, but IoU 0.16 < 0.3
    for reading in (elsewhere, unsure):
        np.testing.assert_array_equal(head.guarded(classifier, reading), classifier)
    assert iou(apart.box, classifier)[0] < 0.3
    np.testing.assert_array_equal(siamese_head(siamese_min_iou=0.3).guarded(classifier, apart), classifier)
    agreeing = HeadBox(np.array([102.0, 101.0, 44.0, 52.0]), 0.9)
    box = head.guarded(classifier, agreeing)
    np.testing.assert_allclose(box[2:], [44.0, 52.0])
    np.testing.assert_allclose(centres(box), centres(classifier))  # siamese_centre 0: the classifier's centre
    box = siamese_head(siamese_min_score=0.5, siamese_centre=1.0).guarded(classifier, agreeing)
    np.testing.assert_allclose(box, agreeing.box)


def test_siamese_guard_bounds_the_size_change_and_weighs_the_centres():
    classifier = np.array([100.0, 100.0, 40.0, 50.0])
    head = siamese_head(siamese_max_step=1.1, siamese_centre=0.5, siamese_max_shift=1.0, siamese_min_iou=0.0)
    box = head.guarded(classifier, HeadBox(np.array([104.0, 96.0, 80.0, 30.0]), 0.9))
    np.testing.assert_allclose(box[2:], [44.0, 50.0 / 1.1])
    np.testing.assert_allclose(centres(box), (centres(classifier) + [144.0, 111.0]) / 2)


def test_siamese_guard_takes_the_heads_centre_only_where_the_boxes_overlap_enough():
    """siamese_centre_min_iou: a head's box overlapping the classifier's by 0.3-0.5 gives its size at the
    classifier's centre; one overlapping more gives its centre too."""
    classifier = np.array([100.0, 100.0, 40.0, 50.0])
    head = siamese_head(siamese_min_score=0.5, siamese_min_iou=0.3, siamese_centre_min_iou=0.5, siamese_max_step=2.0)
    shifted = HeadBox(np.array([115.0, 100.0, 42.0, 50.0]), 0.95)
    close = HeadBox(np.array([104.0, 102.0, 42.0, 50.0]), 0.95)
    assert 0.3 <= iou(shifted.box, classifier)[0] < 0.5 <= iou(close.box, classifier)[0]
    box = head.guarded(classifier, shifted)
    np.testing.assert_allclose(box[2:], [42.0, 50.0])
    np.testing.assert_allclose(centres(box), centres(classifier))
    np.testing.assert_allclose(head.guarded(classifier, close), close.box)


def test_decode_takes_the_peak_cell_and_moves_the_size_by_the_rate():
    """One cell certain of a box 8 px right of the centre, twice as wide: without window and penalty the centre is
    that box's and the size moves lr x its probability towards it."""
    probability = np.full((GRID, GRID), 0.01)
    row, col = GRID // 2, GRID // 2 + 1  # the cell 16 px right of the centre
    probability[row, col] = 0.9
    sides = np.zeros((4, GRID, GRID)) + 10.0
    sides[:, row, col] = [48.0, 20.0, 32.0, 20.0]  # left, top, right, bottom: a box 80 x 40 about x = 16 - 8
    centre, size, score, rate = decode(probability, sides, np.array([40.0, 40.0]), Decoding(0.0, 0.0, 0.5))
    np.testing.assert_allclose(centre, [8.0, 0.0])
    assert score == pytest.approx(0.9) and rate == pytest.approx(0.45)
    np.testing.assert_allclose(size, 0.55 * np.array([40.0, 40.0]) + 0.45 * np.array([80.0, 40.0]))
    # a window that outweighs every score keeps one of the four middle cells (the window peaks between them)
    centre, *_ = decode(probability, sides, np.array([40.0, 40.0]), Decoding(0.99, 0.0, 0.5))
    assert np.all(np.abs(centre) <= STRIDE), centre


def test_square_crop_fills_beyond_the_frame_and_keeps_the_centre():
    image = np.zeros((60, 80, 3), dtype=np.uint8)
    image[30, 40] = 255  # the pixel whose centre is (40.5, 30.5)
    crop = square_crop(image, np.array([40.5, 30.5]), 21.0, 21, np.array([7.0, 8.0, 9.0]))
    assert crop[10, 10].tolist() == [255, 255, 255]  # the middle pixel of the crop
    corner = square_crop(image, np.array([0.0, 0.0]), 40.0, 40, np.array([7.0, 8.0, 9.0]))
    assert corner[2, 2].tolist() == [7, 8, 9] and corner[30, 30].tolist() == [0, 0, 0]


def test_a_missing_or_damaged_nanotrack_model_is_one_error_naming_it(tmp_path):
    from tracker.errors import TrackerError

    with pytest.raises(TrackerError, match="nanotrack_backbone_sim.onnx"):
        NanoTrackHead(tmp_path, Decoding(0.49, 0.15, 0.385))
    for name in FILES:
        (tmp_path / name).write_bytes((MODELS / name).read_bytes())
    damaged = tmp_path / "nanotrack_head_sim.onnx"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    with pytest.raises(TrackerError, match="nanotrack_head_sim.onnx is damaged"):
        NanoTrackHead(tmp_path, Decoding(0.49, 0.15, 0.385))


@pytest.mark.parametrize("feedback", [False, True])
def test_box_feedback_centres_the_next_search_on_the_reported_box(feedback):
    torch.set_num_threads(1)
    sequence = synthetic_sequence(n_frames=3)
    config = TrackerConfig().replace(samples={"n_pos_init": 200, "n_neg_init": 1000}, updates={"maxiter_init": 30},
                                     box={"box_feedback": feedback})
    tracker = build_tracker(config)  # the shipped trunk, trained enough that frame 1 is tracked
    tracker.init(sequence.frames[0], sequence.ground_truth[0])
    result = tracker.track_frame(sequence.frames[1])
    torch.set_num_threads(2)
    assert not result.lost
    assert np.array_equal(tracker.state.target, result.box) == feedback


class ScriptedFrame:
    """A classifier's map stand-in: every box inside it (or none), each read as the one feature ``value``."""

    def __init__(self, value: float, inside: bool = True) -> None:
        self.value, self.inside = value, inside

    def contains(self, boxes: np.ndarray) -> np.ndarray:
        return np.full(len(boxes), self.inside)

    def extract(self, boxes: np.ndarray) -> torch.Tensor:
        return torch.full((len(boxes), 1), self.value)


def test_the_online_classifier_can_veto_the_heads_box():
    """siamese_score_gate: the head's box stands only where the classifier scores it at least its best candidates'
    mean minus siamese_score_margin; off the classifier's map, or with the gate off, the classifier has no say."""
    classifier = np.array([100.0, 100.0, 40.0, 50.0])
    agreeing = HeadBox(np.array([103.0, 101.0, 42.0, 52.0]), 0.95)
    top_features = torch.tensor([[5.0], [5.0]])  # the best candidates score 5 (the stand-in's score: feature 0)

    def follow(value: float, inside: bool = True, gate: bool = True, below_iou: float = 1.0) -> np.ndarray:
        head = siamese_head(siamese_min_score=0.5, siamese_score_gate=gate, siamese_score_margin=1.0,
                            siamese_score_gate_below_iou=below_iou)
        head.score = lambda features: features[:, 0]
        head.head = type("Read", (), {"read": lambda self, image, centre, size: agreeing})()
        return head.follow(None, classifier, partial(head.classifier_accepts, ScriptedFrame(value, inside),
                                                     top_features, classifier))

    np.testing.assert_allclose(follow(4.5), agreeing.box)  # within the margin
    np.testing.assert_allclose(follow(3.5), classifier)  # scored as something else: vetoed
    np.testing.assert_allclose(follow(3.5, inside=False), agreeing.box)
    np.testing.assert_allclose(follow(3.5, gate=False), agreeing.box)
    np.testing.assert_allclose(follow(3.5, below_iou=0.5), agreeing.box)  # IoU 0.76: over the gate's bound
