"""The frozen trunk run by ONNX Runtime gives torch's maps, and a tracker built on it behaves."""

import sys

import numpy as np
import pytest
import torch

from tests.conftest import FAST
from tracker.backbones import EfficientNetLite0, MDNetBackbone, onnx_runtime
from tracker.backbones.onnx_runtime import OnnxRuntimeTrunk
from tracker.boxes import iou
from tracker.build import build_tracker
from tracker.config import TrackerConfig
from tracker.data.synthetic import synthetic_sequence
from tracker.errors import TrackerError
from tracker.evaluation.run import run_sequence


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0:
    trunk = EfficientNetLite0(8)
    trunk.load_imagenet()
    return trunk.eval()


def maps(backbone, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return backbone(backbone.normalize_float(images))


@pytest.mark.parametrize("shape", [(1, 3, 224, 224), (1, 3, 176, 320), (3, 3, 112, 112), (1, 3, 480, 640)])
def test_the_exported_trunk_gives_torchs_maps_within_float_tolerance(lite0, shape):
    images = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 255
    expected, got = maps(lite0, images), maps(OnnxRuntimeTrunk(lite0), images)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
    assert not torch.equal(got, expected)  # ONNX Runtime's kernels ran, not torch's


def test_the_mdnet_layout_exports_too(backbone):
    images = torch.rand(2, 3, 107, 107, generator=torch.Generator().manual_seed(1)) * 255
    expected, got = maps(backbone, images), maps(OnnxRuntimeTrunk(backbone), images)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_sides_the_exported_padding_does_not_fit_and_gradients_run_in_torch(lite0):
    trunk = OnnxRuntimeTrunk(lite0)
    odd = torch.rand(1, 3, 107, 100) * 255  # not multiples of the stride: 'SAME' pads differ from the graph's
    assert torch.equal(maps(trunk, odd), maps(lite0, odd))
    images = (torch.rand(1, 3, 64, 64) * 255).requires_grad_()
    trunk(trunk.normalize_float(images)).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_one_export_per_weights_and_process(lite0):
    first, second = OnnxRuntimeTrunk(lite0), OnnxRuntimeTrunk(lite0)
    assert first.graph is second.graph
    other = MDNetBackbone((16, 32, 32))
    other.init_random(torch.Generator().manual_seed(5))
    assert OnnxRuntimeTrunk(other).graph is not first.graph


def test_a_missing_runtime_is_one_clear_error(lite0, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(TrackerError, match="pip install onnx onnxruntime"):
        OnnxRuntimeTrunk(lite0)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(TrackerError, match="needs the onnx package"):
        onnx_runtime.export_graph(MDNetBackbone((8, 8, 8)))


@pytest.mark.slow
def test_a_tracker_on_the_exported_trunk_tracks_and_repeats_itself():
    config = TrackerConfig().replace(**FAST, network={"trunk_runtime": "onnxruntime"})
    sequence = synthetic_sequence()
    runs = [run_sequence(build_tracker(config, "imagenet"), sequence).boxes for _ in range(2)]
    assert isinstance(build_tracker(config, "imagenet").backbone, OnnxRuntimeTrunk)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert iou(runs[0], sequence.ground_truth).mean() > 0.5

