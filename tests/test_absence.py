"""The lost-and-found benchmark: splices, its scores computed by hand, and a tiny run end to end."""

import json

import numpy as np
import pytest
import yaml

from tests.conftest import FAST, write_otb
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
    row = score_splice(boxes, scores, lost, truth, back=5, recover_within=1)
    # on target: frames 1, 2, 6, 7 (frame 0 is the given box); flagged lost on frame 2 only
    assert row["absent_flagged_lost"] == 0.5 and row["tracked_flagged_lost"] == 0.25
    assert row["frames_to_recover"] == 1 and row["recovered"]


def test_the_benchmark_runs_ours_on_tiny_splices_and_resumes(tmp_path, capsys):
    for name in ("SynA", "SynB"):
        write_otb(tmp_path / "otb" / name, n_frames=24)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump({**FAST, "backbone_channels": [16, 32, 32]}))
    args = ["--otb", str(tmp_path / "otb"), "--absent", "6", "--peers", "", "--weights", "none",
            "--config", str(config), "--out", str(tmp_path / "out")]
    assert main(args) == 0
    data = json.loads((tmp_path / "out" / "absence.json").read_text())
    assert set(data["results"]["ours-s0"]) == {"SynA+SynB", "SynB+SynA"}
    assert "| ours-s0 | 2 |" in capsys.readouterr().out
    run = tmp_path / "out" / "runs" / "ours-s0" / "SynA+SynB.json"
    before = run.stat().st_mtime_ns
    assert main(args) == 0 and run.stat().st_mtime_ns == before  # finished runs are kept


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
