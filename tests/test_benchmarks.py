"""The speed and accuracy benchmarks run end to end on tiny OTB folders and write what they report."""

import json

import numpy as np
import pytest
import yaml

from tests.conftest import FAST, NARROW, write_otb
from tracker.backbones import MDNetBackbone, save_weights
from tracker.build import build_tracker
from tracker.config import merged
from tracker.evaluation import speed


@pytest.mark.slow
def test_speed_benchmark_puts_backbones_and_variants_side_by_side(tmp_path, capsys):
    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=6)
    write_otb(otb / "Other", n_frames=4)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST))
    variant = tmp_path / "narrow.yaml"
    variant.write_text(yaml.safe_dump({"network": {"backbone_channels": [8, 8, 8]}}))
    out = tmp_path / "speed"
    assert speed.main(["--otb", str(otb), "--backbones", "random=none,trunk=imagenet", "--variants",
                       f"narrow={variant}", "--exact", "Toy", "--max-frames", "3", "--config", str(config),
                       "--out", str(out)]) == 0
    report = json.loads((out / "speed.json").read_text())
    setup = json.loads((out / "setup.json").read_text())
    assert set(setup["runs"]) == {"random", "trunk", "narrow"} and setup["runs"]["random"]["backbone"] == "random"
    whole = [r for r in report["records"] if r["part"] == "whole"]
    assert [(r["run"], r["sequence"]) for r in whole] == [  # runs take turns sequence by sequence
        (run, seq) for seq in ("Other", "Toy") for run in ("random", "trunk", "narrow")]
    assert sum(r["frames"] for r in whole if r["run"] == "trunk") == 10
    configs = {r["label"]: r["config"] for r in report["runs"]}
    assert configs["trunk"]["network"]["backbone"] == "efficientnet_lite0"
    assert configs["random"]["network"]["backbone"] == "mdnet"
    assert configs["narrow"]["network"]["backbone_channels"] == [8, 8, 8]
    assert configs["narrow"]["samples"]["n_pos_init"] == FAST["samples"]["n_pos_init"]
    modes = [r for r in report["records"] if r["part"] == "modes"]
    assert {r["run"] for r in modes} == {"shared", "exact"} and all(r["frames"] == 3 for r in modes)
    mode_fps = {m: sum(r["frames"] for r in modes if r["run"] == m) / sum(r["seconds"] for r in modes if r["run"] == m)
                for m in ("shared", "exact")}
    assert report["shared_exact_ratio"] == pytest.approx(mode_fps["shared"] / mode_fps["exact"])
    printed = capsys.readouterr().out
    assert "shared / exact speed ratio" in printed and "first frame ms" in printed
    toy = next(r for r in whole if r["run"] == "trunk" and r["sequence"] == "Toy")
    latency = toy["latency"]
    assert latency["all"]["frames"] == 5 == latency["tracked"]["frames"] + latency["lost"]["frames"]
    assert latency["all"]["max_ms"] == pytest.approx(1000 * max(toy["frame_seconds"]))
    assert latency["first_frame_ms"] == pytest.approx(1000 * toy["first_frame_seconds"])
    assert "lost p95 ms" in printed and "| Toy | trunk | 6 |" in printed
    weights = tmp_path / "mdnet.pt"
    save_weights(weights, MDNetBackbone((4, 4, 4)))
    assert speed.main(["--otb", str(otb), "--backbones", f"file={weights}", "--variants", f"narrow={variant}",
                       "--out", str(out)]) == 2  # a weights file fixes the width: the variant would be a no-op
    assert "changes backbone_channels, which a weights file fixes" in capsys.readouterr().err


def test_a_speed_variant_may_take_the_nanotrack_trunk_which_has_no_weights_file(tmp_path):
    import argparse

    variant = tmp_path / "nano.yaml"
    variant.write_text("network:\n  backbone: nanotrack\n")
    args = argparse.Namespace(config=None, updater=None, backbones="default=default", variants=f"nano={variant}",
                              peers="")
    default, nano = speed.make_runs(args)
    assert default.config.network.backbone == "efficientnet_lite0" and nano.config.network.backbone == "nanotrack"
    assert nano.weights is None and build_tracker(nano.config, nano.weights, warn=False).backbone.name == "nanotrack"



