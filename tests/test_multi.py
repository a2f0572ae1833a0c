"""Several targets at once (tracker/multi.py): each its own classifier, one trunk pass where they share it."""

import numpy as np
import pytest
import torch

from tracker.boxes import iou
from tracker.build import build_multi_tracker, build_tracker
from tracker.data.synthetic import crossing_targets, synthetic_sequence
from tracker.errors import TrackerError
from tracker.limits import MAX_TARGETS
from tracker.multi import share_groups


def rows(results):
    return [(r.box.tolist(), r.score, r.lost) for r in results]


def test_one_target_through_the_multi_target_path_gives_the_single_trackers_boxes(fast_config):
    sequence = synthetic_sequence(n_frames=12)
    single = build_tracker(fast_config, warn=False)
    single.init(sequence.frames[0], sequence.ground_truth[0])
    multi = build_multi_tracker(fast_config, warn=False)
    assert multi.init(sequence.frames[0], [sequence.ground_truth[0]]) == [1]
    alone = [single.track_frame(frame) for frame in sequence.frames[1:]]
    together = [multi.update(frame)[1] for frame in sequence.frames[1:]]
    assert rows(alone) == rows(together)


def crossing(config, n_frames=30):
    first, second = crossing_targets(n_frames=n_frames)
    tracker = build_multi_tracker(config, warn=False)
    assert tracker.init(first.frames[0], [first.ground_truth[0], second.ground_truth[0]]) == [1, 2]
    results = [tracker.update(frame) for frame in first.frames[1:]]
    return tracker, [[iou(r[k].box[None], seq.ground_truth[t + 1][None])[0] for t, r in enumerate(results)]
                     for k, seq in ((1, first), (2, second))], results


def test_two_crossing_targets_keep_their_ids_and_the_same_seed_gives_the_same_boxes(fast_config):
    """The second target passes in front of the first half-way: after the crossing each id is still on its own
    target, never on the other's."""
    torch.set_num_threads(1)
    tracker, overlaps, results = crossing(fast_config)
    first, second = crossing_targets(n_frames=30)
    after = slice(20, None)  # well past the crossing
    assert np.mean(overlaps[0][after]) > 0.6 and np.mean(overlaps[1][after]) > 0.6, overlaps
    swapped = [iou(r[1].box[None], second.ground_truth[t + 1][None])[0] for t, r in enumerate(results)]
    assert np.mean(swapped[after]) < 0.1
    _, _, again = crossing(fast_config)
    assert [rows(r.values()) for r in results] == [rows(r.values()) for r in again]
    torch.set_num_threads(2)


def test_the_other_target_is_learnt_as_a_negative(fast_config, monkeypatch):
    """With negatives_per_other, a target's negatives (first frame and tracked frames) include boxes on the other
    target; without, none is drawn there."""
    from tracker import mdnet

    first, second = crossing_targets(n_frames=6)
    real, drawn = mdnet.negatives_about, []
    monkeypatch.setattr(mdnet, "negatives_about", lambda *args: drawn.append(real(*args)) or drawn[-1])
    for n in (0, 20):
        drawn.clear()
        config = fast_config.replace(samples={"negatives_per_other": n},
                                     candidates={"success_threshold": -1e6})  # every frame tracked: it collects
        tracker = build_multi_tracker(config, warn=False)
        tracker.init(first.frames[0], [first.ground_truth[0], second.ground_truth[0]])
        on_first_frame = len(drawn[0])
        for frame in first.frames[1:]:
            tracker.update(frame)
        if not n:
            assert sum(len(d) for d in drawn) == 0
            continue
        assert on_first_frame > 5 * n and len(drawn) == 2 + 2 * 5  # each target's first frame; then each frame
        # target 1's first-frame negatives about target 2's box: on it, as positives are on their own target
        assert np.all(iou(drawn[0], second.ground_truth[0][None]) >= fast_config.samples.overlap_pos_update)


def test_targets_are_added_and_removed_mid_sequence(fast_config):
    sequence = synthetic_sequence(n_frames=8)
    tracker = build_multi_tracker(fast_config, warn=False)
    first = tracker.init(sequence.frames[0], [sequence.ground_truth[0]])[0]
    tracker.update(sequence.frames[1])
    added = tracker.add(sequence.frames[1], np.array([200.0, 20.0, 40.0, 40.0]))
    assert (first, added) == (1, 2) and tracker.ids == [1, 2]
    assert set(tracker.update(sequence.frames[2])) == {1, 2}
    tracker.remove(1)
    assert set(tracker.update(sequence.frames[3])) == {2}
    assert tracker.add(sequence.frames[3], sequence.ground_truth[3]) == 3  # ids are never reused
    with pytest.raises(TrackerError, match="no target 1 to remove"):
        tracker.remove(1)
    tracker.remove(2)
    tracker.remove(3)
    with pytest.raises(TrackerError, match="with no target"):
        tracker.update(sequence.frames[4])


