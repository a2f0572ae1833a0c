import numpy as np
import pytest

from tracker.boxes import SampleGenerator, check_box, iou
from tracker.errors import TrackerError


def test_iou_hand_computed():
    a = np.array([0.0, 0.0, 10.0, 10.0])
    assert iou(a, a)[0] == pytest.approx(1.0)
    assert iou(np.array([5.0, 0.0, 10.0, 10.0]), a)[0] == pytest.approx(50 / 150)
    assert iou(np.array([20.0, 20.0, 5.0, 5.0]), a)[0] == 0.0
    rows = np.array([[0, 0, 10, 10], [0, 5, 10, 10]], dtype=float)
    np.testing.assert_allclose(iou(rows, rows[::-1]), [50 / 150, 50 / 150])


@pytest.mark.parametrize("kind", ["gaussian", "uniform", "whole"])
def test_samples_respect_image_and_size_limits(kind):
    gen = SampleGenerator(kind, (320, 240), trans=1.0, scale=1.5)
    samples = gen.draw(np.array([100.0, 80.0, 40.0, 30.0]), 500, np.random.default_rng(0))
    assert samples.shape == (500, 4)
    assert np.all(samples[:, 2:] >= 10) and np.all(samples[:, 2] <= 310) and np.all(samples[:, 3] <= 230)
    centres = samples[:, :2] + samples[:, 2:] / 2
    assert np.all(centres >= 0) and np.all(centres[:, 0] <= 320) and np.all(centres[:, 1] <= 240)


def test_tiny_targets_still_get_overlapping_samples():
    """py-MDNet's 10-px floor would make every sample of a 5 x 4 box overlap it by < 0.5."""
    box = np.array([100.0, 100.0, 5.0, 4.0])
    gen = SampleGenerator("uniform", (320, 240), trans=0.3, scale=1.6, aspect=1.1)
    samples = gen.draw_in_overlap(box, 100, (0.6, 1.0), np.random.default_rng(0))
    assert len(samples) == 100
    assert np.all(samples[:, 2:] >= box[2:] / 2)


def test_gaussian_translation_is_bounded_by_trans_times_size():
    box = np.array([100.0, 100.0, 40.0, 20.0])
    samples = SampleGenerator("gaussian", (400, 400), trans=0.6, scale=1.05).draw(box, 2000, np.random.default_rng(1))
    shift = np.abs(samples[:, :2] + samples[:, 2:] / 2 - (box[:2] + box[2:] / 2))
    assert shift.max() <= 0.6 * 30 + 1e-9
    ratio = samples[:, 2] / box[2]
    assert ratio.min() >= 1 / 1.05 - 1e-9 and ratio.max() <= 1.05 + 1e-9


def test_draw_in_overlap_keeps_only_that_overlap_and_is_seeded():
    box = np.array([100.0, 100.0, 40.0, 40.0])
    gen = SampleGenerator("uniform", (320, 240), trans=2.0, scale=1.3)
    neg = gen.draw_in_overlap(box, 200, (0.0, 0.3), np.random.default_rng(3))
    assert len(neg) == 200 and iou(neg, box).max() <= 0.3
    again = gen.draw_in_overlap(box, 200, (0.0, 0.3), np.random.default_rng(3))
    np.testing.assert_array_equal(neg, again)


@pytest.mark.parametrize("box,message", [([10, 10, 0, 5], "smaller than 1x1 px"),
                                         ([10, 10, 1e-9, 1e-9], "smaller than 1x1 px"), ([500, 10, 20, 20], "outside"),
                                         ([-30, 10, 20, 20], "outside"), ([1, 2, 3], "4 finite")])
def test_check_box_rejects(box, message):
    with pytest.raises(TrackerError, match=message):
        check_box(np.array(box, dtype=float), (240, 320, 3))