def test_speed_benchmark_plays_each_sequence_at_each_frame_size(tmp_path, capsys):
    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=4, size=(160, 120))
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST))
    out = tmp_path / "speed"
    assert speed.main(["--otb", str(otb), "--backbones", "random=none", "--frame-sizes", "own,320x240",
                       "--peers", "mil", "--exact", "none", "--config", str(config), "--out", str(out),
                       "--frame-budget-ms", "25"]) == 0
    records = json.loads((out / "speed.json").read_text())["records"]
    assert {r["latency"]["budget_ms"] for r in records} == {25.0}  # the harness's budget, not a tracker setting
    assert [(r["sequence"], r["frame_size"], r["run"]) for r in records] == [  # sizes in turn, OpenCV's MIL beside
        ("Toy", "own", "random"), ("Toy", "own", "OpenCV-MIL"), ("Toy@320x240", "320x240", "random"),
        ("Toy@320x240", "320x240", "OpenCV-MIL")]
    assert all(r["frames"] == 4 for r in records)
    printed = capsys.readouterr().out
    assert "per frame size:" in printed
    assert "| 320x240 | random | 1 |" in printed and "| 320x240 | OpenCV-MIL | 1 |" in printed
    assert json.loads((out / "setup.json").read_text())["runs"]["OpenCV-MIL"] == {"peer": "mil"}
    kept = json.loads((out / "summary.json").read_text())["records"]
    assert [r["fps"] for r in kept] == [r["fps"] for r in records] and "frame_seconds" not in kept[0]
    for bad in ("own,1280", "0x720", "", "big"):
        assert speed.main(["--otb", str(otb), "--frame-sizes", bad, "--out", str(out)]) == 2
        assert "--frame-sizes" in capsys.readouterr().err
    for bad in ("0", "nan", "-5"):
        assert speed.main(["--otb", str(otb), "--frame-budget-ms", bad, "--out", str(out)]) == 2
        assert "--frame-budget-ms must be finite and positive" in capsys.readouterr().err


def test_a_resized_sequence_scales_its_frames_and_boxes():
    from tracker.data.sequence import ArraySequence, ResizedSequence

    frames = [np.zeros((120, 160, 3), np.uint8) for _ in range(3)]
    resized = ResizedSequence(ArraySequence("a", frames, np.array([[10.0, 20, 30, 40]] * 3)), (320, 360))
    assert resized.name == "a@320x360" and len(resized) == 3
    assert all(frame.shape == (360, 320, 3) for frame in resized)
    np.testing.assert_allclose(resized.ground_truth[0], [20, 60, 60, 120])