@pytest.mark.parametrize("boxes, message", [
    ([[10, 10, 40, 40], [12, 11, 40, 40]], "the same target twice"),
    ([[10, 10, 40, 40], [400, 10, 40, 40]], "outside"),
    ([[10 + 15 * k, 10, 12, 12] for k in range(MAX_TARGETS + 1)], f"at most {MAX_TARGETS}"),
    ([], "one or more boxes"),
])
def test_bad_target_boxes_are_refused_in_one_line(fast_config, boxes, message):
    sequence = synthetic_sequence(n_frames=1)
    tracker = build_multi_tracker(fast_config, warn=False)
    with pytest.raises(TrackerError, match=message):
        tracker.init(sequence.frames[0], boxes)


def test_targets_share_a_map_only_at_about_one_size_and_where_it_costs_no_more():
    def search(x, size):
        box = np.array([x, 50.0, size, size])
        return box, box + np.array([[dx, 0.0, 0.0, 0.0] for dx in (-10, 0, 10)])

    near = {1: search(100, 40), 2: search(130, 44)}
    assert share_groups(near, 107, 16) == [[1, 2]]
    assert share_groups({1: search(100, 40), 2: search(130, 80)}, 107, 16) == [[1], [2]]  # another size
    assert share_groups({1: search(100, 40), 2: search(900, 40)}, 107, 16) == [[1], [2]]  # far apart


