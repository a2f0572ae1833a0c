"""Hostile and unusual inputs: each class ends in one 'error:' line and exit 2, never a traceback."""

import codecs
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
import yaml

from tests.conftest import FAST, NARROW, damaged_video, interrupt, started, without_file_permission_override, write_otb
from tests.test_cli import ROOT, assert_one_line_error, run_cli
from tracker.backbones import TRAINABLE_BACKBONES, MDNetBackbone, save_weights
from tracker.backbones.weights import KNOWN_BACKBONES
from tracker.cli import main
from tracker.config import SECTION_OF, TrackerConfig, dotted, load_config
from tracker.data.synthetic import synthetic_sequence
from tracker.errors import TrackerError
from tracker.limits import SIZE_BOUNDS


@pytest.fixture
def fast_config_file(tmp_path):
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(NARROW))
    return str(path)


@pytest.fixture
def toy(tmp_path):
    return write_otb(tmp_path / "Toy", boxes=[f"{10 + i},{10 + i},30,30" for i in range(8)])


@pytest.mark.slow
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
@pytest.mark.slow
def test_text_that_is_not_utf8_is_refused_naming_the_byte(toy, tmp_path, where, payload, fragment):
    path = toy / "groundtruth_rect.txt" if where == "gt" else tmp_path / "binary.yaml"
    path.write_bytes(payload)
    args = ["--video", str(toy), "--weights", "none"] + (["--config", str(path)] if where == "config" else [])
    assert_one_line_error(*run_cli(*args)[::2], fragment.format(path=path))


@pytest.mark.parametrize("yaml_text, fragment", [
    ("seed: -1", "seed must be in 0 .. 2**32 - 1, got -1"),
    (f"seed: {10**23}", "seed must be in 0 .. 2**32 - 1"),
    ("network: {img_size: 10, backbone: mdnet}",
     "network.img_size must be in 75 .. network.max_map_side (1024) for the mdnet backbone, got 10"),
    (f"samples: {{n_frames_long: {10**20}}}", f"samples.n_frames_long must be in 1 .. {SIZE_BOUNDS['n_frames_long']}"),
    ("samples: {overlap_pos_init: 1.5}", "samples.overlap_pos_init is an IoU and must be in [0, 1], got 1.5"),
    ("updates: {lr_update: .nan}", "updates.lr_update must be finite and positive, got nan"),
    ("learning: {momentum: 1.0}", "learning.momentum must be in [0, 1), got 1.0"),
])
def test_config_values_that_would_crash_later_are_refused_at_load(tmp_path, yaml_text, fragment):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text + "\n")
    with pytest.raises(TrackerError) as caught:
        load_config(path)
    assert fragment in str(caught.value)


@pytest.mark.parametrize("seed", ["-1", str(10**23)])
@pytest.mark.slow
def test_seed_flags_out_of_range(toy, seed):
    assert_one_line_error(*run_cli("--video", str(toy), "--weights", "none", f"--seed={seed}")[::2],
                          "seed must be in 0 .. 2**32 - 1")


def test_each_backbone_refuses_crops_below_its_minimum():
    assert TrackerConfig().replace(network={"backbone": "efficientnet_lite0", "img_size": 32}).network.img_size == 32
    with pytest.raises(TrackerError, match="img_size must be in 32"):
        TrackerConfig().replace(network={"img_size": 31})
    assert set(KNOWN_BACKBONES) == set(TRAINABLE_BACKBONES)  # weights.py's copy of the names a file may hold


def weights_with(tmp_path, name, edit):
    backbone = MDNetBackbone((4, 4, 4))
    backbone.init_random(torch.Generator().manual_seed(0))
    save_weights(tmp_path / name, backbone)
    blob = torch.load(tmp_path / name, weights_only=True)
    edit(blob)
    torch.save(blob, tmp_path / name)
    return str(tmp_path / name)


@pytest.mark.parametrize("edit, fragment", [
    (lambda b: b["state_dict"]["conv1.weight"].view(-1).__setitem__(0, float("nan")),
     "conv1.weight holds NaN or infinite values"),
    (lambda b: b.__setitem__("backbone", "resnet"), "holds an unknown backbone 'resnet'"),
    (lambda b: b["settings"].__setitem__("channels", [-3, 4, 4]), "claims backbone channels [-3, 4, 4]"),
    (lambda b: b["settings"].__setitem__("channels", [0, 4, 4]), "claims backbone channels [0, 4, 4]"),
    (lambda b: b["settings"].__setitem__("channels", [100_000, 4, 4]),
     "claims backbone channels [100000, 4, 4]: each must be an integer in 1 .. 4096"),
    (lambda b: b.__setitem__("state_dict", {k: v.long() for k, v in b["state_dict"].items()}),
     "conv1.weight holds int64 values, expected floating point"),
])
@pytest.mark.slow
def test_weights_that_load_but_would_crash_are_refused(toy, tmp_path, edit, fragment):
    path = weights_with(tmp_path, "w.pt", edit)
    assert_one_line_error(*run_cli("--video", str(toy), "--backbone", "mdnet", "--weights", path)[::2], fragment)