@pytest.mark.slow
def test_paired_report_gives_rule_minus_bp_with_a_bootstrap_interval(tmp_path, capsys):
    import shutil

    from tracker.evaluation import otb_ope, paired

    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=5)
    write_otb(otb / "Toy2", n_frames=4)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
    ope = tmp_path / "ope"
    assert otb_ope.main(["--otb", str(otb), "--updaters", "bp,bdfa", "--batch-sizes", "8", "--seeds", "2",
                         "--weights", "none", "--config", str(config), "--anchors", "", "--peers", "",
                         "--out", str(ope)]) == 0
    assert paired.main(["--ope", str(ope), "--resamples", "500"]) == 0
    entry = json.loads((ope / "paired.json").read_text())["differences"]["bdfa - bp"]["8"]
    runs = json.loads((ope / "results.json").read_text())["per_sequence"]
    by_pair = [runs[f"bdfa-b8-s{s}"][n]["success_auc"] - runs[f"bp-b8-s{s}"][n]["success_auc"]
               for s in (0, 1) for n in ("Toy", "Toy2")]
    assert entry["pairs"] == 4 and entry["mean"] == pytest.approx(np.mean(by_pair))
    assert entry["low"] <= entry["mean"] <= entry["high"]
    assert (ope / "paired.png").stat().st_size > 1000 and "| bdfa - bp | 8 | 2 | 4 |" in (ope / "paired.md").read_text()
    for seed in (0, 1):  # the same boxes for both rules: the difference is exactly 0, with no spread
        shutil.rmtree(ope / "results" / f"bdfa-b8-s{seed}")
        shutil.copytree(ope / "results" / f"bp-b8-s{seed}", ope / "results" / f"bdfa-b8-s{seed}")
    assert paired.main(["--ope", str(ope), "--resamples", "500"]) == 0
    entry = json.loads((ope / "paired.json").read_text())["differences"]["bdfa - bp"]["8"]
    assert entry["mean"] == entry["low"] == entry["high"] == 0
    capsys.readouterr()
    assert paired.main(["--ope", str(ope), "--reference", "fa"]) == 2
    assert "--reference fa is not in the sweep" in capsys.readouterr().err

    # a variant sweep (other settings, same sequences and seeds) against the first sweep's BP
    variant, variant_config = tmp_path / "variant", tmp_path / "variant.yaml"
    variant_config.write_text(yaml.safe_dump(merged(NARROW, {"learning": {"feedback_scaling": "norm"}})))
    assert otb_ope.main(["--otb", str(otb), "--updaters", "bdfa", "--batch-sizes", "8", "--seeds", "2",
                         "--weights", "none", "--config", str(variant_config), "--anchors", "", "--peers", "",
                         "--out", str(variant)]) == 0
    assert paired.main(["--ope", str(variant), "--reference-ope", str(ope), "--resamples", "500"]) == 0
    entry = json.loads((variant / "paired.json").read_text())["differences"]["bdfa - bp"]["8"]
    ours = json.loads((variant / "results.json").read_text())["per_sequence"]
    by_pair = [ours[f"bdfa-b8-s{s}"][n]["success_auc"] - runs[f"bp-b8-s{s}"][n]["success_auc"]
               for s in (0, 1) for n in ("Toy", "Toy2")]
    assert entry["pairs"] == 4 and entry["mean"] == pytest.approx(np.mean(by_pair))
    differences = json.loads((variant / "paired.json").read_text())["differences"]
    assert differences["default bdfa - bp"]["8"]["mean"] == 0  # the first sweep's bdfa now holds bp's boxes
    assert differences["bdfa - default bdfa"]["8"]["mean"] == pytest.approx(np.mean(by_pair))
    assert "variant.yaml" in (variant / "paired.md").read_text()
    assert otb_ope.main(["--otb", str(otb), "--sequences", "Toy", "--updaters", "bdfa", "--batch-sizes", "8",
                         "--seeds", "1", "--weights", "none", "--config", str(variant_config), "--anchors", "",
                         "--peers", "", "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    assert paired.main(["--ope", str(tmp_path / "one"), "--reference-ope", str(ope)]) == 2
    assert "ran different sequences" in capsys.readouterr().err


@pytest.mark.slow
def test_memory_benchmark_reports_each_tracker_in_its_own_process(tmp_path, capsys):
    from tracker.evaluation import memory

    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=5)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST))
    out = tmp_path / "memory"
    assert memory.main(["--otb", str(otb), "--sequence", "Toy", "--frames", "12", "--trackers", "ours:bp,mil",
                        "--config", str(config), "--out", str(out)]) == 0
    records = {r["tracker"]: r for r in json.loads((out / "memory.json").read_text())["records"]}
    assert set(records) == {"ours:bp", "mil"}
    for record in records.values():
        assert record["frames"] == 12  # 5 frames played forward and back: 0-4, 3-1, 0-4, ...
        assert 0 < record["steady_rss_mb"] <= record["peak_rss_mb"]
    # OpenCV's MIL ran without torch in its process: far below our tracker's imports alone
    assert records["mil"]["rss_built_mb"] < records["ours:bp"]["rss_built_mb"] - 100
    assert "| ours:bp | 12 |" in capsys.readouterr().out
    assert memory.main(["--otb", str(otb), "--sequence", "Nope", "--frames", "12", "--trackers", "mil",
                        "--out", str(out)]) == 2
    assert "Nope" in capsys.readouterr().err
    assert memory.looped(list("abc"), 7) == list("abcbabc")
    # at a webcam's size: every frame resized as it is read
    assert memory.main(["--otb", str(otb), "--sequence", "Toy", "--frames", "6", "--trackers", "mil",
                        "--frame-size", "640x480", "--out", str(out)]) == 0
    assert json.loads((out / "memory.json").read_text())["frame_size"] == "640x480"
    assert "Toy at 640x480, 6 frames" in capsys.readouterr().out
    assert memory.main(["--otb", str(otb), "--sequence", "Toy", "--frame-size", "640", "--out", str(out)]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


@pytest.mark.parametrize("module, argv, message", [
    ("memory", ["--threads", "0"], "--threads must be in 1 .. 256, got 0"),
    ("memory", ["--frames", "10000000"], "--frames must be in 2 .. 1000000"),
    ("speed", ["--max-frames", "0"], "--max-frames must be in 1 .. 1000000, got 0"),
    ("speed", ["--out", "{file}"], "is not a folder"),
    ("memory", ["--out", "{file}"], "is not a folder"),
    ("soak", ["--out", "{file}"], "--out {file} is not a folder"),
    ("soak", ["--target", "Toy", "--weights", "{file}.pt", "--out", "{tmp}/soak"], "weights file not found: {file}.pt"),
    ("soak", ["--target", "Toy", "--config", "{file}.yaml", "--out", "{tmp}/soak"], "config file not found"),
    ("otb_ope", ["--out", "{file}"], "--out {file} is not a folder"),
])
def test_a_harness_refuses_bad_settings_in_one_line_before_measuring(tmp_path, capsys, module, argv, message):
    import importlib

    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=3)
    (tmp_path / "file").write_text("kept")
    argv = [a.replace("{file}", str(tmp_path / "file")).replace("{tmp}", str(tmp_path)) for a in argv]
    harness = importlib.import_module(f"tracker.evaluation.{module}")
    assert harness.main(["--otb", str(otb), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    message = message.replace("{file}", str(tmp_path / "file"))
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "soak").exists() or [p.name for p in (tmp_path / "soak").iterdir()] == [".lock"]
    assert (tmp_path / "file").read_text() == "kept"


def test_the_speed_harness_checks_its_shared_exact_sequences_before_measuring(tmp_path, capsys, monkeypatch):
    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=3)
    measured = []
    monkeypatch.setattr(speed, "measure", lambda *args, **kwargs: measured.append(args))
    assert speed.main(["--otb", str(otb), "--exact", "Nope", "--out", str(tmp_path / "out")]) == 2
    assert "Nope" in capsys.readouterr().err and not measured