def two_target_folder(folder, n_frames=6):
    """An OTB folder holding the crossing targets' frames and one ground-truth file per target."""
    import cv2

    first, second = crossing_targets(n_frames=n_frames)
    (folder / "img").mkdir(parents=True)
    for i, frame in enumerate(first.frames, 1):
        cv2.imwrite(str(folder / "img" / f"{i:04d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    for k, sequence in enumerate((first, second), 1):
        (folder / f"groundtruth_rect.{k}.txt").write_text(
            "\n".join(",".join(str(int(v)) for v in box) for box in sequence.ground_truth) + "\n")
    return folder


@pytest.mark.slow
def test_the_command_line_tracks_every_target_of_a_folder_and_writes_each(tmp_path, fast_yaml):
    """--targets all: both targets in one run, one boxes file each, one CSV row per frame and target, each
    target scored against its own ground truth; --init twice tracks the same two."""
    import json

    from tracker.cli import main

    folder = two_target_folder(tmp_path / "Cross")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["--video", str(folder), "--targets", "all", "--config", fast_yaml, "--weights", "none", "--quiet",
                 "--output", str(out / "boxes.txt"), "--output-csv", str(out / "rows.csv"),
                 "--summary-json", str(out / "s.json"), "--save", str(out / "v.mp4")]) == 0
    rows = [line.split(",") for line in (out / "rows.csv").read_text().splitlines()]
    assert rows[0] == ["frame", "target", "x", "y", "w", "h", "score", "lost"]
    assert [(int(r[0]), int(r[1])) for r in rows[1:]] == [(f, t) for f in range(1, 7) for t in (1, 2)]
    for target in (1, 2):
        lines = (out / f"boxes.{target}.txt").read_text().splitlines()
        assert lines == [",".join(r[2:6]) for r in rows[1:] if r[1] == str(target)]
    summary = json.loads((out / "s.json").read_text())
    assert summary["sequence"] == "Cross" and set(summary["targets"]) == {"1", "2"}
    assert all(0 <= summary["targets"][t]["success_auc"] <= 1 for t in ("1", "2"))
    assert (out / "v.mp4").stat().st_size > 0
    truth = [line for line in (folder / "groundtruth_rect.2.txt").read_text().splitlines()][0]
    first = (folder / "groundtruth_rect.1.txt").read_text().splitlines()[0]
    again = tmp_path / "again.csv"
    assert main(["--video", str(folder / "img"), "--init", first, "--init", truth, "--config", fast_yaml,
                 "--weights", "none", "--quiet", "--output-csv", str(again)]) == 0
    assert again.read_text() == (out / "rows.csv").read_text()  # the same targets, the same seed: the same rows


@pytest.mark.parametrize("args, message", [
    (["--targets", "all", "--weights", "none"], "has one target: --targets all is for a folder with several"),
    (["--init", "10,10,30,30", "--init", "11,10,30,30", "--weights", "none"], "the same target twice"),
    (["--init", "10,10,30,30", "--init", "60,10,30,30", "--tracker", "mil"], "several targets are tracked by ours"),
    (["--targets", "all", "--init", "10,10,30,30"], "drop --init"),
])
def test_bad_several_target_runs_are_one_error_line(otb_folder, capsys, args, message):
    from tracker.cli import main

    assert main(["--video", str(otb_folder), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err


def test_sequences_laid_side_by_side_keep_each_targets_box_on_it():
    """The benchmark's scenes: two sequences side by side, four in a 2x2 grid, each resized to one height; every
    target's box moves with its sequence and still frames the same pixels."""
    from tracker.evaluation.targets import laid_out

    first = synthetic_sequence(n_frames=5, size=(160, 120), seed=1)
    second = synthetic_sequence(n_frames=7, size=(320, 240), seed=2)
    pair = laid_out([first, second], 120, 10)
    assert len(pair) == 2 and pair[0].frames[0].shape == (120, 320, 3) and len(pair[0].frames) == 5
    x, y, w, h = pair[1].ground_truth[0].round().astype(int)
    expected = second.ground_truth[0] / 2  # halved to 120 pixels high, in the right half
    np.testing.assert_allclose(pair[1].ground_truth[0], expected + [160, 0, 0, 0])
    assert pair[0].frames[0][y:y + h, x:x + w].std() > 0  # its pixels are there, not the black filling
    quad = laid_out([first, second, first, second], 60, 3)
    assert quad[0].frames[0].shape == (120, 160, 3)  # 2x2 cells of 80x60
    np.testing.assert_allclose(quad[3].ground_truth[0], second.ground_truth[0] / 4 + [80, 60, 0, 0])


@pytest.mark.slow
def test_the_targets_benchmark_reports_each_scene_and_resumes(tmp_path, fast_yaml, capsys):
    import json

    from tests.conftest import write_otb
    from tracker.evaluation import targets

    otb = tmp_path / "otb"
    write_otb(otb / "SynA", n_frames=5)
    write_otb(otb / "SynB", n_frames=5, size=(200, 150))
    two_target_folder(otb / "Cross", n_frames=5)
    args = ["--otb", str(otb), "--folders", "Cross", "--pairs", "SynA+SynB", "--quads", "", "--seeds", "2",
            "--config", fast_yaml, "--out", str(tmp_path / "out")]
    assert targets.main(args) == 0
    report = json.loads((tmp_path / "out" / "targets.json").read_text())
    assert set(report["scenes"]) == {"Cross", "SynA+SynB"}
    for scene in report["scenes"].values():
        assert len(scene["seeds"]) == 2 and scene["cost_ratio"] > 0 and scene["cost_bound"] == 1.6
        assert all(0 <= auc <= 1 for s in scene["seeds"].values() for auc in s["together_auc"] + s["alone_auc"])
    saved = sorted((tmp_path / "out" / "runs").rglob("*.json"))
    assert len(saved) == 2 * 2 * 3  # scenes x seeds x (together, alone1, alone2)
    stamps = [path.stat().st_mtime_ns for path in saved]
    assert targets.main(args) == 0  # resumed: nothing tracked again
    assert [path.stat().st_mtime_ns for path in saved] == stamps
    assert "| Cross | 2 |" in capsys.readouterr().out


def test_two_trackers_in_two_threads_give_the_boxes_they_give_alone(fast_config):
    """Nothing a tracker computes with is shared between instances (torch's thread count is per thread)."""
    import threading

    first, second = crossing_targets(n_frames=10)

    def boxes(sequence, seed, out=None):
        tracker = build_tracker(fast_config.replace(seed=seed), warn=False)
        tracker.init(sequence.frames[0], sequence.ground_truth[0])
        result = [tracker.track_frame(frame).box.tolist() for frame in sequence.frames[1:]]
        if out is not None:
            out.append(result)
        return result

    alone = [boxes(first, 1), boxes(second, 2)]
    together: list[list] = [[], []]
    threads = [threading.Thread(target=boxes, args=(seq, seed, together[k]))
               for k, (seq, seed) in enumerate(((first, 1), (second, 2)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [t[0] for t in together] == alone
