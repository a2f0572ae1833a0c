"""The whole-frame search beside the tracker (tracker/search_runner.py): where it runs, where its find lands."""

import threading

import numpy as np
import pytest
import torch

from tracker.boxes import iou
from tracker.build import build_tracker
from tracker.config import TrackerConfig
from tracker.data.synthetic import synthetic_sequence
from tracker.search_runner import SearchRunner

# the target away for frames 30-59, back elsewhere (tests/test_tracking.py): searches run, and one finds it
AWAY = {"redetection": {"redetect_threshold": 1.5, "redetect_ratio": 0.0, "redetect_head_min": 0.0},
        "learning": {"learning_dtype": "float32"}, "lost_flag": {"lost_head_agreement": 0.0}}


def run(runner: str, delay: int = 4, frames: int = 100):
    sequence = synthetic_sequence(n_frames=frames, absent=(30, 60), seed=1)
    config = TrackerConfig().replace(**AWAY)
    config = config.replace(redetection={"redetect_runner": runner, "redetect_delay": delay})
    tracker = build_tracker(config, warn=False)
    tracker.init(sequence.frames[0], sequence.ground_truth[0])
    threads = torch.get_num_threads()
    results = []
    for frame in sequence.frames[1:]:
        results.append(tracker.track_frame(frame))
        assert torch.get_num_threads() == threads  # nothing outside the tracker's calls sees it changed
    searches = list(tracker.state.redetector.searches)
    tracker.close()
    return results, searches


@pytest.mark.slow
def test_the_thread_and_sequential_runners_give_the_same_boxes_and_land_delay_frames_later():
    thread, thread_searches = run("thread")
    sequential, sequential_searches = run("sequential")
    assert [(r.box.tolist(), r.score, r.lost) for r in thread] == [(r.box.tolist(), r.score, r.lost)
                                                                     for r in sequential]
    assert [s.frame for s in thread_searches] == [s.frame for s in sequential_searches]
    inline, inline_searches = run("inline")
    # each search starts where the inline one runs (every 5th frame flagged lost in a row) and lands 4 later
    assert [s.frame for s in thread_searches] == [s.frame + 4 for s in inline_searches]
    truth = synthetic_sequence(n_frames=100, absent=(30, 60), seed=1).ground_truth

    def found(results):
        return next(t for t, r in enumerate(results, 1) if t >= 60 and iou(r.box[None], truth[t][None])[0] >= 0.5)

    assert found(thread) == found(inline) + 4 <= 60 + 10  # the same search finds it, 4 frames later


def test_a_runner_lands_each_search_delay_frames_later_one_at_a_time():
    for kind in ("thread", "sequential"):
        runner: SearchRunner[int] = SearchRunner(kind, 3)
        ran = []
        runner.start(10, lambda ran=ran: ran.append(threading.current_thread().name) or 7)
        assert runner.busy
        assert [runner.landed(frame) for frame in (11, 12)] == [None, None]
        assert runner.landed(13) == 7 and not runner.busy and runner.landed(14) is None
        assert ran[0].startswith("search") == (kind == "thread")  # on the worker, or in the caller's thread
        runner.start(20, lambda: 8)
        runner.drop()
        assert not runner.busy and runner.landed(23) is None
        runner.close()


def test_a_search_runs_single_threaded_and_so_do_the_frames_while_it_is_out():
    runner: SearchRunner[int] = SearchRunner("thread", 2)
    threads = torch.get_num_threads()
    seen = []
    with runner.frame():
        seen.append(torch.get_num_threads())
    runner.start(1, lambda: torch.get_num_threads())
    with runner.frame():
        seen.append(torch.get_num_threads())
    with runner.frame():
        seen.append(runner.landed(3))
    assert seen == [threads, 1, 1] and torch.get_num_threads() == threads
    runner.close()


def test_a_runner_refuses_an_unknown_kind_or_no_delay():
    with pytest.raises(ValueError):
        SearchRunner("inline", 1)
    with pytest.raises(ValueError):
        SearchRunner("thread", 0)


def test_config_refuses_a_bad_runner_or_delay():
    from tracker.config import load_config
    from tracker.errors import TrackerError

    with pytest.raises(TrackerError, match="redetect_runner"):
        load_config(redetection={"redetect_runner": "async"})
    with pytest.raises(TrackerError, match="redetect_delay"):
        load_config(redetection={"redetect_delay": 0})


def test_a_new_sequence_and_close_stop_a_search_that_is_out():
    sequence = synthetic_sequence(n_frames=3)
    tracker = build_tracker(TrackerConfig().replace(redetection={"redetect_runner": "thread"}), warn=False)
    tracker.init(sequence.frames[0], sequence.ground_truth[0])
    redetector = tracker.state.redetector
    redetector.runner.start(1, lambda: None)
    tracker.init(sequence.frames[0], sequence.ground_truth[0])  # the old sequence's search is finished, dropped
    assert not redetector.runner.busy and redetector.runner._worker is None
    tracker.close()
    assert not any(t.name.startswith("search") for t in threading.enumerate())
    np.testing.assert_array_equal(tracker.state.target, sequence.ground_truth[0])
