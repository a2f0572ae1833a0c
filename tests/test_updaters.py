"""The learning rules: exact agreement with BP where theory says so, storage, learning, seeding."""

import math

import numpy as np
import pytest
import torch

from tracker.build import build_tracker
from tracker.config import TrackerConfig
from tracker.config_sections import LearningConfig
from tracker.data.synthetic import synthetic_sequence
from tracker.head import Head
from tracker.updaters import UPDATERS, make_updater
from tracker.updaters.feedback_storage import BinaryFeedback


def make_head(seed=0, in_dim=20, width=16, dropout=0.0, positive=False):
    head = Head(in_dim, width, dropout)
    head.reset(torch.Generator().manual_seed(seed))
    if positive:  # positive weights and inputs keep every ReLU in its linear part
        with torch.no_grad():
            for layer in head.layers:
                layer.weight.abs_()
    return head


def gradients(updater_name, head, x, y, seed=1, **config):
    """fc4-fc6's gradients for one batch, in float32 unless asked: the identities below are float32's, to rounding."""
    updater = make_updater(LearningConfig(**{"learning_dtype": "float32", **config}, updater=updater_name))
    updater.start(head, torch.Generator().manual_seed(seed))
    updater.compute_gradients(x, y)
    return [p.grad.clone() for layer in head.layers for p in layer.parameters()]


def batch(n=12, in_dim=20, seed=2):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, in_dim, generator=g), torch.arange(n) % 2


def test_dfa_equals_bp_on_a_linear_network_with_eq7_feedback():
    x, y = batch()
    bp = gradients("bp", make_head(positive=True), x, y)
    dfa = gradients("dfa", make_head(positive=True), x, y, feedback_init="eq7", feedback_scaling="norm")
    for a, b in zip(bp, dfa):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)  # fp32 rounding


def test_dfa_differs_from_bp_with_random_feedback():
    x, y = batch()
    bp = gradients("bp", make_head(positive=True), x, y)
    dfa = gradients("dfa", make_head(positive=True), x, y, feedback_init="random")
    assert not torch.allclose(bp[0], dfa[0])
    torch.testing.assert_close(bp[4], dfa[4])  # fc6 always gets its true error


def test_fa_with_transposed_forward_weights_equals_bp_even_with_relu_and_dropout():
    x, y = batch()
    bp = gradients("bp", make_head(dropout=0.5), x, y)
    fa = gradients("fa", make_head(dropout=0.5), x, y, feedback_init="eq7", feedback_scaling="norm")
    for a, b in zip(bp, fa):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)  # fp32 rounding


@pytest.mark.parametrize("shape", [(2, 512), (2, 7), (3, 5)])
def test_binary_feedback_is_one_bit_per_element_and_round_trips_signs(shape):
    matrix = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    fb = BinaryFeedback(matrix, scale=0.5)
    assert fb.nbytes == math.ceil(shape[0] * shape[1] / 8)
    torch.testing.assert_close(fb.signs(), torch.where(matrix >= 0, 1.0, -1.0))
    error = torch.randn(4, shape[0])
    torch.testing.assert_close(fb.project(error), 0.5 * error @ fb.signs())


