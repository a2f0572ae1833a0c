import numpy as np
import torch

from tracker.bbreg import BBoxRegressor, apply_deltas, box_deltas


def test_deltas_round_trip():
    rng = np.random.default_rng(0)
    boxes = np.c_[rng.uniform(0, 100, (20, 2)), rng.uniform(5, 50, (20, 2))]
    targets = np.c_[rng.uniform(0, 100, (20, 2)), rng.uniform(5, 50, (20, 2))]
    np.testing.assert_allclose(apply_deltas(boxes, box_deltas(boxes, targets)), targets, atol=1e-9)


def test_regressor_learns_a_linear_map_from_features_to_offsets():
    # features that encode each sample's offset from the target linearly: ridge must undo it
    rng = np.random.default_rng(1)
    target = np.array([50.0, 40.0, 30.0, 20.0])
    boxes = target + np.c_[rng.normal(0, 3, (300, 2)), np.zeros((300, 2))]
    deltas = box_deltas(boxes, np.tile(target, (300, 1)))
    mixing = rng.normal(size=(4, 64))
    features = torch.from_numpy(deltas @ mixing + rng.normal(0, 0.01, (300, 64)))
    reg = BBoxRegressor(lam=1e-3)
    reg.fit(features, boxes, target)
    corrected = reg.predict(features, boxes)
    before = np.abs(boxes - target).mean()
    after = np.abs(corrected - target).mean()
    assert after < 0.05 * before
