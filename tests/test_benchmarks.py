"""The speed and accuracy benchmarks run end to end on tiny OTB folders and write what they report."""

import json

import numpy as np
import pytest
import torch
import yaml

from studies import accuracy, backbones, trunk_cost, width
from tests.conftest import FAST, write_otb
from tracker.backbones import MDNetBackbone, save_weights
from tracker.build import build_tracker
from tracker.evaluation import speed


def test_speed_benchmark_puts_backbones_and_variants_side_by_side(tmp_path, capsys):
    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=6)
    write_otb(otb / "Other", n_frames=4)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST))
    variant = tmp_path / "narrow.yaml"
    variant.write_text(yaml.safe_dump({"backbone_channels": [8, 8, 8]}))
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
    assert configs["trunk"]["backbone"] == "efficientnet_lite0" and configs["random"]["backbone"] == "mdnet"
    assert configs["narrow"]["backbone_channels"] == [8, 8, 8] and configs["narrow"]["n_pos_init"] == FAST["n_pos_init"]
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
    variant.write_text("backbone: nanotrack\n")
    args = argparse.Namespace(config=None, updater=None, backbones="default=default", variants=f"nano={variant}",
                              peers="")
    default, nano = speed.make_runs(args)
    assert default.config.backbone == "efficientnet_lite0" and nano.config.backbone == "nanotrack"
    assert nano.weights is None and build_tracker(nano.config, nano.weights, warn=False).backbone.name == "nanotrack"



def test_speed_benchmark_plays_each_sequence_at_each_frame_size(tmp_path, capsys):
    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=4, size=(160, 120))
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST))
    out = tmp_path / "speed"
    assert speed.main(["--otb", str(otb), "--backbones", "random=none", "--frame-sizes", "own,320x240",
                       "--peers", "mil", "--exact", "none", "--config", str(config), "--out", str(out)]) == 0
    records = json.loads((out / "speed.json").read_text())["records"]
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


def test_a_resized_sequence_scales_its_frames_and_boxes():
    from tracker.data.sequence import ArraySequence, ResizedSequence

    frames = [np.zeros((120, 160, 3), np.uint8) for _ in range(3)]
    resized = ResizedSequence(ArraySequence("a", frames, np.array([[10.0, 20, 30, 40]] * 3)), (320, 360))
    assert resized.name == "a@320x360" and len(resized) == 3
    assert all(frame.shape == (360, 320, 3) for frame in resized)
    np.testing.assert_allclose(resized.ground_truth[0], [20, 60, 60, 120])

def test_accuracy_is_a_report_of_the_ope_results_on_disk(tmp_path, capsys):
    from tracker.evaluation import otb_ope

    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=5)
    write_otb(otb / "Toy2", n_frames=4)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump({**FAST, "backbone_channels": [16, 32, 32]}))
    ope = tmp_path / "ope"
    assert otb_ope.main(["--otb", str(otb), "--updaters", "bp", "--batch-sizes", "8", "--seeds", "2", "--weights",
                         "none", "--config", str(config), "--anchors", "", "--peers", "", "--out", str(ope)]) == 0
    assert accuracy.main(["--ope", str(ope)]) == 0
    table = json.loads((ope / "accuracy.json").read_text())
    mean = json.loads((ope / "results.json").read_text())["per_sequence_mean"]["bp-b8"]
    assert set(table["bp-b8"]) == {"Toy", "Toy2"}
    for name, entry in table["bp-b8"].items():
        assert entry["seeds"] == 2 and entry["success_auc"] == pytest.approx(mean[name]) and entry["fps"] > 0
    assert "| bp-b8 | Toy2 | 2 |" in (ope / "accuracy.md").read_text()
    capsys.readouterr()
    assert accuracy.main(["--ope", str(tmp_path / "nothing")]) == 2
    assert "holds no OPE report" in capsys.readouterr().err


