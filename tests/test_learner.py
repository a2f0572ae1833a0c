"""The learner: which frame's weights score which frame, and the same boxes with or without a worker thread."""

import numpy as np
import pytest
import torch

from tracker.build import build_tracker
from tracker.config import TrackerConfig, load_config
from tracker.data.synthetic import synthetic_sequence
from tracker.errors import TrackerError
from tracker.evaluation.run import run_sequence
from tracker.head import Head
from tracker.learner import Learner


def stamp(head: Head, value: float):
    """A 'learning step' that leaves every weight equal to ``value``: what is live tells which frame it came from."""
    def steps() -> None:
        with torch.no_grad():
            for p in head.parameters():
                p.fill_(value)
    return steps


def live_value(learner: Learner) -> float:
    return float(learner.scoring_head.fc4.weight[0, 0].detach())


@pytest.mark.parametrize("kind", ["sequential", "thread"])
@pytest.mark.parametrize("delay", [1, 3])
def test_a_frames_weights_score_from_delay_frames_later(kind, delay):
    head = Head(4, 3)
    learner = Learner(kind, delay, head)
    learner.start_sequence()
    stamp(head, -1.0)()
    learner.go_live_now()
    live = []
    for frame in range(1, 10):
        # frame 4 runs no steps: the weights live after it stay those of frame 3
        learner.end_frame(None if frame == 4 else stamp(head, float(frame)))
        live.append(live_value(learner))
    learner.close()
    expected = [-1.0 if f - delay < 1 else float(f - delay if f - delay != 4 else 3) for f in range(1, 10)]
    assert live == expected


def test_inline_learns_into_the_head_that_scores():
    head = Head(4, 3)
    learner = Learner("inline", 1, head)
    learner.start_sequence()
    learner.end_frame(stamp(head, 7.0))
    assert learner.scoring_head is head and live_value(learner) == 7.0


def test_a_delayed_learner_tracks_its_frames_on_one_thread_and_gives_the_count_back_after_each():
    torch.set_num_threads(2)
    for kind in ("thread", "sequential"):
        learner = Learner(kind, 1, Head(4, 3))
        learner.start_sequence()
        learner.go_live_now()
        assert torch.get_num_threads() == 2  # the first frame, and anything outside the tracker's frames
        seen = []
        with learner.frame():
            seen.append(torch.get_num_threads())
            learner.end_frame(lambda seen=seen: seen.append(torch.get_num_threads()))  # the steps, wherever they run
            learner.wait_all()
        assert seen == [1, 1] and torch.get_num_threads() == 2
    with Learner("inline", 1, Head(4, 3)).frame():
        assert torch.get_num_threads() == 2


def test_a_tracker_with_a_delayed_learner_left_unclosed_leaves_torchs_thread_count_alone(fast_config):
    from tracker.build import build_tracker
    from tracker.data.synthetic import synthetic_sequence

    torch.set_num_threads(2)
    sequence = synthetic_sequence(n_frames=4)
    tracker = build_tracker(fast_config.replace(updates={"learner": "thread"}), warn=False)
    tracker.init(sequence.frames[0], sequence.ground_truth[0])
    for frame in sequence.frames[1:]:
        tracker.track_frame(frame)
        assert torch.get_num_threads() == 2


def test_a_failed_step_on_the_worker_is_raised_in_the_tracker():
    learner = Learner("thread", 1, Head(4, 3))
    learner.start_sequence()

    def broken() -> None:
        raise RuntimeError("step failed")

    learner.end_frame(broken)
    with pytest.raises(RuntimeError, match="step failed"):
        learner.end_frame(None)
    learner.close()


def boxes(config: TrackerConfig) -> np.ndarray:
    sequence = synthetic_sequence(n_frames=24, seed=3)
    return run_sequence(build_tracker(config, "none", warn=False), sequence).boxes


@pytest.mark.slow
def test_thread_and_sequential_give_the_same_boxes(fast_config):
    # steps spread over frames and long-term updates every 5th, so that several jobs overlap the tracking
    config = fast_config.replace(updates={"long_interval": 5, "maxiter_update": 6})
    threaded = boxes(config.replace(updates={"learner": "thread", "learner_delay": 2}))
    sequential = boxes(config.replace(updates={"learner": "sequential", "learner_delay": 2}))
    assert np.array_equal(threaded, sequential)
    # the delay is real: one frame less of it scores frames with newer weights
    assert not np.array_equal(boxes(config.replace(updates={"learner": "sequential", "learner_delay": 1})), sequential)


def test_config_bounds_the_learner():
    with pytest.raises(TrackerError, match="learner must be one of"):
        load_config(updates={"learner": "gpu"})
    with pytest.raises(TrackerError, match="learner_delay"):
        load_config(updates={"learner": "thread", "learner_delay": 0})
    with pytest.raises(TrackerError, match="learner_delay"):
        load_config(updates={"learner": "thread", "learner_delay": 10**6})