@pytest.mark.slow
def test_a_memory_harness_stopped_by_sigterm_leaves_no_measuring_child(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=5)
    parent = subprocess.Popen([sys.executable, "-m", "tracker.evaluation.memory", "--otb", str(otb), "--sequence",
                               "Toy", "--frames", "1000000", "--trackers", "mil", "--out", str(tmp_path / "out")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    for _ in range(300):  # the measuring child started
        time.sleep(0.1)
        children = [int(p) for p in os.popen(f"pgrep -P {parent.pid}").read().split()]
        if children:
            break
    assert children
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) != 0
    time.sleep(0.5)
    assert all(not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
               for pid in children)
    assert not (tmp_path / "out" / "memory.json").exists()


@pytest.mark.slow
def test_the_soak_benchmark_tracks_a_long_video_through_the_command_line_and_reports_growth(tmp_path, capsys):
    from tracker.evaluation import soak

    for name in ("SynA", "SynB"):
        write_otb(tmp_path / "otb" / name, n_frames=30)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
    out = tmp_path / "soak"
    out.mkdir()
    (out / "soak.avi").write_bytes(b"a video of the user's")  # the soak's own video goes elsewhere
    assert soak.main(["--otb", str(tmp_path / "otb"), "--target", "SynA", "--absent", "6", "--frames", "160",
                      "--window", "20", "--config", str(config), "--weights", "none", "--out", str(out)]) == 0
    record = json.loads((out / "soak.json").read_text())
    assert record["frames"] == 160 and record["filler"] == "SynB"  # a row for every frame
    assert 0 < record["rss_at_window_mb"] <= record["peak_rss_mb"] and record["end_ms"] > 0
    assert record["growth_mb"] == pytest.approx(record["rss_end_mb"] - record["rss_at_window_mb"])
    assert sorted(p.name for p in out.iterdir()) == [".lock", "soak.avi", "soak.json", "soak.md"]
    assert (out / "soak.avi").read_bytes() == b"a video of the user's" and "growth MB" in capsys.readouterr().out
    assert soak.main(["--otb", str(tmp_path / "otb"), "--frames", "100", "--out", str(out)]) == 2
    assert "--frames must be in 2100" in capsys.readouterr().err
