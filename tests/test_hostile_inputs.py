"""Hostile and unusual inputs: each class ends in one 'error:' line and exit 2, never a traceback."""

import codecs
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import FAST, write_otb
from tests.test_cli import ROOT, assert_one_line_error, run_cli
from tracker.backbones import BACKBONES, MDNetBackbone, save_weights
from tracker.backbones.weights import KNOWN_BACKBONES
from tracker.cli import main
from tracker.config import MAX_COUNT, TrackerConfig, load_config
from tracker.errors import TrackerError


@pytest.fixture
def fast_config_file(tmp_path):
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump({**FAST, "backbone_channels": [16, 32, 32]}))
    return str(path)


@pytest.fixture
def toy(tmp_path):
    return write_otb(tmp_path / "Toy", boxes=[f"{10 + i},{10 + i},30,30" for i in range(8)])


def test_utf16_ground_truth_with_a_bom_reads_like_utf8(toy, tmp_path):
    """Windows tools write UTF-16 with a BOM: the same boxes, not an error."""
    text = (toy / "groundtruth_rect.txt").read_text()
    (toy / "groundtruth_rect.txt").write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    code, out, err = run_cli("--video", str(toy), "--weights", "none", "--max-frames", "2",
                             "--output", str(tmp_path / "b.txt"))
    assert code == 0, err
    assert (tmp_path / "b.txt").read_text().splitlines()[0] == "10.00,10.00,30.00,30.00"


@pytest.mark.parametrize("where, payload, fragment", [
    ("gt", b"10,10,30,30\n11,11,30,30\xe9\n", "ground truth file {path} is not UTF-8 text (byte 0xe9 at offset 23)"),
    ("config", bytes(range(128, 256)), "config file {path} is not UTF-8 text (byte 0x80 at offset 0)"),
])
def test_text_that_is_not_utf8_is_refused_naming_the_byte(toy, tmp_path, where, payload, fragment):
    path = toy / "groundtruth_rect.txt" if where == "gt" else tmp_path / "binary.yaml"
    path.write_bytes(payload)
    args = ["--video", str(toy), "--weights", "none"] + (["--config", str(path)] if where == "config" else [])
    assert_one_line_error(*run_cli(*args)[::2], fragment.format(path=path))


@pytest.mark.parametrize("yaml_text, fragment", [
    ("seed: -1", "seed must be in 0 .. 2**32 - 1, got -1"),
    (f"seed: {10**23}", "seed must be in 0 .. 2**32 - 1"),
    ("img_size: 10", "img_size must be in 75 .. max_map_side (1024) for the mdnet backbone, got 10"),
    (f"n_frames_long: {10**20}", f"n_frames_long must be in 1 .. {MAX_COUNT}"),
    ("overlap_pos_init: 1.5", "overlap_pos_init is an IoU and must be in [0, 1], got 1.5"),
    ("lr_update: .nan", "lr_update must be finite and positive, got nan"),
    ("momentum: 1.0", "momentum must be in [0, 1), got 1.0"),
])
def test_config_values_that_would_crash_later_are_refused_at_load(tmp_path, yaml_text, fragment):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text + "\nbackbone: mdnet\n")
    with pytest.raises(TrackerError) as caught:
        load_config(path)
    assert fragment in str(caught.value)


@pytest.mark.parametrize("seed", ["-1", str(10**23)])
def test_seed_flags_out_of_range(toy, seed):
    assert_one_line_error(*run_cli("--video", str(toy), "--weights", "none", f"--seed={seed}")[::2],
                          "seed must be in 0 .. 2**32 - 1")


def test_each_backbone_refuses_crops_below_its_minimum():
    assert TrackerConfig(backbone="efficientnet_lite0", img_size=32).img_size == 32
    with pytest.raises(TrackerError, match="img_size must be in 32"):
        TrackerConfig().replace(img_size=31)
    assert set(KNOWN_BACKBONES) == set(BACKBONES)  # weights.py's copy of the registry's names


def weights_with(tmp_path, name, edit):
    backbone = MDNetBackbone((4, 4, 4))
    backbone.init_random(torch.Generator().manual_seed(0))
    save_weights(tmp_path / name, backbone)
    blob = torch.load(tmp_path / name, weights_only=False)
    edit(blob)
    torch.save(blob, tmp_path / name)
    return str(tmp_path / name)


