"""DSST's size filter: it finds how much a target was resized, uniformly or in aspect, from one learnt view."""

import numpy as np
import pytest

from tracker.data.synthetic import synthetic_sequence
from tracker.scale_filter import SizeFilter, gradient_histograms, model_size, patches, scaled, stretched


def resized_scene(factor_w: float, factor_h: float) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic target pasted at (60 * factor_w) x (72 * factor_h) pixels in the middle of its background."""
    sequence = synthetic_sequence(n_frames=1, size=(320, 240))
    frame, box = sequence.frames[0], sequence.ground_truth[0].astype(int)
    target = frame[box[1]:box[1] + box[3], box[0]:box[0] + box[2]]
    import cv2

    w, h = int(round(60 * factor_w)), int(round(72 * factor_h))
    scene = np.full((240, 320, 3), 90, np.uint8)
    scene[:, :] = cv2.resize(frame, (320, 240))[::-1]  # the background, upside down: clutter, not the target
    x0, y0 = 160 - w // 2, 120 - h // 2
    scene[y0:y0 + h, x0:x0 + w] = cv2.resize(target, (w, h), interpolation=cv2.INTER_AREA)
    return scene, np.array([float(w), float(h)])


def settle(size_filter: SizeFilter, image: np.ndarray, size: np.ndarray, frames: int = 4) -> np.ndarray:
    """The size after ``frames`` estimates on ``image``, each starting from the last (as frames of a video do)."""
    for _ in range(frames):
        size = size_filter.resize(size, np.array([size_filter.estimate(image, np.array([160.0, 120.0]), size)]))[0]
    return size


@pytest.mark.parametrize("factor", [1 / 1.0612, 1.0, 1.0612])
def test_the_scale_filter_finds_how_much_the_target_grew(factor):
    first, size = resized_scene(1.0, 1.0)
    size_filter = SizeFilter(scaled, 33, 1.02, 0.025, 1.1)
    size_filter.fit(first, np.array([160.0, 120.0]), size)
    grown, _ = resized_scene(factor, factor)
    found = size_filter.estimate(grown, np.array([160.0, 120.0]), size)
    assert found == pytest.approx(factor, rel=0.021)  # within one level
    np.testing.assert_allclose(settle(size_filter, grown, size), size * factor, rtol=0.021)


@pytest.mark.parametrize("factor_w,factor_h", [(1.05, 1 / 1.05), (1 / 1.05, 1.05)])
def test_the_aspect_filter_follows_a_change_of_aspect_at_the_same_area(factor_w, factor_h):
    first, size = resized_scene(1.0, 1.0)
    aspect_filter = SizeFilter(stretched, 33, 1.02, 0.025, 1.2)
    aspect_filter.fit(first, np.array([160.0, 120.0]), size)
    turned, true_size = resized_scene(factor_w, factor_h)
    found = settle(aspect_filter, turned, size)
    assert found[0] / found[1] == pytest.approx(true_size[0] / true_size[1], rel=0.021)
    assert found[0] * found[1] == pytest.approx(size[0] * size[1])  # the area is the scale filter's business


def test_a_change_is_bounded_by_max_change():
    first, size = resized_scene(1.0, 1.0)
    size_filter = SizeFilter(scaled, 33, 1.02, 0.025, 1.03)
    size_filter.fit(first, np.array([160.0, 120.0]), size)
    grown, _ = resized_scene(1.2, 1.2)
    assert size_filter.estimate(grown, np.array([160.0, 120.0]), size) <= 1.03


def test_patches_outside_the_image_repeat_its_edge_and_keep_their_shape():
    image = np.zeros((50, 60, 3), np.uint8)
    image[:, 30:] = 200
    sizes = scaled(np.array([400.0, 20.0]), np.array([0.9, 1.0, 1.1]))
    cut = patches(image, np.array([-100.0, 25.0]), sizes, (16, 8))
    assert cut.shape == (3, 8, 16) and np.all(np.isfinite(cut))
    assert cut[1, :, 0].max() < 1 and cut[1, :, -1].min() > 150  # dark left edge repeated, bright right side


def test_model_size_keeps_the_shape_within_the_area():
    assert model_size(np.array([200.0, 100.0])) == (32, 16)
    assert model_size(np.array([12.0, 10.0])) == (12, 10)  # small targets are not enlarged
    assert min(model_size(np.array([1000.0, 4.0]))) == 8  # two cells at least


def test_gradient_histograms_are_normalised_per_cell():
    rng = np.random.default_rng(0)
    features = gradient_histograms(rng.uniform(0, 255, (4, 16, 12)).astype(np.float32))
    assert features.shape == (4, 4 * 3 * 9)
    cells = features.reshape(4, 12, 9)
    assert np.all(cells <= 0.2 + 1e-9) and np.all(np.linalg.norm(cells, axis=2) <= 1 + 1e-6)