@pytest.mark.slow
def test_a_weights_file_with_a_100000_wide_fc_layer_is_refused_before_it_is_built(toy, tmp_path):
    def wide(blob: dict) -> None:
        blob["state_dict"].update({"fc4.weight": torch.zeros(100_000, 1), "fc4.bias": torch.zeros(1),
                                   "fc5.weight": torch.zeros(1, 1), "fc5.bias": torch.zeros(1)})
    path = weights_with(tmp_path, "w.pt", wide)
    assert_one_line_error(*run_cli("--video", str(toy), "--backbone", "mdnet", "--weights", path)[::2],
                          "has an fc layer 100000 wide; fc_width may be at most 4096")


@pytest.mark.slow
def test_a_folder_given_as_weights_is_named_a_folder(toy, tmp_path):
    assert_one_line_error(*run_cli("--video", str(toy), "--weights", str(tmp_path))[::2],
                          f"weights file {tmp_path} is a folder: give the .pt file in it")


@pytest.mark.parametrize("key", ["fc_width", "img_size", "max_map_side", "batch_size", "batch_neg_cand",
                                 "n_samples", "n_neg_init"])
def test_a_size_of_a_million_is_refused_naming_the_key_and_its_bound(key):
    with pytest.raises(TrackerError, match=f"{key} must be in 1 .. {SIZE_BOUNDS[key]}, got 1000000"):
        load_config(**dotted({f"{SECTION_OF[key]}.{key}": 1_000_000}))
    with pytest.raises(TrackerError, match="backbone_channels must each be in 1 .. 4096"):
        load_config(network={"backbone_channels": [1_000_000, 4, 4]})


@pytest.mark.slow
def test_a_size_of_a_million_through_the_command_line_is_one_line_in_seconds(toy):
    started_at = time.perf_counter()
    assert_one_line_error(*run_cli("--video", str(toy), "--weights", "none", "--set", "network.fc_width=1000000")[::2],
                          "fc_width must be in 1 .. 4096, got 1000000")
    assert time.perf_counter() - started_at < 60


@pytest.mark.slow
def test_yaml_numbers_like_1e_3_are_numbers_and_a_key_given_twice_is_an_error(tmp_path):
    assert load_config(updates=None).updates.lr_update == 0.001  # None: not given
    path = tmp_path / "c.yaml"
    path.write_text("updates:\n  lr_update: 1e-3\n  lr_init: 5E-4\n")
    config = load_config(path)
    assert (config.updates.lr_update, config.updates.lr_init) == (0.001, 0.0005)
    path.write_text("updates:\n  lr_update: 0.002\nseed: 1\nupdates:\n  lr_update: 0.003\n")
    with pytest.raises(TrackerError, match=r"the key 'updates' is given twice \(line 4\)"):
        load_config(path)
    assert_one_line_error(*run_cli("--video", "nowhere", "--set", "updates.lr_update=1e-3", "--set",
                                   "network.dropout=1e300")[::2],
                          "dropout must be in [0, 1), got 1e+300")


def test_every_frame_must_be_uint8_of_one_size_and_init_comes_first():
    from tracker.build import build_tracker

    tracker = build_tracker(TrackerConfig().replace(**FAST), "none", warn=False)
    frame = np.full((48, 64, 3), 90, np.uint8)
    with pytest.raises(TrackerError, match=r"a frame to track before init\(image, box\)"):
        tracker.update(frame)
    for bad, fragment in [(frame.astype(np.float32) / 255, "must be a uint8 array (values 0-255), got float32"),
                          (frame.astype(np.int64), "got int64"),
                          (np.full((48, 64, 3), np.nan), "got float64"),
                          (np.zeros((0, 0, 3), np.uint8), "a frame of 0x0 pixels has nothing to track"),
                          (np.zeros((48, 64, 2), np.uint8), "got shape (48, 64, 2)")]:
        with pytest.raises(TrackerError, match=re.escape(fragment)):
            tracker.init(bad, np.array([10.0, 10.0, 20.0, 20.0]))
    tracker.init(frame, np.array([10.0, 10.0, 20.0, 20.0]))
    tracker.update(frame)
    with pytest.raises(TrackerError, match="a frame of 32x24 pixels in a sequence that started at 64x48"):
        tracker.update(frame[:24, :32])
    tracker.init(frame[:24, :32], np.array([2.0, 2.0, 10.0, 10.0]))  # a new sequence may have another size
    assert tracker.update(frame[:24, :32]).shape == (4,)