@pytest.mark.parametrize("edit, fragment", [
    (lambda b: b["state_dict"]["conv1.weight"].view(-1).__setitem__(0, float("nan")),
     "conv1.weight holds NaN or infinite values"),
    (lambda b: b.__setitem__("backbone", "resnet"), "holds an unknown backbone 'resnet'"),
    (lambda b: b["settings"].__setitem__("channels", [-3, 4, 4]), "backbone mdnet: bad settings"),
    (lambda b: b["settings"].__setitem__("channels", [0, 4, 4]), "backbone mdnet: bad settings"),
])
def test_weights_that_load_but_would_crash_are_refused(toy, tmp_path, edit, fragment):
    path = weights_with(tmp_path, "w.pt", edit)
    assert_one_line_error(*run_cli("--video", str(toy), "--backbone", "mdnet", "--weights", path)[::2], fragment)


@pytest.mark.parametrize("source, fragment", [
    ("99999999999999999999", "no camera at index 99999999999999999999"),
    ("²", "no such video file: ²"),  # a digit to str.isdigit, not a camera index
])
def test_webcam_sources_that_are_not_cameras(source, fragment):
    assert_one_line_error(*run_cli("--webcam", source)[::2], fragment)


@pytest.fixture
def data(tmp_path):
    write_otb(tmp_path / "data" / "synA", n_frames=10, size=(200, 160))
    return tmp_path


def pretrain_cli(data, *args):
    proc = subprocess.run([sys.executable, "-m", "tracker.pretrain", "--data", str(data / "data"), "--quiet",
                           "--backbone", "mdnet", "--channels", "8", "16", "16", "--fc-width", "32", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--threads", "0"], "--threads must be in 1 .. 1024, got 0"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be in 1 .. 1000000, got 0"),
    (["--batch-frames", "0"], "--batch-frames must be in 1 .. 1024, got 0"),
    (["--iterations", "-1"], "--iterations must be in 0 .. 1000000, got -1"),
    (["--seed", "-1"], "--seed must be in 0 .. 4294967295, got -1"),
    (["--lr", "inf"], "--lr must be finite and >= 0, got inf"),
    (["--out", "{tmp}/a_file/w.pt"], "cannot create the folder of --out"),
    (["--iterations", "2"], "checkpoint {tmp}/w.pt.ckpt could not be read (UnpicklingError); delete it"),
])
def test_pretraining_flags_and_files_that_would_crash(data, args, fragment):
    (data / "a_file").write_text("")
    (data / "w.pt.ckpt").write_bytes(b"garbage")
    args = [a.format(tmp=data) for a in args]
    out = [] if "--out" in args else ["--out", str(data / "w.pt")]
    code, err = pretrain_cli(data, *out, *args)
    assert_one_line_error(code, err, fragment.format(tmp=data))


