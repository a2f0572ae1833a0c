"""The lost-and-found benchmark: splices, its scores computed by hand, and a tiny run end to end."""

import json

import numpy as np
import pytest
import yaml

from tests.conftest import NARROW, write_otb
from tracker.data.sequence import ArraySequence
from tracker.evaluation.absence import lt_f_score, main, score_splice, splice


def toy(name, n, value, size=(64, 48)):
    frames = [np.full((size[1], size[0], 3), value, np.uint8) for _ in range(n)]
    return ArraySequence(name, frames, np.tile([10.0, 10.0, 20.0, 20.0], (n, 1)) + np.arange(n)[:, None])


def test_a_splice_is_the_target_then_another_scene_resized_then_the_target_resumed_later():
    spliced, away, back = splice(toy("A", 60, 10), toy("B", 40, 200, size=(32, 24)), absent=10)
    assert (away, back) == (20, 30)
    frames = list(spliced)
    assert len(frames) == 20 + 10 + (60 - 30)
    assert all(f.shape == (48, 64, 3) for f in frames)  # the filler resized to the target's frames
    assert frames[19][0, 0, 0] == 10 and frames[20][0, 0, 0] == 200 and frames[30][0, 0, 0] == 10
    truth = spliced.ground_truth
    assert np.isnan(truth[20:30]).all() and truth[30, 0] == 10 + 30  # resumed 10 frames after the cut
    assert splice(toy("A", 20, 10), toy("B", 40, 200), absent=10) is None  # too short to come back


def test_the_long_term_f_score_by_hand():
    overlaps = np.array([0.8, 0.6, 0.0, 0.0])
    present = np.array([True, True, False, False])
    # reporting the target only where it is: precision 0.7, recall 0.7
    assert lt_f_score(overlaps, np.array([1.0, 1.0, -np.inf, -np.inf]), present) == pytest.approx(0.7)
    # reporting it everywhere at one confidence: precision 0.35, recall 0.7
    assert lt_f_score(overlaps, np.ones(4), present) == pytest.approx(2 * 0.35 * 0.7 / 1.05)


def test_a_splice_is_scored_on_absent_tracked_and_returning_frames():
    truth = np.array([[0, 0, 10, 10]] * 3 + [[np.nan] * 4] * 2 + [[50, 50, 10, 10]] * 3, float)
    boxes = np.array([[0, 0, 10, 10]] * 5 + [[0, 0, 10, 10], [50, 50, 10, 10], [50, 50, 10, 10]], float)
    lost = np.array([0, 0, 1, 1, 0, 1, 0, 0], bool)
    scores = np.array([np.nan, 3, -1, -2, 1, -1, 2, 4])
    row = score_splice(boxes, scores, lost, truth, recover_within=1)
    # on target: frames 1, 2, 6, 7 (frame 0 is the given box); flagged lost on frame 2 only
    assert row["absent_flagged_lost"] == 0.5 and row["tracked_flagged_lost"] == 0.25
    assert row["returns"] == 1 and row["frames_to_recover"] == 1 and row["recovered"] == 1.0
    assert score_splice(boxes, scores, lost, truth, recover_within=0)["recovered"] == 0.0
    assert row["frames"]["lost"] == [False, True, True, False, True, False, False]


def test_a_splices_searches_are_kept_with_their_overlap_with_the_truth():
    from tracker.lost_and_found import Search

    truth = np.array([[0, 0, 10, 10]] * 3 + [[np.nan] * 4] * 2 + [[50, 50, 10, 10]] * 3, float)
    searches = [Search(3, np.array([0.0, 0, 10, 10]), 2.5, 0.1, 0.8),
                Search(6, np.array([55.0, 50, 10, 10]), 4.0, 0.9, 0.8)]
    row = score_splice(truth[[0] * 8], np.zeros(8), np.ones(8, bool), truth, 5, searches)
    assert row["searches"] == [
        {"frame": 3, "score": 2.5, "box": [0.0, 0.0, 10.0, 10.0], "overlap": 0.0, "hit": False, "likeness": 0.1,
         "typical_likeness": 0.8},
        {"frame": 6, "score": 4.0, "box": [55.0, 50.0, 10.0, 10.0], "overlap": 0.3333, "hit": True, "likeness": 0.9,
         "typical_likeness": 0.8}]


def test_every_return_of_a_labelled_sequence_counts():
    gone = [np.nan] * 4
    truth = np.array([[0, 0, 10, 10], gone, [0, 0, 10, 10], [0, 0, 10, 10], gone, gone, [50, 50, 10, 10],
                      [50, 50, 10, 10]], float)
    boxes = np.array([[0, 0, 10, 10]] * 8, float)
    row = score_splice(boxes, np.zeros(8), np.zeros(8, bool), truth, recover_within=5)
    # back at frame 2 (found at once) and at frame 6 (never found before the sequence ends)
    assert row["returns"] == 2 and row["recovered"] == 0.5 and row["frames_to_recover"] == 0
    always = score_splice(boxes, np.zeros(8), np.zeros(8, bool), np.tile([0.0, 0, 10, 10], (8, 1)), 5)
    assert always["returns"] == 0 and always["recovered"] is None and always["absent_flagged_lost"] is None


