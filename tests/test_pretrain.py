"""Multi-domain pretraining: it learns, its checkpoints resume exactly, it never touches OTB data."""

import json

import numpy as np
import pytest
import torch

from tests.conftest import write_otb
from tracker.backbones import read_weights
from tracker.build import PRETRAINED_DIR, build_tracker
from tracker.config import TrackerConfig
from tracker.data.synthetic import synthetic_sequence
from tracker.pretrain import is_otb_name, main


@pytest.fixture
def data(tmp_path):
    write_otb(tmp_path / "data" / "synA", n_frames=10, size=(200, 160))
    write_otb(tmp_path / "data" / "synB", n_frames=10, size=(200, 160))
    return tmp_path


def pretrain(data, out, iterations, updater="bp", every=3, backbone=("--backbone", "mdnet")):
    # lr 3e-4: DFA / BDFA diverge on this tiny problem at 1e-3 and above, BP does not
    return main(["--data", str(data / "data"), "--out", str(out), "--iterations", str(iterations),
                 "--channels", "8", "16", "16", "--fc-width", "32", "--batch-frames", "4", "--lr", "0.0003",
                 "--fc-updater", updater, "--checkpoint-every", str(every), "--augment", "flip", "--quiet",
                 *backbone])


@pytest.mark.parametrize("updater", ["bp", "bdfa"])
@pytest.mark.slow
def test_pretraining_lowers_the_loss_and_the_tracker_loads_the_weights(data, updater):
    out = data / "w.pt"
    assert pretrain(data, out, 80, updater, every=40) == 0
    history = torch.load(out.with_name("w.pt.ckpt"), weights_only=True)["history"]
    losses = np.array(history)[:, 0]
    assert losses[-10:].mean() < 0.95 * losses[:5].mean()
    tracker = build_tracker(TrackerConfig().replace(network={"backbone": "mdnet"}), str(out))
    assert tracker.backbone.channels == (8, 16, 16) and tracker.head.fc4.out_features == 32
    sequence = synthetic_sequence(n_frames=5)
    tracker.init(sequence.frames[0], sequence.ground_truth[0])
    assert np.all(np.isfinite(tracker.update(sequence.frames[1])))


@pytest.mark.parametrize("mode", ["shared", "exact"])
@pytest.mark.slow
def test_fine_tuning_the_imagenet_trunk_moves_only_the_chosen_blocks(data, mode):
    """--train-blocks 1 of a 3-block trunk: block 2 learns, the stem and blocks 0-1 stay ImageNet's,
    whether features are read off one map per frame (as the tracker does) or off each crop."""
    from tracker.backbones import EfficientNetLite0

    out = data / "trunk.pt"
    assert pretrain(data, out, 4, backbone=("--trunk-blocks", "3", "--train-blocks", "1", "--trunk-lr-mult", "10",
                                            "--feature-mode", mode)) == 0
    imagenet = EfficientNetLite0(3)
    imagenet.load_imagenet()
    tuned = read_weights(out)
    assert (tuned.backbone, tuned.settings) == ("efficientnet_lite0", {"blocks": 3})
    for key, value in imagenet.state_dict().items():
        assert torch.equal(tuned.conv[key], value) != key.startswith("layers.2."), key
    tracker = build_tracker(TrackerConfig(), str(out))
    assert tracker.config.network.trunk_blocks == 3 and tracker.head.fc4.in_features == 24 * 9


def test_a_checkpoint_past_the_asked_iterations_is_refused(data, capsys):
    """Not silently saved as if it were what was asked for (a 0-iteration export once picked up a finished run)."""
    assert pretrain(data, data / "w.pt", 4, every=2) == 0
    assert pretrain(data, data / "w.pt", 2) == 2
    assert "is at iteration 4, past --iterations 2" in capsys.readouterr().err


def test_zero_iterations_export_the_imagenet_trunk_alone(data):
    """How tracker/pretrained/default.pt is made: the folded ImageNet trunk, no fc4/fc5 (fresh per sequence)."""
    from tracker.backbones import EfficientNetLite0

    out = data / "trunk.pt"
    assert pretrain(data, out, 0, backbone=("--trunk-blocks", "3")) == 0
    imagenet = EfficientNetLite0(3)
    imagenet.load_imagenet()
    exported = read_weights(out)
    assert not exported.fc and exported.meta["final_loss"] is None
    assert all(torch.equal(exported.conv[k], v) for k, v in imagenet.state_dict().items())
    assert build_tracker(TrackerConfig(), str(out)).fc_state is None


def test_resume_continues_on_the_same_loss_curve(data):
    assert pretrain(data, data / "straight.pt", 6) == 0
    assert pretrain(data, data / "resumed.pt", 3) == 0  # stops at 3, checkpoint written
    assert pretrain(data, data / "resumed.pt", 6) == 0  # picks up at step 3
    straight = torch.load(data / "straight.pt.ckpt", weights_only=True)
    resumed = torch.load(data / "resumed.pt.ckpt", weights_only=True)
    assert resumed["step"] == straight["step"] == 6
    np.testing.assert_allclose(resumed["history"], straight["history"], rtol=1e-5)
    for key, value in straight["backbone"].items():
        torch.testing.assert_close(resumed["backbone"][key], value)


def test_refuses_otb_sequences(tmp_path, capsys):
    write_otb(tmp_path / "data" / "Basketball", n_frames=3)
    write_otb(tmp_path / "data" / "synA", n_frames=3)
    assert main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "w.pt"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: refusing to train on evaluation data: Basketball in {tmp_path / 'data'} "
                   "is an OTB-100 sequence"]


@pytest.mark.parametrize("name,otb", [("Jogging", True), ("jogging.1", True), ("otb_Basketball", True),
                                      ("vot_ball1", False), ("uav123_10fps_boat1", False), ("vottir_horse", False)])
def test_otb_name_guard(name, otb):
    assert is_otb_name(name) is otb


@pytest.mark.parametrize("name,backbone,rule", [("default", "efficientnet_lite0", "bp"), ("mdnet", "mdnet", "bp")])
def test_shipped_weights_carry_their_record_and_never_saw_otb(name, backbone, rule):
    path = PRETRAINED_DIR / f"{name}.pt"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert {"architecture", "data", "command", "seed", "date", "final_loss", "final_accuracy"} <= set(meta)
    assert meta["fc_updater"] == rule and meta["data"] and not any(is_otb_name(n) for n in meta["data"])
    weights = read_weights(path)
    assert weights.backbone == meta["architecture"].get("backbone", "mdnet") == backbone
    if backbone == "mdnet":
        assert weights.settings["channels"] == meta["architecture"]["backbone_channels"]
    else:
        assert weights.settings["blocks"] == meta["architecture"]["blocks"]
    assert path.stat().st_size < 50 * 2**20


class _Payload:
    """Pickles into a call of ``Path.touch`` on a marker file: what a planted checkpoint would run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (Path(self.marker),))


def test_a_planted_checkpoint_is_refused_without_running_its_code(data, capsys):
    """A checkpoint beside --out is data: one that carries code is refused in one line, and the code never runs."""
    out = data / "w.pt"
    marker = data / "payload-ran"
    torch.save({"args": _Payload(str(marker)), "trainer": {}}, out.with_name("w.pt.ckpt"))
    before = out.with_name("w.pt.ckpt").read_bytes()
    assert pretrain(data, out, 3) == 2
    assert not marker.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: checkpoint") and "could not be read" in err[0]
    assert out.with_name("w.pt.ckpt").read_bytes() == before and not out.exists()