def test_storage_bdfa_is_32x_smaller_than_dfa():
    head = make_head(in_dim=4608, width=512)
    sizes = {}
    for name in ("dfa", "bdfa"):
        updater = make_updater(LearningConfig(updater=name))
        updater.start(head, torch.Generator().manual_seed(0))
        sizes[name] = updater.feedback_bytes()
    assert sizes == {"dfa": 2 * 2 * 512 * 4, "bdfa": 2 * 2 * 512 // 8}


@pytest.mark.parametrize("name", sorted(UPDATERS))
@pytest.mark.parametrize("init", ["random", "eq7"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_every_updater_lowers_the_loss_on_a_separable_problem(name, init, dtype):
    g = torch.Generator().manual_seed(3)
    direction = torch.randn(20, generator=g)
    x = torch.randn(256, 20, generator=g)
    y = (x @ direction > 0).long()
    head = make_head(dropout=0.5)
    updater = make_updater(LearningConfig(**{"updater": name, "feedback_init": init,
                                                             "learning_dtype": dtype}))
    updater.start(head, torch.Generator().manual_seed(4))
    losses = [updater.step(x, y, lr=0.05).loss for _ in range(200)]
    assert all(p.dtype == torch.float32 for p in head.parameters())  # bfloat16 products, float32 weights
    assert np.mean(losses[-20:]) < 0.6 * np.mean(losses[:5])
    with torch.no_grad():
        accuracy = ((head(x)[:, 1] > head(x)[:, 0]).long() == y).float().mean()
    assert accuracy > 0.85


@pytest.mark.parametrize("name", ["fa", "dfa", "bdfa"])
def test_same_seed_same_feedback(name):
    def feedback(seed):
        updater = make_updater(LearningConfig(updater=name))
        updater.start(make_head(), torch.Generator().manual_seed(seed))
        return [f.bits if isinstance(f, BinaryFeedback) else f.matrix for f in updater.rule.feedback]

    assert all(torch.equal(a, b) for a, b in zip(feedback(5), feedback(5)))
    assert not all(torch.equal(a, b) for a, b in zip(feedback(5), feedback(6)))


def test_alignment_diagnostics_report_angles_and_timings():
    x, y = batch()
    updater = make_updater(LearningConfig(updater="bdfa", alignment_diagnostics=True))
    updater.start(make_head(dropout=0.5), torch.Generator().manual_seed(0))
    for _ in range(3):
        updater.step(x, y, lr=0.01)
    report = updater.diagnostics()
    assert report["steps"] == 3 and len(report["angle_fc4_per_step_deg"]) == 3
    assert all(angle > 1 for angle in report["angle_fc4_per_step_deg"])  # BDFA's update is not BP's gradient
    assert report["error_propagation"] > 0 and report["weight_gradients"] > 0


@pytest.mark.parametrize("name", sorted(UPDATERS))
@pytest.mark.slow
def test_synthetic_sequence_tracks_with_every_updater(name):
    """Default settings; the same bar as BP's end-to-end test (see test_tracking), first 30 frames."""
    from tracker.boxes import iou

    sequence = synthetic_sequence()
    with pytest.warns(UserWarning):
        tracker = build_tracker(TrackerConfig().replace(learning={"updater": name}), "none")
    frames = sequence.frames[:30]
    tracker.init(frames[0], sequence.ground_truth[0])
    boxes = np.array([sequence.ground_truth[0]] + [tracker.update(f) for f in frames[1:]])
    assert iou(boxes, sequence.ground_truth[:30]).mean() > 0.5


@pytest.mark.parametrize("n_in", [512, 7, 1])
def test_two_class_binary_projection_is_a_lookup_equal_to_the_dense_product(n_in):
    """BDFA with 2 output classes: B^T e per unit is one of +-e0 +- e1, picked by the unit's sign code;
    it must equal the dense product with the +-1 matrix, and the old signed-sum loop to the bit."""
    g = torch.Generator().manual_seed(n_in)
    matrix = torch.randn(2, n_in, generator=g)
    fb = BinaryFeedback(matrix, scale=0.37)
    error = torch.randn(16, 2, generator=g)
    torch.testing.assert_close(fb.project(error), 0.37 * error @ fb.signs())
    mask = fb._mask()
    loop = torch.zeros(16, n_in)
    for k in range(2):
        loop += torch.where(mask[k], error[:, k:k + 1], -error[:, k:k + 1])
    assert torch.equal(fb.project(error), loop * 0.37)


def test_fused_sgd_matches_torch_optim_to_the_bit():
    """tracker.updaters.sgd calls the kernel torch.optim.SGD(fused=True) calls: same weights, bit for bit."""
    from tracker.updaters.sgd import FusedSGD, ParamGroup

    generator = torch.Generator().manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(5, 4, generator=generator)), torch.nn.Parameter(torch.randn(3))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    sgd = FusedSGD([ParamGroup(ours[:1], 1.0), ParamGroup(ours[1:], 10.0)], momentum=0.9, weight_decay=5e-4)
    reference = torch.optim.SGD([{"params": theirs[:1], "lr": 0.01}, {"params": theirs[1:], "lr": 0.1}], lr=0.01,
                                momentum=0.9, weight_decay=5e-4, fused=True)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=generator) for p in ours]
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = g.clone(), g.clone()
        sgd.step(0.01)
        reference.step()
    for p, q in zip(ours, theirs):
        assert torch.equal(p, q)
        assert torch.equal(sgd.momentum_buffer(p), reference.state[q]["momentum_buffer"])
    saved = sgd.state_dict()
    sgd.set_momentum_buffer(ours[1], None)
    assert sgd.momentum_buffer(ours[1]) is None
    sgd.load_state_dict(saved)
    assert torch.equal(sgd.momentum_buffer(ours[1]), reference.state[theirs[1]]["momentum_buffer"])


@pytest.mark.parametrize("name", sorted(UPDATERS))
def test_bfloat16_learning_computes_the_products_in_bfloat16(name):
    """Not a silent no-op: a bfloat16 step's gradients differ from float32's, but only by bfloat16 rounding."""
    x, y = batch(n=32)
    grads = {}
    for dtype in ("float32", "bfloat16"):
        head = make_head(dropout=0.5)
        updater = make_updater(LearningConfig(updater=name, learning_dtype=dtype))
        updater.start(head, torch.Generator().manual_seed(1))
        updater.compute_gradients(x, y)
        grads[dtype] = torch.cat([p.grad.flatten() for p in head.parameters()])
        assert grads[dtype].dtype == torch.float32
    difference = (grads["bfloat16"] - grads["float32"]).norm() / grads["float32"].norm()
    assert 0 < difference < 0.05


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(True, False, torch.bfloat16), (False, True, torch.bfloat16),
                                                        (False, False, torch.float32)])
def test_auto_learning_dtype_is_bfloat16_only_where_the_cpu_multiplies_it_natively(monkeypatch, avx512_bf16, amx,
                                                                                   expected):
    from tracker.updaters.trainer import learning_dtype

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert learning_dtype("auto") == expected
    assert learning_dtype("float32") == torch.float32 and learning_dtype("bfloat16") == torch.bfloat16
