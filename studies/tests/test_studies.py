"""The studies (``studies/``) run end to end on tiny OTB folders and write what they report: the lab's own
tools, run by CI beside the product's suite (``tests/``), which imports none of them."""

import json

import numpy as np
import pytest
import torch
import yaml

from studies import accuracy, backbones, trunk_cost, width
from tests.conftest import FAST, NARROW, write_otb
from tracker.backbones import save_weights
from tracker.config import merged

pytestmark = pytest.mark.lab


def test_accuracy_is_a_report_of_the_ope_results_on_disk(tmp_path, capsys):
    from tracker.evaluation import otb_ope

    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=5)
    write_otb(otb / "Toy2", n_frames=4)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_alignment_report_reruns_the_sweeps_first_frames_with_the_probe_and_ranks_angles_against_auc(tmp_path, capsys):
    from studies import alignment
    from tracker.evaluation import otb_ope

    otb = tmp_path / "otb"
    for name, frames in (("Toy", 6), ("Toy2", 5), ("Toy3", 5)):
        write_otb(otb / name, n_frames=frames)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
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
    config.write_text(yaml.safe_dump(merged(FAST, {"samples": {"n_neg_init": 200}, "box": {"n_bbreg": 50}})))
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


def test_the_redetection_rule_study_replays_the_first_box_a_rule_takes():
    from studies.redetect_rule import first_taken, outcome, tally

    # frames 1-10: the target there on 1-3, absent on 4-6, back on 7-10; flagged lost on 4-9
    entry = {"frames": {"score": [4.0, 4.0, 4.0, -1, -1, -1, -1, -1, -1, 4.0], "present": [True] * 3 + [False] * 3
                        + [True] * 4, "lost": [False] * 3 + [True] * 6 + [False], "overlap": [0.8] * 3 + [0.0] * 7},
             "searches": [{"frame": frame, "score": score, "box": box, "overlap": overlap, "hit": overlap > 0,
                           "likeness": 0.5, "typical_likeness": 0.5}
                          for frame, score, box, overlap in ((5, 2.6, [0, 0, 10, 10], 0.0),
                                                             (7, 2.5, [50, 50, 10, 10], 0.9),
                                                             (8, 3.5, [52, 50, 10, 10], 0.8),
                                                             (9, 3.0, [53, 50, 10, 10], 0.7))]}
    entry["searches"][0]["likeness"] = 0.2  # the other scene's best box is less like the target
    # interval, ratio (of the typical score 4 before the flag), floor, likeness (of the typical 0.5), confirm
    assert outcome(entry, first_taken(entry, 1, 0.5, 0.0, 0.0, False)) == "wrong"  # 2.6 > 2 in the other scene
    assert first_taken(entry, 1, 0.5, 0.0, 0.6, False)["frame"] == 7  # not like the target: not taken
    assert first_taken(entry, 1, 0.7, 0.0, 0.0, False)["frame"] == 8  # the bar is 2.8
    assert first_taken(entry, 2, 0.7, 0.0, 0.0, False)["frame"] == 9  # every 2nd flagged frame: 5, 7, 9
    assert first_taken(entry, 1, 0.5, 0.0, 0.0, True)["taken"] == 8  # 7 confirmed by 8 (5 has no search on 6)
    assert outcome(entry, first_taken(entry, 1, 0.7, 3.2, 0.0, False)) == "found"
    assert first_taken(entry, 1, 1.0, 0.0, 0.0, False) is None
    assert tally([entry], (1, 0.7, 0.0, 0.0, False)) == {"none": 0, "target": 0, "found": 1, "late": 0,
                                                          "wrong": 0, "found_total": 1}


def test_batched_steps_times_stacked_steps_against_the_trackers_in_turn(tmp_path, capsys):
    """The stacked step learns what a DFA step learns (a step towards the labels) and is timed against K of the
    tracker's own steps."""
    from studies import batched_steps

    weights = [torch.randn(2, 512, 720) * 0.01, torch.randn(2, 512, 512) * 0.01, torch.randn(2, 2, 512) * 0.01]
    feedback = [torch.sign(torch.randn(2, 2, 512)) / 512 ** 0.5 for _ in range(2)]
    x = torch.rand(2, 128, 720)
    labels = (torch.arange(128) < 32).long().expand(2, 128)

    def loss() -> float:
        h = x
        for w in weights[:2]:
            h = torch.relu(torch.bmm(h, w.transpose(1, 2)))
        out = torch.bmm(h, weights[2].transpose(1, 2))
        return float(torch.nn.functional.cross_entropy(out.reshape(-1, 2), labels.reshape(-1)))

    before = loss()
    for _ in range(5):
        batched_steps.stacked_step(weights, feedback, x, labels, 1e-3)
    assert loss() < before  # a step towards the labels, for both targets at once
    assert batched_steps.main(["--targets", "1,2", "--repeats", "2", "--out", str(tmp_path)]) == 0
    records = json.loads((tmp_path / "batched_steps.json").read_text())["records"]
    assert [r["targets"] for r in records] == [1, 2] and all(r["stacked_ms"] > 0 for r in records)
    assert "stacked / (K x one)" in capsys.readouterr().out


def test_search_cost_times_each_map_side_and_says_what_it_found(tmp_path, capsys):
    from studies import search_cost

    write_otb(tmp_path / "otb" / "Toy", n_frames=4)
    assert search_cost.main(["--otb", str(tmp_path / "otb"), "--sequences", "Toy", "--sides", "512,256",
                             "--frames", "2", "--out", str(tmp_path / "out")]) == 0
    records = json.loads((tmp_path / "out" / "search_cost.json").read_text())["records"]
    assert [r["side"] for r in records] == [512, 256] and all(r["searches"] == 2 for r in records)
    assert all(r["median_ms"] > 0 and r["median_peak_mb"] >= 0 and 0 <= r["found"] <= 1 for r in records)
    assert "| map side |" in capsys.readouterr().out