@pytest.mark.parametrize("source, fragment", [
    ("99999999999999999999", "no camera at index 99999999999999999999"),
    ("²", "no such video file: ²"),  # a digit to str.isdigit, not a camera index
])
@pytest.mark.slow
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
    (["--out", "{tmp}/a_file/w.pt"], "cannot write --out {tmp}/a_file/w.pt: Not a directory"),
    (["--iterations", "2"], "checkpoint {tmp}/w.pt.ckpt could not be read (UnpicklingError); delete it"),
])
@pytest.mark.slow
def test_pretraining_flags_and_files_that_would_crash(data, args, fragment):
    (data / "a_file").write_text("")
    (data / "w.pt.ckpt").write_bytes(b"garbage")
    args = [a.format(tmp=data) for a in args]
    out = [] if "--out" in args else ["--out", str(data / "w.pt")]
    code, err = pretrain_cli(data, *out, *args)
    assert_one_line_error(code, err, fragment.format(tmp=data))


@pytest.mark.slow
def test_ctrl_c_during_pretraining_says_where_the_checkpoint_is(data):
    out = data / "w.pt"
    with started([sys.executable, "-m", "tracker.pretrain", "--data", str(data / "data"), "--quiet",
                  "--backbone", "mdnet", "--channels", "8", "16", "16", "--fc-width", "32",
                  "--out", str(out), "--iterations", "100000", "--checkpoint-every", "2"],
                 stderr=subprocess.PIPE, text=True, cwd=ROOT) as proc:
        checkpoint = data / "w.pt.ckpt"
        deadline = time.time() + 120
        while not checkpoint.exists() and time.time() < deadline:
            time.sleep(0.2)
        interrupt(proc)
        err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130
    assert err.strip().startswith(f"interrupted: checkpoint {checkpoint} holds iteration ") and "Traceback" not in err
    assert "run the same command to resume" in err and err.strip().count("\n") == 0


@pytest.mark.slow
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
@pytest.mark.slow
def test_ground_truth_that_is_half_missing_or_infinite_is_malformed(toy, line):
    lines = (toy / "groundtruth_rect.txt").read_text().splitlines()
    lines[3] = line
    (toy / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    assert_one_line_error(*run_cli("--video", str(toy), "--weights", "none")[::2], "malformed ground truth at")


@pytest.mark.slow
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


def test_decoder_lines_are_caught_per_read_in_one_file_and_reads_go_on_without_a_temp_folder(monkeypatch, capfd):
    """Each read gets only its own lines (the one capture file is emptied between reads); a nested capture
    leaves them to the enclosing one; with no temporary file to be had, reads work and the lines pass through."""
    from tracker.data import sequence

    with sequence.decoder_messages() as first:
        os.write(2, b"Corrupt JPEG data: 1 extraneous bytes\n")
        with sequence.decoder_messages() as inner:
            os.write(2, b"Premature end of JPEG file\n")
    with sequence.decoder_messages() as second:
        pass
    assert first == ["Corrupt JPEG data: 1 extraneous bytes", "Premature end of JPEG file"]
    assert inner == [] and second == [] and capfd.readouterr().err == ""
    monkeypatch.setattr(sequence, "_capture_file", None)

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sequence.tempfile, "TemporaryFile", no_space)
    with sequence.decoder_messages() as uncaught:
        os.write(2, b"Premature end of JPEG file\n")
    assert uncaught == [] and "Premature end of JPEG file" in capfd.readouterr().err


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


# ---------------------------------------------------------------- class 1: a user's file is never destroyed


