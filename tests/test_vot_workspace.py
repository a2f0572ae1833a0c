"""``bdfa-vot-workspace``: a VOT toolkit workspace over frames on disk, linked in place; the toolkit's own
evaluation and analysis on it where the toolkit is installed."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import NARROW, write_otb
from tracker.integrations.vot_workspace import anchor_values, build_workspace, groundtruth_lines, main


@pytest.fixture
def otb(tmp_path):
    root = tmp_path / "otb"
    write_otb(root / "SynA", n_frames=12)
    folder = write_otb(root / "SynB", n_frames=12)
    lines = (folder / "groundtruth_rect.txt").read_text().splitlines()
    lines[5] = "NaN,NaN,NaN,NaN"  # a frame the dataset has no box for
    (folder / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return root


def test_the_workspace_links_every_frame_in_place_in_the_toolkits_format(otb, tmp_path, capsys):
    out = tmp_path / "ws"
    assert main(["--root", str(otb), "--out", str(out), "--anchor-every", "5"]) == 0
    assert "VOT workspace with 2 sequence(s)" in capsys.readouterr().out
    assert (out / "sequences" / "list.txt").read_text().split() == ["SynA", "SynB"]
    seq = out / "sequences" / "SynB"
    links = sorted((seq / "color").iterdir())
    assert [p.name for p in links] == [f"{i:08d}.jpg" for i in range(1, 13)]
    assert all(p.is_symlink() and p.resolve() == (otb / "SynB" / "img" / f"{i:04d}.jpg").resolve()
               for i, p in enumerate(links, 1))
    assert "channels.color=color/%08d.jpg" in (seq / "sequence").read_text()
    truth = (seq / "groundtruth.txt").read_text().splitlines()
    source = np.loadtxt(otb / "SynB" / "groundtruth_rect.txt", delimiter=",")
    assert len(truth) == 12 and truth[5] == "0"
    np.testing.assert_allclose([float(v) for v in truth[0].split(",")], source[0])
    # anchors every 5 frames; the one at frame 5 has no box and moves on to frame 6
    assert [i for i, v in enumerate((seq / "anchor.value").read_text().split()) if v == "1"] == [0, 6, 10]
    stack = yaml.safe_load((out / "stack.yaml").read_text())
    assert set(stack["experiments"]) == {"unsupervised"}
    assert yaml.safe_load((out / "config.yaml").read_text())["stack"] == "./stack.yaml"
    assert "env_BDFA_VOT_ARGS = --updater bdfa" in (out / "trackers.ini").read_text()


def test_an_existing_folder_is_never_touched_and_a_failed_build_leaves_nothing(otb, tmp_path, capsys):
    out = tmp_path / "ws"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert main(["--root", str(otb), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {out} exists: give a new folder for the workspace\n"
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    (otb / "SynB" / "img" / "0003.jpg").rename(otb / "SynB" / "img" / "0003.png")  # two kinds of frame
    assert main(["--root", str(otb), "--out", str(tmp_path / "new")]) == 2
    assert "SynB: frames of more than one kind (.jpg, .png)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["otb", "ws"]  # no staging folder left behind


@pytest.mark.parametrize("argv, message", [
    (["--root", "/nonexistent"], "error: no such folder: /nonexistent"),
    (["--sequences", "Nope"], "error: sequence(s) not found under"),
    (["--anchor-every", "0"], "error: --anchor-every must be at least 1, got 0"),
    (["--tracker-args", "--set 'a"], "error: --tracker-args \"--set 'a\": No closing quotation"),
])
def test_bad_input_is_one_error_line(otb, tmp_path, argv, message, capsys):
    args = {"--root": str(otb), "--out": str(tmp_path / "ws")}
    for flag, value in zip(argv[::2], argv[1::2]):
        args[flag] = value
    assert main([part for pair in args.items() for part in pair]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_groundtruth_and_anchor_lines():
    truth = np.array([[1.5, 2, 30, 40], [np.nan] * 4, [3, 4, 30.25, 40]])
    assert groundtruth_lines(truth) == ["1.5,2,30,40", "0", "3,4,30.25,40"]
    assert anchor_values(truth, 1) == ["1", "0", "1"]
    assert anchor_values(truth, 2) == ["1", "0", "1"]


def vot_command() -> Path | None:
    command = Path(sys.executable).parent / "vot"
    return command if command.is_file() else None


@pytest.mark.skipif(vot_command() is None, reason="the VOT toolkit is not installed here (pip install vot-toolkit)")
def test_the_vot_toolkit_evaluates_and_analyses_bdfa_on_the_workspace(otb, tmp_path):
    """As a researcher would run it: the toolkit starts bdfa-vot over traxpython for each run."""
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
    out = tmp_path / "ws"
    shutil.rmtree(otb / "SynB")
    build_workspace(str(otb), out, tracker_args=f"--weights none --config {config} --seed 1")
    for step in (["evaluate", "bdfa"], ["analysis", "bdfa", "--format", "json"]):
        proc = subprocess.run([str(vot_command()), *step], cwd=out, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    report = json.loads(next((out / "analysis").glob("*.json")).read_text())
    accuracy = report["results"]["unsupervised"]["results"][0][0][0]
    assert 0.0 <= accuracy <= 1.0
    boxes = (out / "results" / "bdfa" / "unsupervised" / "SynA")
    assert any(boxes.glob("SynA_001*"))


@pytest.mark.parametrize("name, message", [
    ("Two\nLines", "has a line break or a control character"),
    (os.fsdecode(b"Odd\xff"), "is not valid UTF-8"),
])
def test_a_sequence_name_that_would_split_a_line_is_one_error_and_leaves_nothing(tmp_path, name, message, capsys):
    write_otb(tmp_path / "root" / "Seq", n_frames=4)  # OpenCV, which writes the frames, cannot take odd names
    (tmp_path / "root" / "Seq").rename(tmp_path / "root" / name)
    root = (tmp_path / "root").rename(tmp_path / os.fsdecode(b"root\xfe"))  # fine: only the title names it
    assert main(["--root", str(root), "--out", str(tmp_path / "ws")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: sequence name") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "ws").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".ws")]


def test_a_root_that_is_not_utf8_still_makes_a_workspace(tmp_path, capsys):
    write_otb(tmp_path / "root" / "SynA", n_frames=4)
    root = (tmp_path / "root").rename(tmp_path / os.fsdecode(b"root\xfe"))
    assert main(["--root", str(root), "--out", str(tmp_path / "ws")]) == 0
    assert (tmp_path / "ws" / "sequences" / "list.txt").read_text() == "SynA\n"