def test_backbones_benchmark_puts_each_weights_file_beside_the_random_backbone(tmp_path, backbone, capsys):
    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=4)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST))
    weights = tmp_path / "mine.pt"
    save_weights(weights, backbone)
    weights.with_suffix(".json").write_text(json.dumps({"fc_updater": "bdfa", "iterations": 3,
                                                        "final_loss": 0.5, "final_accuracy": 0.75}))
    out = tmp_path / "bb"
    assert backbones.main(["--backbones", f"random=none,mine={weights}", "--otb", str(otb), "--seeds", "1",
                           "--config", str(config), "--out", str(out)]) == 0
    report = json.loads((out / "backbones.json").read_text())["backbones"]
    assert set(report) == {"random", "mine"}
    assert report["random"]["pretraining"] is None
    assert report["mine"]["pretraining"]["fc_updater"] == "bdfa"
    for entry in report.values():
        assert set(entry["updaters"]) == {"bp", "bdfa"}
        assert len(entry["updaters"]["bdfa"]["success_auc"]) == 1
    assert (out / "backbones.png").stat().st_size > 0
    assert "bdfa, loss 0.500, acc 0.750" in capsys.readouterr().out


@pytest.mark.parametrize("spec,message", [("random", "label=weights"), ("x=/no/such.pt", "not found"), ("", "empty")])
def test_backbones_bad_input_exits_2(tmp_path, capsys, spec, message):
    assert backbones.main(["--backbones", spec, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_width_benchmark_times_each_width_and_reports_ratios(tmp_path, capsys):
    write_otb(tmp_path / "data" / "synA", n_frames=6, size=(200, 160))
    write_otb(tmp_path / "otb" / "Toy", n_frames=3)
    out = tmp_path / "width"
    assert width.main(["--widths", "8,16,16", "16,32,32", "--data", str(tmp_path / "data"), "--otb",
                       str(tmp_path / "otb"), "--sequences", "Toy", "--iterations", "2", "--max-frames", "2",
                       "--repeats", "1", "--out", str(out)]) == 0
    samples = json.loads((out / "width.json").read_text())["samples"]
    assert set(samples) == {"(8, 16, 16)", "(16, 32, 32)"}
    assert all(v["s_per_iteration"][0] > 0 and v["fps"][0] > 0 for v in samples.values())
    assert width.main(["--widths", "8,16", "--data", str(tmp_path / "data"), "--out", str(out)]) == 2
    assert "three positive channel counts" in capsys.readouterr().err


def test_trunk_cost_times_every_lever_against_the_first(tmp_path, capsys):
    assert trunk_cost.main(["--repeats", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "trunk_cost.json").read_text())["rows"]
    assert len(rows) == len(trunk_cost.DEFAULT_VARIANTS) and all(r["seconds"][0] > 0 for r in rows)
    assert {r["channels_last"] for r in rows} == {True, False} and {r["onednn"] for r in rows} == {True, False}
    assert "x first" in capsys.readouterr().out
    assert torch.get_num_threads() in (1, 2) and torch.backends.mkldnn.enabled  # oneDNN switched back on


def test_update_cost_times_every_rule_and_reports_ratios_bytes_and_angles(tmp_path, capsys):
    from studies.update_cost import main as update_cost

    write_otb(tmp_path / "Toy", n_frames=6)
    out = tmp_path / "uc"
    assert update_cost(["--sequence", str(tmp_path / "Toy"), "--batch-sizes", "8", "--repeats", "3",
                        "--weights", "none", "--out", str(out)]) == 0
    data = json.loads((out / "update_cost.json").read_text())
    rows = {r["updater"]: r for r in data["records"]}
    assert set(rows) == {"bp", "fa", "dfa", "bdfa"} and rows["bp"]["ratio_to_bp"] == 1.0
    assert rows["bdfa"]["feedback_bytes"] * 32 == rows["dfa"]["feedback_bytes"]  # 1 bit against fp32
    assert rows["dfa"]["propagation_macs"] < rows["bp"]["propagation_macs"]
    assert rows["bp"]["angle_fc4_deg"] < 0.1 < rows["dfa"]["angle_fc4_deg"]  # BP's own gradient: angle 0
    assert "| bdfa | 8 |" in (out / "update_cost.md").read_text()
    assert json.loads((out / "setup.json").read_text())["flags"]["repeats"] == "3"


def test_paired_report_gives_rule_minus_bp_with_a_bootstrap_interval(tmp_path, capsys):
    import shutil

    from tracker.evaluation import otb_ope, paired

    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=5)
    write_otb(otb / "Toy2", n_frames=4)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump({**FAST, "backbone_channels": [16, 32, 32]}))
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
    variant_config.write_text(yaml.safe_dump({**FAST, "backbone_channels": [16, 32, 32],
                                              "feedback_scaling": "norm"}))
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


