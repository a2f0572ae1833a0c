import numpy as np
import pytest
import torch

from tracker.backbones.base import uint8_to_tensor
from tracker.backbones.mdnet import local_response_norm
from tracker.data.synthetic import synthetic_sequence
from tracker.features import (
    FrameFeatures,
    crop_features,
    frame_features,
    frame_tensor,
    padded_regions,
    sample_crops,
    warp_region,
)


def warped_crop_features(backbone, image, boxes, img_size=107, padding=16):
    """Each box's own crop, resampled as the shared map is (OpenCV, uint8), through the trunk."""
    side = backbone.input_side(img_size)
    regions = padded_regions(boxes, img_size, padding)
    crops = np.stack([warp_region(image, np.r_[r[:2], r[2:] * side / img_size], side, side) for r in regions])
    with torch.inference_mode():
        return crop_features(backbone, uint8_to_tensor(crops), img_size)


def test_shared_map_matches_exact_crops_on_the_cell_grid(backbone):
    """A box whose crop lands on whole feature cells reads exactly what its own crop computes."""
    image = synthetic_sequence(n_frames=1).frames[0]
    ref = np.array([120.0, 90.0, 40.0, 48.0])
    shared = frame_features(backbone, image, "shared", 107, 16, ref,
                            np.stack([ref + [-60, -50, 0, 0], ref + [60, 50, 0, 0]]))
    # shift the reference by whole cells (16 crop pixels) from the map origin
    region = padded_regions(ref, 107, 16)[0]
    cell = 16 * region[2:] / 107
    offset = (shared.origin - region[:2]) + np.round((region[:2] - shared.origin) / cell) * cell
    aligned = np.array([ref + [offset[0] + k * cell[0], offset[1] + k * cell[1], 0, 0] for k in (0, 1, 2)])
    a, b = warped_crop_features(backbone, image, aligned), shared.extract(aligned)
    assert torch.allclose(a, b, rtol=1e-3, atol=1e-3 * float(a.abs().max()))


def test_batched_crops_resample_as_opencv_does():
    """One grid_sample for every crop gives OpenCV's bilinear warp up to its uint8 rounding, the mean pixel
    outside the image included; far from it (a shifted region) it does not."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3)).astype(np.uint8)
    regions = np.array([[10.3, 20.7, 50.2, 40.1], [-30, -20, 80, 90], [100, 80, 120, 100], [5, 5, 3, 3]])
    batched = sample_crops(frame_tensor(image), regions, 32).numpy()
    opencv = np.stack([warp_region(image, r, 32, 32) for r in regions]).transpose(0, 3, 1, 2)
    assert np.abs(batched - opencv).max() <= 0.51
    shifted = sample_crops(frame_tensor(image), regions + [1, 0, 0, 0], 32).numpy()
    assert np.abs(shifted - opencv).max() > 10


def test_exact_reading_is_the_crops_through_the_trunk(backbone):
    image = synthetic_sequence(n_frames=1).frames[0]
    boxes = np.array([[120.0, 90.0, 40.0, 48.0], [-10, 200, 60, 60], [300, 5, 30, 20]])
    a = FrameFeatures(backbone, image, 107, 16).extract(boxes)
    b = warped_crop_features(backbone, image, boxes)
    assert torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1] > 0.999


def test_shared_features_correlate_with_exact_for_random_candidates(backbone):
    image = synthetic_sequence(n_frames=1).frames[0]
    ref = np.array([120.0, 90.0, 40.0, 48.0])
    rng = np.random.default_rng(0)
    boxes = ref + np.c_[rng.uniform(-20, 20, (64, 2)), np.zeros((64, 2))]
    boxes[:, 2:] *= rng.uniform(0.9, 1.1, (64, 1))
    exact = FrameFeatures(backbone, image, 107, 16).extract(boxes)
    shared_frame = frame_features(backbone, image, "shared", 107, 16, ref, boxes)
    assert shared_frame.contains(boxes).all()
    shared = shared_frame.extract(boxes)
    corr = torch.corrcoef(torch.stack([exact.flatten(), shared.flatten()]))[0, 1]
    assert corr > 0.9


def test_contains_rejects_boxes_outside_the_map(backbone):
    image = synthetic_sequence(n_frames=1).frames[0]
    ref = np.array([120.0, 90.0, 40.0, 48.0])
    shared = frame_features(backbone, image, "shared", 107, 16, ref, ref[None])
    far = ref + [100, 0, 0, 0]
    assert shared.contains(np.stack([ref, far])).tolist() == [True, False]


@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 2.0), (4, 0.1, 0.6, 1.0), (3, 0.5, 0.75, 1.0)])
def test_fast_local_response_norm_matches_torch(size, alpha, beta, k):
    x = torch.randn(2, 7, 5, 6, generator=torch.Generator().manual_seed(size)) * 4
    expected = torch.nn.LocalResponseNorm(size, alpha, beta, k)(x)
    assert torch.allclose(local_response_norm(x, size, alpha, beta, k), expected, atol=1e-5)