def test_the_benchmark_reads_absence_from_a_benchmark_that_labels_it(tmp_path, capsys):
    from tests.test_datasets import got10k_folder

    got10k_folder(tmp_path / "val", cover=[8, 8, 0, 0, 8, 8, 8, 8])
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
    out = tmp_path / "out"
    assert main(["--dataset", "got10k", "--root", str(tmp_path / "val"), "--peers", "", "--weights", "none",
                 "--config", str(config), "--out", str(out)]) == 0
    row = json.loads((out / "absence.json").read_text())["results"]["ours-s0"]["GOT-10k_Val_000001"]
    frames = json.loads((out / "runs" / "ours-s0" / "GOT-10k_Val_000001.json").read_text())["frames"]
    assert row["returns"] == 1 and frames["present"] == [True, False, False, True, True, True, True]
    assert set(row) == {"absent_flagged_lost", "tracked_flagged_lost", "returns", "frames_to_recover", "recovered",
                        "f_score", "searches"}  # the summary: per-frame records stay in the run's own file
    assert "| tracker | sequences |" in capsys.readouterr().out
    assert main(["--dataset", "lasot", "--out", str(out)]) == 2
    assert "reads its sequences from --root" in capsys.readouterr().err


def test_the_benchmark_runs_ours_on_tiny_splices_and_resumes(tmp_path, capsys):
    for name in ("SynA", "SynB"):
        write_otb(tmp_path / "otb" / name, n_frames=24)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(NARROW))
    args = ["--otb", str(tmp_path / "otb"), "--absent", "6", "--peers", "", "--weights", "none",
            "--config", str(config), "--out", str(tmp_path / "out")]
    assert main(args) == 0
    data = json.loads((tmp_path / "out" / "absence.json").read_text())
    assert set(data["results"]["ours-s0"]) == {"SynA+SynB", "SynB+SynA"}
    assert "| ours-s0 | 2 |" in capsys.readouterr().out
    run = tmp_path / "out" / "runs" / "ours-s0" / "SynA+SynB.json"
    before = run.stat().st_mtime_ns
    assert main(args) == 0 and run.stat().st_mtime_ns == before  # finished runs are kept
    capsys.readouterr()
    # runs of a 6-frame absence are not scored as a 4-frame one: one line, nothing rerun or rewritten
    assert main([*args[:3], "4", *args[4:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0] and "absent" in err[0] and run.stat().st_mtime_ns == before
    # a damaged record is one line naming it; --fresh runs everything again
    record = json.loads(run.read_text())
    run.write_text(json.dumps({**record, "f_score": "high"}))
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert len(err) == 1 and str(run) in err[0] and "damaged" in err[0] and "f_score" in err[0]
    assert main([*args, "--fresh"]) == 0 and json.loads(run.read_text())["f_score"] == record["f_score"]


def test_sequences_all_too_short_to_splice_are_one_error_line(tmp_path, capsys):
    for name in ("SynA", "SynB"):
        write_otb(tmp_path / "otb" / name, n_frames=8)
    assert main(["--otb", str(tmp_path / "otb"), "--absent", "60", "--peers", "", "--weights", "none",
                 "--out", str(tmp_path / "out")]) == 2
    err = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "no sequence is long enough" in err[0]
    assert not (tmp_path / "out" / "absence.json").exists()


def test_the_filler_comes_from_another_video():
    from tracker.evaluation.absence import filler_for

    sequences = [toy(name, 5, 0) for name in ("Jogging.1", "Jogging.2", "Toy")]
    assert [filler_for(sequences, i).name for i in range(3)] == ["Toy", "Toy", "Jogging.1"]


def test_the_scores_separation_is_the_roc_auc_by_hand():
    from tracker.evaluation.absence import separation

    entries = [{"tracked_scores": [3.0, 1.0], "wrong_scores": [2.0]}, {"tracked_scores": [4.0], "wrong_scores": [0.0]}]
    # pairs (tracked > wrong): 3>2, 3>0, 1>0, 4>2, 4>0; 1<2: 5 of 6
    assert separation(entries) == pytest.approx(5 / 6)
    assert separation([{"tracked_scores": [1.0], "wrong_scores": []}]) is None


def test_a_second_run_on_the_same_out_refuses_in_one_line_while_the_first_writes(tmp_path, capsys):
    from tracker.evaluation.harness import holding

    out = tmp_path / "out"
    with holding(out):  # another run, writing there
        assert main(["--otb", str(tmp_path), "--peers", "", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "being written by another run" in err[0]
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing of the first run's was touched
