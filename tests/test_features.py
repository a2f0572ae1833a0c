import numpy as np
import pytest
import torch

from tracker.backbones.mdnet import local_response_norm
from tracker.data.synthetic import synthetic_sequence
from tracker.features import FrameFeatures, frame_features, padded_regions


def test_shared_map_matches_exact_crops_on_the_cell_grid(backbone):
    """A box whose crop lands on whole feature cells reads exactly what its own crop computes."""
    image = synthetic_sequence(n_frames=1).frames[0]
    ref = np.array([120.0, 90.0, 40.0, 48.0])
    exact = FrameFeatures(backbone, image, 107, 16)
    shared = frame_features(backbone, image, "shared", 107, 16, ref,
                            np.stack([ref + [-60, -50, 0, 0], ref + [60, 50, 0, 0]]))
    # shift the reference by whole cells (16 crop pixels) from the map origin
    region = padded_regions(ref, 107, 16)[0]
    cell = 16 * region[2:] / 107
    offset = (shared.origin - region[:2]) + np.round((region[:2] - shared.origin) / cell) * cell
    aligned = np.array([ref + [offset[0] + k * cell[0], offset[1] + k * cell[1], 0, 0] for k in (0, 1, 2)])
    a, b = exact.extract(aligned), shared.extract(aligned)
    assert torch.allclose(a, b, rtol=1e-3, atol=1e-3 * float(a.abs().max()))


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
