"""The speed and accuracy benchmarks run end to end on tiny OTB folders and write what they report."""

import json

import yaml

from benchmarks import accuracy, speed
from tests.conftest import FAST, write_otb


def test_speed_benchmark_reports_both_modes_and_whole_sequences(tmp_path, capsys):
    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=6)
    write_otb(otb / "Other", n_frames=4)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST))
    out = tmp_path / "speed"
    assert speed.main(["--otb", str(otb), "--sequences", "Toy", "--max-frames", "3", "--weights", "none",
                       "--config", str(config), "--out", str(out)]) == 0
    report = json.loads((out / "speed.json").read_text())
    assert set(report["totals"]) == {"shared", "exact", "shared, whole sequences"}
    assert report["totals"]["shared"]["frames"] == report["totals"]["exact"]["frames"] == 3
    assert report["totals"]["shared, whole sequences"]["frames"] == 10
    assert report["ratio"] > 0
    assert "speed ratio" in capsys.readouterr().out


def test_accuracy_benchmark_resumes_per_sequence(tmp_path, capsys):
    otb = tmp_path / "otb"
    write_otb(otb / "Toy", n_frames=5)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST))
    args = ["--otb", str(otb), "--weights", "none", "--config", str(config), "--out", str(tmp_path / "acc")]
    assert accuracy.main(args + ["--updaters", "bp"]) == 0
    first = json.loads((tmp_path / "acc" / "accuracy.json").read_text())
    assert accuracy.main(args + ["--updaters", "bp,bdfa"]) == 0
    second = json.loads((tmp_path / "acc" / "accuracy.json").read_text())
    assert second["bp"] == first["bp"]  # finished run kept, not redone
    assert set(second) == {"bp", "bdfa"} and 0 <= second["bdfa"]["Toy"]["success_auc"] <= 1
