"""The backbones: the EfficientNet trunk against the reference network, BatchNorm folding, measured
geometry, input normalisation, and shared/exact features reading the same image points."""

import glob

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import SHARED
from tracker.backbones import Backbone, EfficientNetLite0, MDNetBackbone, NanoTrackTrunk
from tracker.backbones.efficientnet_lite0 import N_BLOCKS, fold_batch_norm, imagenet_state
from tracker.features import FrameFeatures, frame_features, padded_regions, sample_cells


@pytest.fixture(scope="module")
def imagenet() -> dict[str, torch.Tensor]:
    return imagenet_state()


@pytest.mark.parametrize("blocks,side", [(11, 224), (5, 112), (N_BLOCKS, 128)])
def test_trunk_matches_the_reference_network(imagenet, blocks, side):
    """Our folded trunk gives the activations of efficientnet-lite-pytorch's network (BatchNorm
    separate, eval mode) on the same input, to 1e-4."""
    reference_package = pytest.importorskip("efficientnet_lite_pytorch", reason="the test extra installs it")
    reference = reference_package.EfficientNet.from_name("efficientnet-lite0", image_size=side)
    reference.load_state_dict(imagenet)
    reference.eval()
    ours = EfficientNetLite0(blocks)
    ours.load_imagenet()
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(blocks))
    with torch.no_grad():
        expected = reference._swish(reference._bn0(reference._conv_stem(x)))
        for block in reference._blocks[:blocks]:
            expected = block(expected)
        got = ours(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_folding_batch_norm_is_exact():
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(6, 4, 3, 3, generator=g)
    state = {"bn.weight": torch.rand(6, generator=g) + 0.5, "bn.bias": torch.randn(6, generator=g),
             "bn.running_mean": torch.randn(6, generator=g), "bn.running_var": torch.rand(6, generator=g) + 0.1}
    x = torch.randn(2, 4, 9, 9, generator=g)
    expected = F.batch_norm(F.conv2d(x, weight), state["bn.running_mean"], state["bn.running_var"],
                            state["bn.weight"], state["bn.bias"], training=False, eps=1e-3)
    folded_weight, folded_bias = fold_batch_norm(weight, state, "bn")
    torch.testing.assert_close(F.conv2d(x, folded_weight, folded_bias), expected, atol=1e-5, rtol=1e-5)


def measured_support(backbone: Backbone, side: int, cell: int) -> tuple[float, int]:
    """Centre and width of the input pixels that map cell (cell, cell) depends on: gradient support,
    union over a few random inputs (ReLU6 may silence a pixel on one input, not on all)."""
    seen = torch.zeros(side, dtype=torch.bool)
    for seed in range(4):
        x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(seed), requires_grad=True)
        backbone(x)[0, :, cell, cell].sum().backward()
        seen |= x.grad[0].abs().sum(dim=(0, 1)) > 0
    columns = torch.nonzero(seen).flatten()
    lo, hi = int(columns.min()), int(columns.max()) + 1  # pixels [lo, hi)
    return (lo + hi) / 2, hi - lo


@pytest.mark.parametrize("make", [lambda: MDNetBackbone((8, 16, 16)), lambda: EfficientNetLite0(5),
                                  lambda: EfficientNetLite0(8), lambda: EfficientNetLite0(11)],
                         ids=["mdnet", "efficientnet-5", "efficientnet-8", "efficientnet-11"])
@pytest.mark.slow
def test_declared_geometry_is_what_the_network_computes(make):
    backbone = make()
    g = torch.Generator().manual_seed(0)
    for p in backbone.parameters():  # random filters: the geometry must not depend on the weights
        p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    side = backbone.input_side(2 * backbone.receptive_field + 3 * backbone.stride)
    cell = side // backbone.stride // 2
    centre, width = measured_support(backbone, side, cell)
    assert centre == backbone.cell_offset + backbone.stride * cell
    assert width == backbone.receptive_field


def test_the_nanotrack_trunks_cells_look_where_it_declares():
    """OpenCV gives no gradients, and squeeze-and-excitation layers make every cell depend a little on every
    pixel: the support is measured by replacing one input column at a time, over a few random inputs, as the
    columns that move the cell's features by at least 5% of the most any column does."""
    trunk = NanoTrackTrunk()
    side = trunk.input_side(150)
    cell = side // trunk.stride // 2
    effect = np.zeros(side)
    with torch.no_grad():
        for seed in range(3):
            g = torch.Generator().manual_seed(seed)
            x = torch.rand(1, 3, side, side, generator=g) * 255
            base = trunk(x)[0, :, cell, cell]
            for column in range(side):
                y = x.clone()
                y[..., column] = torch.rand(1, 3, side, generator=g) * 255
                effect[column] += float((trunk(y)[0, :, cell, cell] - base).abs().sum())
    columns = np.flatnonzero(effect >= 0.05 * effect.max())
    centre, width = (columns.min() + columns.max() + 1) / 2, columns.max() + 1 - columns.min()
    assert side == 160 and trunk(torch.zeros(2, 3, side, 2 * side)).shape == (2, 48, 10, 20)
    assert abs(centre - (trunk.cell_offset + trunk.stride * cell)) <= 2.0
    assert abs(width - trunk.receptive_field) <= 8