def test_ctrl_c_during_pretraining_says_where_the_checkpoint_is(data):
    out = data / "w.pt"
    proc = subprocess.Popen([sys.executable, "-m", "tracker.pretrain", "--data", str(data / "data"), "--quiet",
                             "--backbone", "mdnet", "--channels", "8", "16", "16", "--fc-width", "32",
                             "--out", str(out), "--iterations", "100000", "--checkpoint-every", "2"],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    checkpoint = data / "w.pt.ckpt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130
    assert err.strip().startswith(f"interrupted: checkpoint {checkpoint} holds iteration ") and "Traceback" not in err
    assert "run the same command to resume" in err and err.strip().count("\n") == 0


def test_frames_without_ground_truth_are_not_scored_and_the_json_is_strict(toy, tmp_path):
    """A NaN line (target absent, UAV123 style) used to write "mean_iou": NaN, which strict parsers refuse."""
    lines = (toy / "groundtruth_rect.txt").read_text().splitlines()
    lines[5] = "NaN,NaN,NaN,NaN"
    (toy / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    summary = tmp_path / "s.json"
    code, out, err = run_cli("--video", str(toy), "--weights", "none", "--summary-json", str(summary))
    assert code == 0, err
    data = json.loads(summary.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert data["frames"] == 8 and data["scored_frames"] == 7 and 0 <= data["mean_iou"] <= 1
    assert "(on the 7 frames with ground truth)" in out


@pytest.mark.parametrize("line", ["10,10,inf,20", "10,NaN,30,30"])
def test_ground_truth_that_is_half_missing_or_infinite_is_malformed(toy, line):
    lines = (toy / "groundtruth_rect.txt").read_text().splitlines()
    lines[3] = line
    (toy / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    assert_one_line_error(*run_cli("--video", str(toy), "--weights", "none")[::2], "malformed ground truth at")


def test_absurd_initial_boxes_are_input_errors():
    assert_one_line_error(*run_cli("--init", "10,10,1e300,20", "--weights", "none")[::2],
                          "is more than 10 times the 320x240 image")


def mutate(folder, target, how):
    """One hostile change to a copy of the synthetic OTB folder."""
    path = folder / target
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "random":
        path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif how == "utf16_no_bom":
        path.write_bytes(data.decode().encode("utf-16-le"))
    elif how == "latin1":
        path.write_bytes(data.replace(b",30", b",3\xe9", 1))
    elif how == "five_columns":
        path.write_text(data.decode().replace("\n", ",1\n", 1))
    elif how == "inf":
        path.write_text(data.decode().replace(",30", ",inf", 1))
    elif how == "drop_line":
        path.write_text("\n".join(data.decode().splitlines()[:-1]) + "\n")


FUZZ = [
    ("img/0003.jpg", "empty", "unreadable frame"),
    ("img/0003.jpg", "random", "unreadable frame"),
    ("img/0001.jpg", "random", "unreadable frame"),
    ("groundtruth_rect.txt", "utf16_no_bom", "malformed ground truth"),  # NUL-laced ASCII is valid UTF-8
    ("groundtruth_rect.txt", "latin1", "is not UTF-8 text"),
    ("groundtruth_rect.txt", "five_columns", "malformed ground truth"),
    ("groundtruth_rect.txt", "inf", "malformed ground truth"),
    ("groundtruth_rect.txt", "drop_line", "fewer ground-truth boxes"),
    ("groundtruth_rect.txt", "empty", "ground truth file is empty"),
]


@pytest.mark.parametrize("target, how, fragment", FUZZ, ids=[f"{t}-{h}" for t, h, _ in FUZZ])
def test_fuzzed_sequences_end_in_one_error_line(tmp_path, fast_config_file, capsys, target, how, fragment):
    folder = write_otb(tmp_path / "Toy", boxes=[f"{10 + i},{10 + i},30,30" for i in range(8)])
    mutate(folder, target, how)
    code = main(["--video", str(folder), "--weights", "none", "--config", fast_config_file, "--quiet"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], err


@pytest.mark.parametrize("damage, libjpeg_says", [("zeroed", "Corrupt JPEG data"), ("truncated", "Premature end")])
def test_a_jpeg_that_decodes_in_part_is_one_warning_line_naming_the_frame(tmp_path, fast_config_file, capsys,
                                                                         damage, libjpeg_says):
    """libjpeg warns and decodes what it can: we say which frame, once, and track on (an error would stop a
    long video for one damaged frame; silence would hide grey blocks in the features)."""
    folder = write_otb(tmp_path / "Toy", boxes=[f"{10 + i},{10 + i},30,30" for i in range(8)])
    frame = folder / "img" / "0003.jpg"
    data = bytearray(frame.read_bytes())
    if damage == "zeroed":
        data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    else:
        del data[len(data) // 3:]
    frame.write_bytes(bytes(data))
    assert main(["--video", str(folder), "--weights", "none", "--config", fast_config_file, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"warning: frame {frame} is corrupt ({libjpeg_says}" in err
    assert not [line for line in err.splitlines() if line.startswith(libjpeg_says)]  # libjpeg's own line is hidden


@pytest.mark.parametrize("flags", [["--output", "b.txt"], ["--summary-json", "s.json"], ["--max-frames", "5"]])
def test_the_live_demo_refuses_flags_it_would_ignore(flags, capsys):
    assert main(["--webcam", "0", *flags]) == 2
    assert f"{flags[0]}: not for the live demo" in capsys.readouterr().err


def test_a_failed_check_does_not_empty_an_existing_output_file(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    keep = tmp_path / "boxes.txt"
    keep.write_text("precious\n")
    assert main(["--video", str(toy), "--weights", "none", "--output", str(keep), "--display", "--quiet"]) == 2
    assert "--display needs a screen" in capsys.readouterr().err
    assert keep.read_text() == "precious\n"