def cli_in_subprocess(*args, env=None, prefix=()):
    proc = subprocess.run([*prefix, sys.executable, str(ROOT / "run_tracker.py"), *args, "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env=None if env is None else {**os.environ, **env})
    return proc.returncode, proc.stdout, proc.stderr


def cli_in_process(capsys, *args):
    code = main([*args, "--quiet"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def leftovers(folder):
    """Temporary files an output left behind."""
    return sorted(p.name for p in folder.rglob(".tmp-*"))


@pytest.mark.parametrize("which, fragment", [
    ("groundtruth_rect.txt", "is the ground truth of this run"),
    ("img/0002.jpg", "is a frame of this run"),
    ("fast.yaml", "is the config of this run"),
])
def test_an_output_that_is_an_input_of_the_run_is_refused(toy, fast_config_file, tmp_path, capsys, which, fragment):
    target = toy / which if which != "fast.yaml" else tmp_path / "fast.yaml"
    before = target.read_bytes()
    for flag in ("--output", "--summary-json", "--save"):
        code, _, err = cli_in_process(capsys, "--video", str(toy), "--weights", "none", "--config", fast_config_file,
                                         flag, str(target))
        assert_one_line_error(code, err, f"{flag} {target} {fragment}")
        assert target.read_bytes() == before


def test_an_output_that_is_another_output_is_refused(toy, tmp_path, capsys):
    keep = tmp_path / "boxes.txt"
    keep.write_text("precious\n")
    code, _, err = cli_in_process(capsys, "--video", str(toy), "--weights", "none", "--output", str(keep),
                                     "--summary-json", str(keep))
    assert_one_line_error(code, err, f"--summary-json {keep} is also --output")
    assert keep.read_text() == "precious\n"


def test_a_run_that_fails_leaves_existing_outputs_as_they_were(toy, fast_config_file, tmp_path, capsys):
    """The first failure comes after the outputs are checked (the box lies outside the frame), the second after
    boxes were written (frame 5 has another size)."""
    outputs = {flag: tmp_path / name for flag, name in (("--output", "b.txt"), ("--summary-json", "s.json"),
                                                         ("--save", "v.mp4"))}
    for path in outputs.values():
        path.write_text("precious\n")
    flags = [x for flag, path in outputs.items() for x in (flag, str(path))]
    base = ["--video", str(toy), "--weights", "none", "--config", fast_config_file, *flags]
    assert_one_line_error(*cli_in_process(capsys, *base, "--init", "900,900,20,20")[::2], "lies outside")
    cv2.imwrite(str(toy / "img" / "0005.jpg"), np.zeros((50, 60, 3), np.uint8))
    assert_one_line_error(*cli_in_process(capsys, *base)[::2], f"frame {toy / 'img' / '0005.jpg'} is 60x50")
    for path in outputs.values():
        assert path.read_text() == "precious\n"
    assert leftovers(tmp_path) == []


def test_outputs_that_are_not_regular_files_are_never_replaced(toy, fast_config_file, tmp_path, capsys):
    base = ["--video", str(toy), "--weights", "none", "--config", fast_config_file, "--max-frames", "2"]
    (tmp_path / "folder").mkdir()
    assert_one_line_error(*cli_in_process(capsys, *base, "--summary-json", str(tmp_path / "folder"))[::2],
                          f"--summary-json {tmp_path / 'folder'} is a folder")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        assert_one_line_error(*cli_in_process(capsys, *base, "--output", str(tmp_path / "sock"))[::2],
                              "exists and is not a regular file: it is not replaced")
    finally:
        sock.close()
    assert stat.S_ISSOCK(os.lstat(tmp_path / "sock").st_mode)
    # a device is written as a stream, in place: it stays a device
    code, _, err = cli_in_process(capsys, *base, "--summary-json", "/dev/null")
    assert code == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    # a symlink stays a symlink; the file it points to gets the summary
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    code, _, err = cli_in_process(capsys, *base, "--summary-json", str(tmp_path / "link.json"))
    assert code == 0, err
    assert (tmp_path / "link.json").is_symlink() and json.loads((tmp_path / "real.json").read_text())["frames"] == 2


def test_a_summary_with_a_255_character_name_is_written(toy, fast_config_file, tmp_path, capsys):
    path = tmp_path / ("s" * 250 + ".json")
    code, _, err = cli_in_process(capsys, "--video", str(toy), "--weights", "none", "--config", fast_config_file,
                                     "--max-frames", "2", "--summary-json", str(path))
    assert code == 0, err
    assert json.loads(path.read_text())["frames"] == 2
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())  # as a plain open() would make it


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- class 2: OS errors are one line


@pytest.mark.slow
def test_a_frame_folder_that_cannot_be_listed_is_one_line(toy, fast_config_file):
    (toy / "img").chmod(0)
    try:
        code, _, err = cli_in_subprocess("--video", str(toy), "--weights", "none", "--config", fast_config_file,
                                         prefix=without_file_permission_override([]))
    finally:
        (toy / "img").chmod(0o755)
    assert_one_line_error(code, err, f"cannot list the frames in {toy / 'img'}: Permission denied")


@pytest.mark.slow
def test_a_sweep_fails_the_runs_of_an_unreadable_sequence_alone(tmp_path):
    otb = tmp_path / "otb"
    write_otb(otb / "SynA", n_frames=5)
    write_otb(otb / "SynB", n_frames=5)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
    (otb / "SynB" / "img").chmod(0)
    try:
        proc = subprocess.run(without_file_permission_override([
            sys.executable, "-m", "tracker.evaluation.otb_ope", "--otb", str(otb), "--updaters", "bp",
            "--batch-sizes", "8",
            "--seeds", "1", "--peers", "", "--anchors", "", "--weights", "none", "--config", str(config),
            "--out", str(tmp_path / "out")]), capture_output=True, text=True, cwd=ROOT, timeout=600)
    finally:
        (otb / "SynB" / "img").chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "1 run(s) failed" in proc.stderr
    failed = json.loads((tmp_path / "out" / "failed_runs.json").read_text())
    assert list(failed) == ["bp-b8-s0/SynB"] and "Permission denied" in failed["bp-b8-s0/SynB"]
    assert (tmp_path / "out" / "results" / "bp-b8-s0" / "SynA.txt").is_file()


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_a_closed_pipe_ends_quietly(toy, fast_config_file):
    base = ["--video", str(toy), "--weights", "none", "--config", fast_config_file]
    assert_one_line_error(*cli_in_subprocess(*base, "--output", "/dev/full")[::2],
                          "cannot write --output /dev/full: No space left on device")
    command = " ".join([sys.executable, str(ROOT / "run_tracker.py"), *base, "--quiet", "--output", "/dev/stdout"])
    proc = subprocess.run(["bash", "-c", f"{command} | head -1; exit ${{PIPESTATUS[0]}}"], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.stdout.count("\n") == 1 and proc.stdout.startswith("10.00,10.00,30.00,30.00")
    assert proc.returncode == 141 and "Traceback" not in proc.stderr and "error" not in proc.stderr


@pytest.mark.slow
def test_pretraining_into_a_folder_or_a_read_only_place_fails_before_training(data):
    (data / "out_dir").mkdir()
    code, err = pretrain_cli(data, "--out", str(data / "out_dir"))
    assert_one_line_error(code, err, f"--out {data / 'out_dir'} is a folder, not a file")
    (data / "locked").mkdir()
    (data / "locked").chmod(0o555)
    proc = subprocess.run(without_file_permission_override([
        sys.executable, "-m", "tracker.pretrain", "--data", str(data / "data"), "--quiet", "--backbone", "mdnet",
        "--channels", "8", "16", "16", "--fc-width", "32", "--out", str(data / "locked" / "w.pt")]),
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, f"cannot write --out {data / 'locked' / 'w.pt'}: "
                                                        "Permission denied")


@pytest.mark.parametrize("flag", ["--updaters", "--batch-sizes"])
@pytest.mark.parametrize("value", ["", ","])
def test_a_sweep_of_nothing_is_an_error(tmp_path, capsys, flag, value):
    from tracker.evaluation.otb_ope import main as otb_ope

    write_otb(tmp_path / "otb" / "SynA", n_frames=4)
    assert otb_ope(["--otb", str(tmp_path / "otb"), "--out", str(tmp_path / "out"), flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {flag} names nothing to run")


def test_seeds_below_one_are_an_error(tmp_path, capsys):
    from tracker.evaluation.otb_ope import main as otb_ope

    write_otb(tmp_path / "otb" / "SynA", n_frames=4)
    assert otb_ope(["--otb", str(tmp_path / "otb"), "--out", str(tmp_path / "out"), "--seeds", "0"]) == 2
    assert "--seeds and --jobs must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_on_a_sweep_with_workers_is_one_line_and_exit_130(tmp_path):
    otb = tmp_path / "otb"
    for name in ("SynA", "SynB", "SynC"):
        write_otb(otb / name, n_frames=40)
    with started([sys.executable, "-m", "tracker.evaluation.otb_ope", "--otb", str(otb), "--updaters", "bp",
                  "--batch-sizes", "128", "--seeds", "2", "--jobs", "2", "--peers", "", "--anchors", "",
                  "--out", str(tmp_path / "out")], stderr=subprocess.PIPE, text=True, cwd=ROOT) as proc:
        deadline = time.time() + 120
        while not list((tmp_path / "out" / "results").glob("*/times")) and time.time() < deadline:
            time.sleep(0.2)  # the first run finished: workers are busy with the next
        interrupt(proc)
        err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("runs:", "\r"))]
    assert "Traceback" not in err and lines[-1].startswith("interrupted: every finished run is kept"), err
    assert (tmp_path / "out" / "failed_runs.json").is_file()


def test_jobs_are_capped_with_one_warning(tmp_path, capsys):
    from tracker.evaluation.otb_ope import main as otb_ope

    write_otb(tmp_path / "otb" / "SynA", n_frames=4)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
    assert otb_ope(["--otb", str(tmp_path / "otb"), "--out", str(tmp_path / "out"), "--updaters", "bp",
                    "--batch-sizes", "8", "--seeds", "1", "--peers", "", "--anchors", "", "--weights", "none",
                    "--config", str(config), "--jobs", "1000"]) == 0
    warnings_said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings_said == ["warning: --jobs 1000 capped at 1 (the runs to do and this machine's "
                             f"{os.cpu_count()} CPUs)"]


# ---------------------------------------------------------------- class 3: no crash, no hang


@pytest.mark.parametrize("display", ["localhost:10.0", ":93"])
@pytest.mark.slow
def test_a_display_that_cannot_be_opened_is_one_line(display, tmp_path):
    code, _, err = cli_in_subprocess("--weights", "none", "--display", env={"DISPLAY": display})
    assert_one_line_error(code, err, f"--display cannot open a window on DISPLAY={display}")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for _ in range(3):
        writer.write(np.zeros((120, 160, 3), np.uint8))
    writer.release()
    code, _, err = cli_in_subprocess("--webcam", str(video), env={"DISPLAY": display})
    assert_one_line_error(code, err, f"the live demo cannot open a window on DISPLAY={display}")


@pytest.mark.parametrize("box, fragment", [
    ("100,100,2,2", "OpenCV-MIL needs a box of at least 5x5 px, got 2x2"),
    ("0,0,400,400", "OpenCV-MIL cannot start on the box"),
])
@pytest.mark.slow
def test_mil_on_boxes_it_cannot_start_on_is_one_line(box, fragment):
    assert_one_line_error(*cli_in_subprocess("--tracker", "mil", "--init", box)[::2], fragment)


# ---------------------------------------------------------------- class 4: no silent wrong answer


def test_frames_are_read_in_the_order_of_their_numbers(tmp_path):
    from tracker.data.otb import image_files

    folder = tmp_path / "frames"
    folder.mkdir()
    for n in (1, 2, 10, 11, 3):
        cv2.imwrite(str(folder / f"{n}.jpg"), np.zeros((8, 8, 3), np.uint8))
    assert [p.name for p in image_files(folder)] == ["1.jpg", "2.jpg", "3.jpg", "10.jpg", "11.jpg"]
    cv2.imwrite(str(folder / "cover.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(TrackerError, match="mixes numbered frames with unnumbered ones"):
        image_files(folder)
    (folder / "cover.jpg").unlink()
    cv2.imwrite(str(folder / "a_3.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(TrackerError, match="3.jpg and a_3.jpg .* have the same number"):
        image_files(folder)


@pytest.mark.slow
def test_a_negative_size_ground_truth_box_is_refused_naming_its_line(toy):
    lines = (toy / "groundtruth_rect.txt").read_text().splitlines()
    lines[4] = "10,10,-30,30"
    (toy / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    assert_one_line_error(*run_cli("--video", str(toy), "--weights", "none")[::2],
                          f"ground truth at {toy / 'groundtruth_rect.txt'}:5 has a negative size")


@pytest.mark.slow
def test_a_truncated_video_is_one_warning_line(tmp_path, fast_config_file):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    sequence = synthetic_sequence(n_frames=30, size=(160, 120))
    for frame in sequence.frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    code, out, err = cli_in_subprocess("--video", str(video), "--init", "140,96,40,48", "--weights", "none",
                                       "--config", fast_config_file)
    assert code == 0, err
    said = [line for line in err.splitlines() if "random backbone" not in line]
    assert len(said) == 1 and said[0].startswith(f"warning: video {video} ended after "), err
    assert "of the 30 frames its header announces" in said[0]


@pytest.mark.slow
def test_a_damaged_video_is_one_warning_line_and_none_of_ffmpegs(tmp_path, fast_config_file):
    """Every frame decodes, many with FFmpeg's complaints ("illegal dc vlc", "Error at MB: 18"): one warning names
    the first damaged frame, and none of FFmpeg's own lines reach stderr (its frame threads printed them after
    the capture of the read had ended)."""
    video = damaged_video(tmp_path / "clip.mp4")
    code, _, err = cli_in_subprocess("--video", str(video), "--init", "140,96,40,48", "--weights", "none",
                                     "--config", fast_config_file, "--output", str(tmp_path / "boxes.txt"))
    assert code == 0, err
    said = [line for line in err.splitlines() if "random backbone" not in line]
    assert len(said) == 1 and re.match(rf"warning: video {re.escape(str(video))}: frame \d+ is damaged \(the "
                                       r"decoder says: \[mpeg4\] [^@]+\); it and any later damaged frame were "
                                       "tracked as decoded$", said[0]), err
    assert len((tmp_path / "boxes.txt").read_text().splitlines()) == 40  # every frame tracked


def test_python_messages_reach_stderr_while_another_thread_catches_the_decoders(tmp_path):
    """A capture of descriptor 2 in the live demo's reader thread must not swallow a warning the tracking thread
    prints meanwhile."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import os, sys, threading\n"
        "from tracker.data.sequence import decoder_messages\n"
        "held, done = threading.Event(), threading.Event()\n"
        "def hold():\n"
        "    with decoder_messages() as said:\n"
        "        os.write(2, b'[mpeg4 @ 0x55e601087180] ac-tex damaged at 4 0\\n')\n"
        "        held.set()\n"
        "        done.wait(10)\n"
        "    print(said)\n"
        "reader = threading.Thread(target=hold)\n"
        "reader.start()\n"
        "held.wait(10)\n"
        "print('warning: ours', file=sys.stderr)\n"
        "done.set()\n"
        "reader.join()\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "warning: ours\n"
    assert proc.stdout == "['[mpeg4] ac-tex damaged at 4 0']\n"


@pytest.mark.parametrize("args, fragment", [
    (["--init", "10,10,1e-9,1e-9"], "is smaller than 1x1 px"),
    (["--set", "seed="], "--set 'seed': the value is empty"),
    (["--set", "seed=null"], "--set 'seed': 'null' is null, not a value"),
])
@pytest.mark.slow
def test_values_that_would_be_silently_ignored_are_errors(args, fragment):
    assert_one_line_error(*run_cli("--weights", "none", *args)[::2], fragment)


# ---------------------------------------------------------------- class 5: error lines are bounded


@pytest.mark.slow
def test_a_yaml_alias_bomb_is_refused_before_it_is_built(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1},"
              f" *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    start = time.time()
    code, _, err = cli_in_subprocess("--weights", "none", "--config", str(bomb))
    assert_one_line_error(code, err, "its aliases expand to more than 10000 values")
    assert time.time() - start < 60 and len(err) < 1000
    (tmp_path / "loop.yaml").write_text("a: &a [*a]\n")
    with pytest.raises(TrackerError):
        load_config(tmp_path / "loop.yaml")


def test_a_config_over_1_mb_is_refused_unread(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(TrackerError, match="over the 1048576 a config may have"):
        load_config(big)


@pytest.mark.slow
def test_an_error_line_quotes_at_most_about_200_characters_of_a_value(tmp_path):
    long_value = tmp_path / "long.yaml"
    long_value.write_text(f"learning:\n  updater: {'x' * 50_000}\n")
    code, _, err = cli_in_subprocess("--weights", "none", "--config", str(long_value))
    assert_one_line_error(code, err, "unknown learning.updater 'xxx")
    assert len(err.strip()) < 400
    code, _, err = cli_in_subprocess("--weights", "none", "--init", "1," * 20_000)
    assert_one_line_error(code, err, "--init must be x,y,w,h")
    assert len(err.strip()) < 400


# ---------------------------------------------------------------- class 6: the smaller contract breaks


@pytest.mark.parametrize("form", [["--init", "-5,-5,60,60"], ["--init=-5,-5,60,60"]])
def test_a_box_with_a_negative_corner_is_a_value_whatever_the_form(toy, fast_config_file, tmp_path, capsys, form):
    code, _, err = cli_in_process(capsys, "--video", str(toy), "--weights", "none", "--config", fast_config_file,
                                     "--max-frames", "2", "--output", str(tmp_path / "b.txt"), *form)
    assert code == 0, err
    assert (tmp_path / "b.txt").read_text().splitlines()[0] == "-5.00,-5.00,60.00,60.00"


@pytest.mark.parametrize("name, ffmpeg_says", [("x.gif", "gif muxer supports only codec gif"),
                                               ("x.webm", "Only VP8 or VP9")])
@pytest.mark.slow
def test_a_video_opencv_cannot_encode_is_one_line_without_ffmpeg_noise(toy, fast_config_file, tmp_path, name,
                                                                      ffmpeg_says):
    code, _, err = cli_in_subprocess("--video", str(toy), "--weights", "none", "--config", fast_config_file,
                                     "--max-frames", "2", "--save", str(tmp_path / name))
    assert_one_line_error(code, err, f"cannot write video {tmp_path / name}: OpenCV cannot encode mp4v video")
    assert ffmpeg_says in err  # FFmpeg's reason, folded into our line
    assert not (tmp_path / name).exists() and leftovers(tmp_path) == []


def test_an_mp4_with_digits_in_its_name_is_one_video(toy, fast_config_file, tmp_path, capsys):
    assert cli_in_process(capsys, "--video", str(toy), "--weights", "none", "--config", fast_config_file,
                          "--save", str(tmp_path / "run_01.mp4"))[0] == 0
    capture = cv2.VideoCapture(str(tmp_path / "run_01.mp4"))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 8 and sorted(p.name for p in tmp_path.iterdir()) == ["Toy", "fast.yaml", "run_01.mp4"]


@pytest.mark.parametrize("module, argv", [
    ("tracker.cli", ["--bogus"]),
    ("tracker.cli", ["--updater", "sgd"]),
    ("tracker.pretrain", ["--iterations"]),
    ("tracker.integrations.vot", ["--seed", "x"]),
    ("tracker.integrations.vot_workspace", ["--root", "x"]),
    ("tracker.evaluation.otb_ope", ["--jobs", "two"]),
    ("tracker.evaluation.speed", ["--bogus"]),
])
def test_a_usage_mistake_is_one_error_line_not_the_usage_text(module, argv, capsys):
    import importlib

    with pytest.raises(SystemExit) as stop:
        importlib.import_module(module).main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "--help)" in err, err


def test_a_usage_mistake_names_the_command_that_was_run():
    """``python -m tracker.evaluation.speed --bogus`` pointed at ``speed.py --help``, which cannot be run."""
    proc = subprocess.run([sys.executable, "-m", "tracker.evaluation.speed", "--bogus"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert (proc.returncode, proc.stderr) == (2, "error: unrecognized arguments: --bogus (see python -m "
                                                 "tracker.evaluation.speed --help)\n")


@pytest.mark.parametrize("what", ["frames", "video", "save"])
@pytest.mark.slow
def test_a_name_that_is_not_utf8_is_one_line_before_opencv_sees_it(toy, tmp_path, fast_config_file, what):
    """OpenCV dies with SIGSEGV on such a name (a frame folder, a video, a --save folder): we refuse it first,
    and a failed --save leaves no temporary file behind."""
    odd = tmp_path / os.fsdecode(b"odd\xff")
    args = ["--video", str(toy)]
    if what == "frames":
        toy.rename(odd)
        args = ["--video", str(odd)]
    elif what == "video":
        clip = tmp_path / "clip.mp4"
        writer = cv2.VideoWriter(str(clip), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
        for i in range(3):
            writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
        writer.release()
        clip.rename(odd.with_suffix(".mp4"))
        args = ["--video", str(odd.with_suffix(".mp4")), "--init", "10,10,20,20"]
    else:
        odd.mkdir()
        args += ["--save", str(odd / "out.mp4")]
    code, _, err = run_cli(*args, "--weights", "none", "--config", fast_config_file, "--max-frames", "3")
    assert_one_line_error(code, err, "is not valid UTF-8, and OpenCV cannot open such a name")
    if what == "save":
        assert list(odd.iterdir()) == []


@pytest.mark.parametrize("name, n_frames", [("raw.avi", 5), ("photo.mp4", 1)])
@pytest.mark.slow
def test_a_video_without_a_frame_count_is_read_until_it_ends(tmp_path, fast_config_file, name, n_frames):
    """Concatenated JPEGs (raw MJPEG) or one JPEG under a video's name: OpenCV reports -1 frames."""
    frames = [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(n_frames)]
    for frame in frames:
        frame[10:30, 10:30] = 255
    (tmp_path / name).write_bytes(b"".join(cv2.imencode(".jpg", f)[1].tobytes() for f in frames))
    out = tmp_path / "boxes.txt"
    code, _, err = run_cli("--video", str(tmp_path / name), "--init", "10,10,20,20", "--weights", "none",
                           "--config", fast_config_file, "--output", str(out))
    assert code == 0 and "Traceback" not in err, err
    assert len(out.read_text().splitlines()) == n_frames


class _Payload:
    """Pickles into a call of ``Path.touch`` on a marker file: what a planted file would run when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("kind", ["weights", "config", "state"])
@pytest.mark.slow
def test_a_planted_file_is_refused_without_running_its_code(toy, tmp_path, kind, capsys):
    """Every file kind we read: weights (torch.load with weights_only=True), configs (YAML without object
    tags) and the harness's state (JSON only). The checkpoint case is in tests/test_pretrain.py."""
    marker = tmp_path / "payload-ran"
    if kind == "weights":
        torch.save({"format": 2, "state_dict": _Payload(str(marker))}, tmp_path / "w.pt")
        code, _, err = run_cli("--video", str(toy), "--weights", str(tmp_path / "w.pt"))
        assert_one_line_error(code, err, "could not be read")
    elif kind == "config":
        (tmp_path / "c.yaml").write_text(f"seed: !!python/object/apply:pathlib.Path.touch [[{str(marker)!r}]]\n")
        code, _, err = run_cli("--video", str(toy), "--weights", "none", "--config", str(tmp_path / "c.yaml"))
        assert_one_line_error(code, err, "is not valid YAML")
    else:
        from tracker.evaluation import paired

        (tmp_path / "ope").mkdir()
        torch.save(_Payload(str(marker)), tmp_path / "ope" / "results.json")
        assert paired.main(["--ope", str(tmp_path / "ope")]) == 2
        assert "results.json" in capsys.readouterr().err
    assert not marker.exists()