def test_the_nanotrack_trunk_has_no_gradients_and_no_weights_file(fast_config):
    from tracker.build import build_tracker
    from tracker.errors import TrackerError

    x = torch.zeros(1, 3, 64, 64, requires_grad=True)
    with pytest.raises(TrackerError, match="no gradients"):
        NanoTrackTrunk()(x)
    config = fast_config.replace(network={"backbone": "nanotrack"})
    with pytest.raises(TrackerError, match="no --weights"):
        build_tracker(config, weights="imagenet")
    with pytest.raises(TrackerError, match="trunk_runtime must be torch"):
        config.replace(network={"trunk_runtime": "onnxruntime"})


def test_input_normalisation_fits_the_trunks_own_statistics(imagenet):
    """(x - 127) / 128 (TensorFlow's Lite preprocessing) puts the stem's outputs nearer the stem
    BatchNorm's running statistics than torchvision's ImageNet mean/std, on real frames."""
    paths = sorted(glob.glob(str(SHARED / "datasets" / "pretrain" / "*" / "img" / "*.jpg")))[::60][:40]
    if not paths:
        pytest.skip("../shared/datasets/pretrain is absent")
    import cv2

    images = np.stack([cv2.resize(cv2.imread(p)[:, :, ::-1], (224, 224)) for p in paths])
    backbone = EfficientNetLite0(1)
    ours = backbone.normalize(images)
    raw = torch.from_numpy(images.copy()).permute(0, 3, 1, 2).float() / 255
    torchvision_style = (raw - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    var = imagenet["_bn0.running_var"]
    live = var > 1e-4

    def mismatch(x):
        stem = F.conv2d(x, imagenet["_conv_stem.weight"], stride=2)
        return float(torch.log(stem.var(dim=(0, 2, 3)) / var)[live].abs().mean())

    assert mismatch(ours) < 0.8 * mismatch(torchvision_style)


class RampBackbone(Backbone):
    """Cell value = the image x (channel 0) and y (channel 1) coordinate at the cell centre - 0.5: 16x16
    average pooling of a ramp image, with the stride-16 rounding of the EfficientNet trunk."""

    name = "ramp"
    stride = 16
    receptive_field = 16
    cell_offset = 8.0
    out_channels = 3

    def normalize_float(self, images):
        return images

    def input_side(self, side):
        return -(-side // 16) * 16

    def forward(self, x):
        return F.avg_pool2d(x, 16)


@pytest.mark.parametrize("mode", ["exact", "shared"])
def test_both_modes_read_each_box_at_its_sample_cells(mode):
    """On a ramp image the feature read at a cell *is* where it was read: both modes must read
    MDNet's cell points (37.5 + 16 i in the box's 107-pixel crop) for a backbone with another geometry."""
    y, x = np.mgrid[0:256, 0:256]
    image = np.stack([x, y, np.zeros_like(x)], -1).astype(np.uint8)
    rng = np.random.default_rng(0)
    boxes = np.c_[rng.uniform(70, 110, (20, 2)), rng.uniform(70, 80, (20, 2))]
    ref = np.array([90.0, 90.0, 75.0, 75.0])
    if mode == "exact":
        features = FrameFeatures(RampBackbone(), image, 107, 16)
    else:
        features = frame_features(RampBackbone(), image, "shared", 107, 16, ref, boxes)
    read = features.extract(boxes).view(len(boxes), 3, 3, 3).numpy()
    regions = padded_regions(boxes, 107, 16)
    cells = sample_cells(107)
    expected_x = regions[:, None, 0] + cells[None, :] * regions[:, None, 2] / 107 - 0.5  # (box, col)
    expected_y = regions[:, None, 1] + cells[None, :] * regions[:, None, 3] / 107 - 0.5  # (box, row)
    np.testing.assert_allclose(read[:, 0], np.broadcast_to(expected_x[:, None, :], (20, 3, 3)), atol=1.0)
    np.testing.assert_allclose(read[:, 1], np.broadcast_to(expected_y[:, :, None], (20, 3, 3)), atol=1.0)


def test_sample_cells_are_mdnets_conv3_grid():
    np.testing.assert_allclose(sample_cells(107), [37.5, 53.5, 69.5])


def test_the_nanotrack_trunk_read_from_two_threads_gives_what_it_gives_from_one():
    """One trunk, two threads (the whole-frame search beside the tracker, ``redetect_runner: thread``): OpenCV's
    network holds its input between setInput and forward, so one thread's input could be read for the other's."""
    import threading

    trunk = NanoTrackTrunk()
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.rand(1, 3, side, side, generator=generator) * 255 for side in (160, 192)]
    alone = [trunk(x) for x in inputs]
    wrong: list[str] = []

    def read(k: int) -> None:
        for _ in range(30):
            try:
                if not torch.equal(trunk(inputs[k]), alone[k]):
                    wrong.append(f"thread {k}: another answer")
            except Exception as exc:  # noqa: BLE001 - what OpenCV raised is the finding
                wrong.append(f"thread {k}: {type(exc).__name__}")

    threads = [threading.Thread(target=read, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
