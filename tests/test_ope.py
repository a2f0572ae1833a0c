"""The OTB harness: got10k-convention metrics, result files, anchors, resume, the report, bad input."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from got10k.experiments import ExperimentOTB
from got10k.utils.metrics import center_error, rect_iou

from tests.conftest import NARROW, leftovers, stopped_at_each_write, write_otb
from tracker.backbones import save_weights
from tracker.evaluation.ope import (
    anchor_boxes,
    has_result,
    read_result,
    score_sequence,
    summarise,
    write_result,
)
from tracker.evaluation.otb_ope import main

ROOT = Path(__file__).resolve().parent.parent

GT = np.array([[10.0 + 3 * i, 20.0, 40.0, 40.0] for i in range(10)])


def test_perfect_tracker_scores_20_of_21_and_precision_1():
    summary = summarise([score_sequence(GT.copy(), GT)])
    assert summary["success_auc"] == pytest.approx(20 / 21)  # IoU 1 is not > threshold 1
    assert summary["precision_20"] == 1.0


def test_constant_10px_offset_scores_what_we_compute_by_hand():
    boxes = GT + [10, 0, 0, 0]
    summary = summarise([score_sequence(boxes, GT)])
    # frames 2..10: IoU = 30*40 / (2*1600 - 1200) = 0.6 > t for t = 0, .05, ..., .55 -> 12 of 21;
    # frame 1 is replaced by the ground truth (got10k): 20 of 21
    assert summary["success_auc"] == pytest.approx((20 / 21 + 9 * 12 / 21) / 10)
    assert summary["precision_20"] == 1.0  # centre error 10 px <= 20
    assert summary["precision_curve"][9] == pytest.approx(1 / 10)  # only frame 1 is within 9 px
    assert summary["precision_curve"][10] == 1.0


def test_size_diagnostic_separates_a_wrong_size_from_a_wrong_centre():
    """Boxes twice the true size about the true centres: their location is perfect, their size is not; boxes of
    the true size 10 px off: the other way round."""
    doubled = np.c_[GT[:, :2] - GT[:, 2:] / 2, 2 * GT[:, 2:]]
    summary = summarise([score_sequence(doubled, GT)])
    assert summary["location_only_auc"] == pytest.approx(20 / 21)
    assert summary["size_only_auc"] == pytest.approx(summary["success_auc"])
    assert summary["success_auc"] < 0.5
    shifted = summarise([score_sequence(GT + [10, 0, 0, 0], GT)])
    assert shifted["size_only_auc"] == pytest.approx(20 / 21)
    assert shifted["location_only_auc"] == pytest.approx(shifted["success_auc"])
    assert shifted["success_auc"] < 0.7


def test_scores_equal_got10k_experiment_curves():
    rng = np.random.default_rng(0)
    boxes = GT + rng.normal(0, 8, GT.shape)
    boxes[0] = GT[0]
    experiment = ExperimentOTB.__new__(ExperimentOTB)
    experiment.nbins_iou, experiment.nbins_ce = 21, 51
    succ, prec = experiment._calc_curves(rect_iou(boxes, GT), center_error(boxes, GT))
    ours = score_sequence(boxes, GT)
    np.testing.assert_allclose(ours.success, succ)
    np.testing.assert_allclose(ours.precision, prec)


def test_longer_results_are_cut_to_the_ground_truth():
    longer = np.vstack([GT, GT + 500])
    assert summarise([score_sequence(longer, GT)])["precision_20"] == 1.0


def test_result_files_round_trip_in_got10k_layout(tmp_path):
    times = np.linspace(0.01, 0.1, 10)
    write_result(tmp_path, "bdfa-b8-s0", "Jogging.1", GT, times)
    assert (tmp_path / "bdfa-b8-s0" / "Jogging.1.txt").is_file()
    assert (tmp_path / "bdfa-b8-s0" / "times" / "Jogging.1_time.txt").is_file()
    assert has_result(tmp_path, "bdfa-b8-s0", "Jogging.1")
    boxes, read_times = read_result(tmp_path, "bdfa-b8-s0", "Jogging.1")
    np.testing.assert_allclose(boxes, GT, atol=1e-3)
    np.testing.assert_allclose(read_times, times, atol=1e-8)
    assert not list(tmp_path.rglob("*.tmp"))


def test_anchor_files_match_case_insensitively(tmp_path):
    (tmp_path / "MDNet").mkdir()
    np.savetxt(tmp_path / "MDNet" / "dragonBaby.txt", GT, delimiter=",")
    np.savetxt(tmp_path / "MDNet" / "jogging_2.txt", GT, delimiter="\t")
    assert anchor_boxes(tmp_path, "MDNet", "DragonBaby").shape == (10, 4)
    assert anchor_boxes(tmp_path, "MDNet", "Jogging.2").shape == (10, 4)
    assert anchor_boxes(tmp_path, "MDNet", "Jogging.1") is None


@pytest.fixture
def tiny(tmp_path):
    otb = tmp_path / "otb"
    write_otb(otb / "SynA", n_frames=6)
    write_otb(otb / "SynB", n_frames=6)
    anchors = tmp_path / "anchors"
    (anchors / "Pub").mkdir(parents=True)
    np.savetxt(anchors / "Pub" / "syna.txt", np.loadtxt(otb / "SynA" / "groundtruth_rect.txt", delimiter=","),
               delimiter=",")
    (anchors / "attributes.txt").write_text("SynA\tOCC, SV\nSynB\tSV\n")
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
    args = ["--otb", str(otb), "--updaters", "bp,bdfa", "--batch-sizes", "16,8", "--seeds", "2",
            "--out", str(tmp_path / "out"), "--config", str(config), "--weights", "none",
            "--anchors", "Pub", "--anchors-root", str(anchors), "--peers", "mil,nano",
            "--peer-models", str(tmp_path / "no-models")]
    return tmp_path, args


@pytest.mark.slow
def test_tiny_end_to_end_run_writes_every_plot_table_and_json(tiny, capsys):
    tmp_path, args = tiny
    assert main(args) == 0
    out = tmp_path / "out"
    for name in ("success_b16.png", "success_b8.png", "precision_b16.png", "precision_b8.png", "batch_size.png"):
        assert (out / name).stat().st_size > 1000, name
    report = (out / "report.md").read_text()
    assert "| bdfa | 8 | 2 |" in report and "Pub" in report and "OpenCV-MIL" in report
    assert "Pub has no result file for SynB" in report
    assert "- NanoTrack not run: nanotrack_backbone_sim.onnx, nanotrack_head_sim.onnx not found in" in report
    mil = next(line for line in report.splitlines() if line.startswith("| OpenCV-MIL (2 seeds, AUC ± "))
    assert float(mil.split("|")[4]) > 0  # fps measured in this run
    data = json.loads((out / "results.json").read_text())
    # MIL's boxes depend on its seed: it runs once per seed, like ours, and is reported as their mean
    assert set(data["per_sequence"]["OpenCV-MIL-s1"]) == {"SynA", "SynB"} and "OpenCV-MIL" not in data["per_sequence"]
    assert data["others"]["OpenCV-MIL"]["seeds"] == 2
    mil_aucs = [[data["per_sequence"][f"OpenCV-MIL-s{s}"][n]["success_auc"] for n in ("SynA", "SynB")] for s in (0, 1)]
    assert data["others"]["OpenCV-MIL"]["success_auc"] == pytest.approx(np.mean(mil_aucs))
    assert "seeds" not in data["others"]["Pub"]
    assert set(data["groups"]) == {"bp-b16", "bp-b8", "bdfa-b16", "bdfa-b8"}
    assert len(data["groups"]["bp-b8"]["success_auc"]) == 2
    assert data["others"]["Pub"]["success_auc"] == pytest.approx(20 / 21)
    assert set(data["attributes"]["success_auc"]["bp-b8"]) == {"OCC", "SV"}
    per_sequence = data["per_sequence_mean"]
    assert per_sequence["Pub"]["SynA"] == pytest.approx(20 / 21) and "SynB" not in per_sequence["Pub"]
    assert per_sequence["bp-b8"]["SynA"] == pytest.approx(np.mean(  # the mean over the two seeds
        [data["per_sequence"][f"bp-b8-s{s}"]["SynA"]["success_auc"] for s in (0, 1)]))
    assert "## Success AUC per sequence" in report
    # the size diagnostic, for ours, the published results and the peers alike
    assert "## Where success AUC is lost: location against size" in report
    assert data["others"]["Pub"]["location_only_auc"] == pytest.approx(20 / 21)
    assert len(data["groups"]["bp-b8"]["location_only_auc"]) == 2
    assert 0 <= data["others"]["OpenCV-MIL"]["size_only_auc"] <= 1
    seed0 = data["per_sequence"]["bp-b8-s0"]["SynA"]
    assert seed0["location_only_auc"] >= 0 and seed0["size_only_auc"] >= 0
    assert set(data["per_sequence_mean_size_diagnostic"]["location_only_auc"]) == set(per_sequence)
    assert data["settings"]["setup"]["config"]["network"]["backbone_channels"] == [16, 32, 32]  # what the runs used
    assert "backbone: random" in report


@pytest.mark.slow
def test_resume_skips_finished_runs_and_fresh_does_not(tiny, capsys):
    tmp_path, args = tiny
    args = [a if a != "bp,bdfa" else "bp" for a in args]
    assert main(args + ["--batch-sizes", "8", "--seeds", "1", "--peers", ""]) == 0
    result = tmp_path / "out" / "results" / "bp-b8-s0" / "SynA.txt"
    os.utime(result, (1, 1))
    capsys.readouterr()
    assert main(args + ["--batch-sizes", "8", "--seeds", "1", "--peers", ""]) == 0
    assert "2 runs, 2 already finished, 0 to do" in capsys.readouterr().err
    assert result.stat().st_mtime == 1
    assert main(args + ["--batch-sizes", "8", "--seeds", "1", "--peers", "", "--fresh"]) == 0
    assert "0 already finished, 2 to do" in capsys.readouterr().err
    assert result.stat().st_mtime > 1
    result.unlink()  # --report-only runs nothing and says the sweep is unfinished
    assert main(args + ["--batch-sizes", "8", "--seeds", "1", "--peers", "", "--report-only"]) == 0
    assert not result.exists()
    assert "no finished seed for bp-b8" in (tmp_path / "out" / "report.md").read_text()


def whole(out: Path, before: dict[Path, bytes]) -> list[str]:
    """The files under ``out`` that are not whole: each file written before is there and reads as its kind does,
    and nothing else is (but the run's lock)."""
    wrong = [str(p) for p in out.rglob("*") if p.is_file() and p not in before and p.name != ".lock"]
    for path in before:
        if not path.is_file():
            wrong.append(f"{path} is gone")
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".txt":
            assert len(np.loadtxt(path, delimiter=",", ndmin=1)) == 6, path
        elif path.suffix == ".png":
            assert cv2.imread(str(path)) is not None, path
        elif path.suffix == ".md":
            assert path.read_text().endswith("\n"), path
    return wrong


@pytest.mark.slow
@pytest.mark.parametrize("signum, stopped", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_at_any_write_of_a_sweep_leaves_every_file_whole_and_no_temporary(tiny, monkeypatch, capsys, signum,
                                                                                  stopped):
    """SIGTERM or Ctrl-C arriving as each of the sweep's files is made or moved into place (results, times,
    records, plots, report): the run stops, every file there before is whole (old or new), none is left half
    made. Found: a stop just after a temporary file was made, before its name was kept, left it behind."""
    tmp_path, args = tiny
    args = [a if a != "bp,bdfa" else "bp" for a in args] + ["--batch-sizes", "8", "--seeds", "1", "--peers", "",
                                                            "--sequences", "SynA"]
    out = (tmp_path / "out").resolve()
    assert main(args) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}

    def sweep_again() -> int:
        try:
            return main([*args, "--fresh"])
        except SystemExit as exc:  # Ctrl-C during the runs: the sweep says how to resume, then exits 130
            return int(exc.code)

    codes = []
    for code in stopped_at_each_write(sweep_again, out, signum, monkeypatch):
        codes.append(code)
        assert leftovers(out) == [] and whole(out, before) == [], len(codes)
    assert codes[-1] == 0 and set(codes[:-1]) == {stopped} and len(codes) > len(before), codes


@pytest.mark.slow
def test_a_full_disk_during_a_sweep_is_one_line_and_leaves_every_file_whole(tiny):
    """Writes failing with EFBIG (a file-size limit, as a full disk fails them) once the sweep's small files are
    written: one error line, and every file there before whole."""
    tmp_path, args = tiny
    args = [a if a != "bp,bdfa" else "bp" for a in args] + ["--batch-sizes", "8", "--seeds", "1", "--peers", ""]
    out = (tmp_path / "out").resolve()
    assert main(args) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    done = subprocess.run([sys.executable, "-m", "tracker.evaluation.otb_ope", *args, "--fresh"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, preexec_fn=small_disk)
    errors = [line for line in done.stderr.splitlines() if line.startswith(("error:", "Traceback"))]
    assert done.returncode == 2 and len(errors) == 1 and errors[0].startswith("error: cannot write"), done.stderr
    assert leftovers(out) == [] and whole(out, before) == []


@pytest.mark.slow
def test_a_broken_sequence_fails_its_runs_alone_and_a_rerun_retries_only_those(tiny, capsys):
    tmp_path, args = tiny
    args = [a if a != "bp,bdfa" else "bp" for a in args] + ["--batch-sizes", "8", "--seeds", "1", "--peers", "mil"]
    frame = tmp_path / "otb" / "SynB" / "img" / "0003.jpg"
    intact = frame.read_bytes()
    frame.write_bytes(b"not a jpeg")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "2 run(s) failed" in err
    out = tmp_path / "out"
    report = (out / "report.md").read_text()
    assert "## Failed runs" in report and "| bp-b8-s0/SynB | unreadable frame" in report
    assert "| OpenCV-MIL-s0/SynB | unreadable frame" in report
    assert has_result(out / "results", "bp-b8-s0", "SynA") and has_result(out / "results", "OpenCV-MIL-s0", "SynA")
    assert json.loads((out / "failed_runs.json").read_text()).keys() == {"bp-b8-s0/SynB", "OpenCV-MIL-s0/SynB"}
    frame.write_bytes(intact)
    assert main(args) == 0
    assert "4 runs, 2 already finished, 2 to do" in capsys.readouterr().err
    assert json.loads((out / "failed_runs.json").read_text()) == {}
    assert "## Failed runs" not in (out / "report.md").read_text()


@pytest.mark.slow
def test_peer_boxes_do_not_depend_on_the_sequences_run_before(tiny, capsys):
    """OpenCV's MIL draws from process-wide random state: each run reseeds it from the run's seed."""
    tmp_path, args = tiny
    base = [a if a != "bp,bdfa" else "bp" for a in args] + ["--batch-sizes", "8", "--seeds", "1", "--peers", "mil"]
    for order, out in (("SynA,SynB", "ab"), ("SynB,SynA", "ba")):
        run = [a if a != str(tmp_path / "out") else str(tmp_path / out) for a in base]
        assert main(run + ["--sequences", order, "--updaters", "bp"]) == 0
    for name in ("SynA", "SynB"):
        first = read_result(tmp_path / "ab" / "results", "OpenCV-MIL-s0", name)[0]
        np.testing.assert_array_equal(first, read_result(tmp_path / "ba" / "results", "OpenCV-MIL-s0", name)[0])


def test_resume_refuses_runs_made_with_another_backbone(tiny, backbone, capsys):
    tmp_path, args = tiny
    args = [a if a != "bp,bdfa" else "bp" for a in args] + ["--batch-sizes", "8", "--seeds", "1", "--peers", ""]
    assert main(args) == 0
    weights = tmp_path / "other.pt"
    save_weights(weights, backbone)
    other = [str(weights) if a == "none" else a for a in args]
    capsys.readouterr()
    assert main(other) == 2
    assert "other settings (backbone differ)" in capsys.readouterr().err
    assert main(other + ["--fresh"]) == 0


@pytest.mark.parametrize("change,message", [
    (["--otb", "{tmp}/empty"], "no OTB sequences found"),
    (["--updaters", "bp,sgd"], "unknown learning.updater 'sgd'"),
    (["--anchors", "NoSuchTracker"], "unknown anchor"),
    (["--batch-sizes", "16,2"], "at least 4"),
    (["--out", "/proc/forbidden"], "not writable"),
    (["--sequences", "Nope"], "not found"),
])
def test_bad_input_exits_2(tiny, capsys, change, message):
    tmp_path, args = tiny
    (tmp_path / "empty").mkdir()
    for i in range(0, len(change), 2):
        if change[i] in args:
            args[args.index(change[i]) + 1] = change[i + 1].format(tmp=tmp_path)
        else:
            args += [change[i], change[i + 1].format(tmp=tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


@pytest.mark.slow
def test_ray_executor_on_a_local_ray_instance(tiny, capsys):
    """Ray 2.60 dropped local_mode: a local single-machine Ray instance runs the same code path."""
    pytest.importorskip("ray")
    tmp_path, args = tiny
    args = [a if a != "bp,bdfa" else "bdfa" for a in args]
    assert main(args + ["--batch-sizes", "8", "--seeds", "1", "--peers", "", "--executor", "ray",
                        "--address", "local"]) == 0
    assert has_result(tmp_path / "out" / "results", "bdfa-b8-s0", "SynA")
    assert has_result(tmp_path / "out" / "results", "bdfa-b8-s0", "SynB")


def test_damaged_state_files_are_one_line_naming_the_file_and_the_way_back(tiny, capsys):
    from tracker.evaluation import paired

    tmp_path, args = tiny
    args = [a if a != "bp,bdfa" else "bp" for a in args] + ["--batch-sizes", "8", "--seeds", "1", "--peers", "",
                                                             "--anchors", ""]
    out = tmp_path / "out"
    assert main(args) == 0
    capsys.readouterr()
    good = {name: (out / name).read_bytes() for name in ("setup.json", "failed_runs.json", "results.json")}
    times = out / "results" / "bp-b8-s0" / "times" / "SynA_time.txt"
    assert times.is_file()

    def one_line(code: int, *fragments: str) -> None:
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert all(f in lines[0] for f in fragments), lines[0]

    cases = [("setup.json", good["setup.json"][:20], main, args, ("setup.json is damaged", "--fresh")),
             ("failed_runs.json", b"[1, 2, 3]", main, args, ("failed_runs.json is damaged", "delete it")),
             ("results.json", good["results.json"][:50], paired.main, ["--ope", str(out), "--reference", "bp"],
              ("results.json is damaged", "--report-only")),
             ("results.json", json.dumps({"settings": {"otb": "x"}}).encode(), paired.main,
              ["--ope", str(out), "--reference", "bp"], ("lack or garble sequences",))]
    for name, damage, command, argv, fragments in cases:
        (out / name).write_bytes(damage)
        one_line(command(argv), *fragments)
        assert (out / name).read_bytes() == damage  # named, never replaced
        (out / name).write_bytes(good[name])
    kept = times.read_bytes()
    times.write_text("twelve\nseconds\n")
    one_line(main(args + ["--report-only"]), "damaged result file", "SynA_time.txt", "delete it")
    times.unlink()  # what the message says to do: the run is redone on resume
    assert main(args) == 0 and len(times.read_bytes()) == len(kept)


@pytest.mark.parametrize("argv, fragment", [
    (["--seeds", "100000000"], "--seeds must be at most 1000, got 100000000"),
])
def test_absurd_sweep_sizes_are_refused_up_front(tiny, capsys, argv, fragment):
    _, args = tiny
    assert main(args + argv) == 2
    assert fragment in capsys.readouterr().err


def test_paired_refuses_zero_resamples_and_a_sweep_with_nothing_finished(tiny, capsys):
    from tracker.evaluation import paired

    tmp_path, args = tiny
    args = args + ["--batch-sizes", "8", "--seeds", "1", "--peers", "", "--anchors", ""]
    assert main(args) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    assert paired.main(["--ope", str(out), "--resamples", "0"]) == 2
    assert "--resamples must be in 1 .. 1000000, got 0" in capsys.readouterr().err
    for run in (out / "results").iterdir():
        shutil.rmtree(run)
    assert paired.main(["--ope", str(out)]) == 2
    assert "nothing to compare yet" in capsys.readouterr().err
