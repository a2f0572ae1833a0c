import pytest
import torch

from tracker.backbones import EfficientNetLite0, MDNetBackbone, load_backbone, read_weights, save_weights
from tracker.build import build_tracker
from tracker.config import TrackerConfig
from tracker.errors import TrackerError

MDNET = TrackerConfig().replace(network={"backbone": "mdnet"})


def mdnet_state(c=(8, 16, 24), width=32):
    """A state dict in py-MDNet's published layout (``layers.conv1.0.weight`` ...)."""
    g = torch.Generator().manual_seed(0)
    shapes = {
        "layers.conv1.0.weight": (c[0], 3, 7, 7), "layers.conv1.0.bias": (c[0],),
        "layers.conv2.0.weight": (c[1], c[0], 5, 5), "layers.conv2.0.bias": (c[1],),
        "layers.conv3.0.weight": (c[2], c[1], 3, 3), "layers.conv3.0.bias": (c[2],),
        "layers.fc4.0.weight": (width, c[2] * 9), "layers.fc4.0.bias": (width,),
        "layers.fc5.1.weight": (width, width), "layers.fc5.1.bias": (width,),
    }
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


def test_loads_py_mdnet_layout(tmp_path):
    state = mdnet_state()
    path = tmp_path / "mdnet_vot-otb.pth"
    torch.save({"shared_layers": state}, path)
    loaded = read_weights(path)
    assert loaded.backbone == "mdnet" and loaded.settings == {"channels": [8, 16, 24]}
    assert torch.equal(loaded.conv["conv2.weight"], state["layers.conv2.0.weight"])
    assert torch.equal(loaded.fc["fc5.weight"], state["layers.fc5.1.weight"])
    tracker = build_tracker(MDNET, str(path))
    assert tracker.backbone.channels == (8, 16, 24)
    assert torch.equal(tracker.backbone.conv3.weight, state["layers.conv3.0.weight"])
    assert tracker.head.fc4.in_features == 24 * 9 and tracker.head.fc4.out_features == 32


def test_own_format_round_trip(tmp_path):
    net = MDNetBackbone((4, 8, 8))
    net.init_random(torch.Generator().manual_seed(1))
    path = tmp_path / "w.pt"
    save_weights(path, net, meta={"note": "test"})
    loaded = read_weights(path)
    assert set(loaded.conv) == {f"conv{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")}
    assert torch.equal(load_backbone(loaded).conv1.weight, net.conv1.weight)
    assert loaded.meta == {"note": "test"} and not loaded.fc


def test_the_file_records_its_backbone_and_a_mismatch_is_one_line(tmp_path):
    trunk = EfficientNetLite0(3)
    trunk.load_imagenet()
    path = tmp_path / "trunk.pt"
    save_weights(path, trunk)
    loaded = read_weights(path)
    assert (loaded.backbone, loaded.settings) == ("efficientnet_lite0", {"blocks": 3})
    tracker = build_tracker(TrackerConfig(), str(path))  # the file fixes the cut point
    assert tracker.config.network.trunk_blocks == 3 and torch.equal(tracker.backbone.stem.weight, trunk.stem.weight)
    with pytest.raises(TrackerError, match="holds a efficientnet_lite0 backbone, but the config asks for mdnet"):
        build_tracker(MDNET, str(path))


def test_wrong_shape_is_one_clear_error(tmp_path):
    state = mdnet_state()
    state["layers.conv2.0.weight"] = torch.zeros(16, 5, 5, 5)
    torch.save({"shared_layers": state}, tmp_path / "bad.pth")
    with pytest.raises(TrackerError, match=r"conv2.weight has shape \(16, 5, 5, 5\), expected \(16, 8, 5, 5\)"):
        build_tracker(MDNET, str(tmp_path / "bad.pth"))


@pytest.mark.parametrize("blob,message", [
    ({"shared_layers": {"layers.conv9.0.weight": torch.zeros(1)}}, "unexpected py-MDNet key"),
    ({"something": 1}, "neither our format"),
    ({"shared_layers": {"layers.conv1.0.weight": torch.zeros(8, 3, 7, 7)}}, "missing conv weights"),
    ({"shared_layers": {f"layers.conv{i}.0.weight": torch.zeros(8, 8, 3, 3) for i in (1, 2, 3)}}, "is missing conv"),
])
def test_wrong_keys_are_one_clear_error(tmp_path, blob, message):
    torch.save(blob, tmp_path / "w.pth")
    with pytest.raises(TrackerError, match=message):
        build_tracker(MDNET, str(tmp_path / "w.pth"))


def test_garbage_and_missing_files(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(TrackerError, match="could not be read"):
        read_weights(tmp_path / "junk.pt")
    with pytest.raises(TrackerError, match="not found"):
        read_weights(tmp_path / "absent.pt")