def test_alignment_report_reruns_the_sweeps_first_frames_with_the_probe_and_ranks_angles_against_auc(tmp_path, capsys):
    from studies import alignment
    from tracker.evaluation import otb_ope

    otb = tmp_path / "otb"
    for name, frames in (("Toy", 6), ("Toy2", 5), ("Toy3", 5)):
        write_otb(otb / name, n_frames=frames)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump({**FAST, "backbone_channels": [16, 32, 32]}))
    ope, out = tmp_path / "ope", tmp_path / "alignment"
    assert otb_ope.main(["--otb", str(otb), "--updaters", "bp,bdfa", "--batch-sizes", "8", "--seeds", "2",
                         "--weights", "none", "--config", str(config), "--anchors", "", "--peers", "",
                         "--out", str(ope)]) == 0
    args = ["--ope", str(ope), "--updaters", "bdfa", "--batch-size", "8", "--frames", "3", "--weights", "none",
            "--resamples", "200", "--out", str(out)]
    assert alignment.main(args) == 0
    data = json.loads((out / "alignment.json").read_text())
    runs = json.loads((ope / "results.json").read_text())["per_sequence"]
    assert len(data["pairs"]) == 6 and all(p["same_boxes_as_sweep"] and p["frames"] == 3 for p in data["pairs"])
    for p in data["pairs"]:
        assert 0 < p["angle_fc4"] < 180 and p["steps"] > 0
        auc = runs[f"bdfa-b8-s{p['seed']}"][p["sequence"]]["success_auc"]
        assert p["success_auc"] == pytest.approx(auc)
        bp = runs[f"bp-b8-s{p['seed']}"][p["sequence"]]["success_auc"]
        assert p["auc_minus_reference"] == pytest.approx(auc - bp)
    entry = data["correlations"]["bdfa/fc4/success_auc"]
    assert -1 <= entry["low"] <= entry["high"] <= 1 and entry["pairs"] == 6
    assert (out / "alignment.png").stat().st_size > 1000
    first = (out / "pairs.json").stat().st_mtime_ns
    assert alignment.main(args) == 0 and (out / "pairs.json").stat().st_mtime_ns == first  # resumed: no reruns
    capsys.readouterr()
    assert alignment.main(args[:-2] + ["--batch-size", "16", "--out", str(out)]) == 2
    assert "no batch size 16" in capsys.readouterr().err
    assert alignment.main(args[:8] + ["--out", str(out)]) == 2  # default weights: not the sweep's random ones
    assert "not the weights the sweep" in capsys.readouterr().err


def test_scale_sensitivity_scores_the_true_box_scaled_in_each_reading(tmp_path, capsys):
    from studies import scale_sensitivity

    data = tmp_path / "data"
    write_otb(data / "Toy", n_frames=4)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump({**FAST, "n_neg_init": 200, "n_bbreg": 50}))
    out = tmp_path / "scale"
    assert scale_sensitivity.main(["--data", str(data), "--frames", "2,3", "--steps", "2", "--weights", "none",
                                   "--config", str(config), "--out", str(out)]) == 0
    report = json.loads((out / "scale_sensitivity.json").read_text())
    assert set(report["scores"]) == set(scale_sensitivity.READINGS)
    for rows in report["scores"].values():
        assert len(rows) == 2 and all(len(r) == 5 and r[2] == 0.0 for r in rows)  # relative to the true box
    # a map per scale zooms the content, so its scores differ from the one map's
    assert not np.allclose(report["scores"]["shared, map per scale"], report["scores"]["shared"])
    assert (out / "scale_sensitivity.png").stat().st_size > 0 and "best within 1 step" in capsys.readouterr().out
    assert scale_sensitivity.main(["--data", str(data), "--sequences", "Nope", "--out", str(out)]) == 2
    assert "sequence(s) not found under" in (err := capsys.readouterr().err) and "Nope" in err


def test_scaled_boxes_keep_the_centre():
    from studies.scale_sensitivity import scaled_boxes

    boxes = scaled_boxes(np.array([10.0, 20.0, 40.0, 30.0]), 1.1, 2)
    assert np.allclose(boxes[:, :2] + boxes[:, 2:] / 2, [30.0, 35.0])
    assert np.allclose(boxes[:, 2] / 40.0, 1.1 ** np.arange(-2, 3)) and np.allclose(boxes[2], [10, 20, 40, 30])


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
