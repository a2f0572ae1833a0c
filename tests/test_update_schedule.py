"""The update schedule: how many learning steps a frame runs, and that a lost stretch stays within budget."""

import numpy as np
import pytest
import torch

from tracker.build import build_tracker
from tracker.config import TrackerConfig
from tracker.data.synthetic import synthetic_sequence
from tracker.evaluation.latency import latency_report
from tracker.update_schedule import SampleSet, UpdateJob, UpdateScheduler


def job(iterations: int) -> UpdateJob:
    empty = SampleSet([])
    return UpdateJob(empty, empty, torch.zeros(0), torch.zeros(0), iterations, 0.001)


def test_sample_set_reads_rows_as_if_concatenated():
    chunks = [torch.randn(n, 3, generator=torch.Generator().manual_seed(n)) for n in (4, 0, 2, 5)]
    index = torch.tensor([10, 0, 5, 4, 3, 6, 10, 1])
    assert torch.equal(SampleSet(chunks)[index], torch.cat(chunks)[index])
    assert len(SampleSet(chunks)) == 11


def counting(scheduler: UpdateScheduler, frames: int) -> list[int]:
    return [scheduler.run(lambda _job, _it: None) for _ in range(frames)]


def test_steps_schedule_spreads_a_job_over_frames():
    scheduler = UpdateScheduler("steps", 2)
    scheduler.request(job(5))
    assert counting(scheduler, 4) == [2, 2, 1, 0]


def test_full_schedule_runs_a_job_at_once():
    scheduler = UpdateScheduler("full", 2)
    scheduler.request(job(15))
    assert counting(scheduler, 2) == [15, 0]


def test_a_newer_request_replaces_what_is_left():
    scheduler = UpdateScheduler("steps", 3)
    first, second = job(15), job(4)
    scheduler.request(first)
    scheduler.run(lambda _job, _it: None)
    scheduler.request(second)
    ran: list[UpdateJob] = []
    scheduler.run(lambda j, _it: ran.append(j))
    scheduler.run(lambda j, _it: ran.append(j))
    assert first.done == 3 and ran == [second] * 4 and second.remaining == 0 and scheduler.pending is None


def test_taking_a_share_counts_the_same_steps_as_running_it():
    for schedule, per_frame, first_share in (("steps", 2, 0), ("full", 2, 0), ("steps", 2, 5), ("steps", 2, 3)):
        ran, taken = UpdateScheduler(schedule, per_frame), UpdateScheduler(schedule, per_frame)
        a, b = job(5), job(5)
        a.first_share = b.first_share = first_share
        ran.request(a)
        taken.request(b)
        for _ in range(4):
            seen: list[int] = []
            ran.run(lambda _job, it, seen=seen: seen.append(it))
            share = taken.take()
            assert seen == ([] if share is None else list(share[1]))
        assert taken.pending is None


def test_config_refuses_an_unknown_schedule():
    from tracker.config import load_config
    from tracker.errors import TrackerError

    with pytest.raises(TrackerError, match="update_schedule"):
        load_config(updates={"update_schedule": "sometimes"})


@pytest.fixture(scope="module")
def vanishing():
    """The target leaves the picture for 30 frames in the middle."""
    return synthetic_sequence(n_frames=45, size=(240, 180), absent=(10, 40))


def track(config: TrackerConfig, sequence) -> tuple[np.ndarray, list]:
    tracker = build_tracker(config)
    tracker.init(sequence.frames[0], sequence.ground_truth[0])
    results = [tracker.track_frame(frame) for frame in sequence.frames[1:]]
    return np.array([r.box for r in results]), results


@pytest.mark.slow
def test_lost_stretch_keeps_the_step_budget(vanishing, fast_config):
    config = fast_config.replace(updates={"update_schedule": "steps", "update_steps_per_frame": 2,
                                          "maxiter_update": 6, "update_first_lost_steps": 0})
    boxes, results = track(config, vanishing)
    lost = np.array([r.lost for r in results])
    assert lost[9:39].mean() > 0.5  # the tracker knows the target is gone
    assert max(r.learning_steps for r in results) == 2  # learning ran, never more than the budget
    full = track(config.replace(updates={"update_schedule": "full"}), vanishing)[1]
    assert max(r.learning_steps for r in full) == 6  # MDNet's: a whole update inside one frame
    again, _ = track(config, vanishing)
    np.testing.assert_array_equal(boxes, again)  # same seed, same boxes


def test_latency_report_splits_tracked_and_lost_frames():
    seconds = np.array([0.5, 0.01, 0.02, 0.2, 0.03])
    lost = np.array([False, False, False, True, False])
    report = latency_report(seconds, lost, budget_ms=40.0)
    assert report["first_frame_ms"] == pytest.approx(500)
    assert report["all"]["frames"] == 4 and report["all"]["max_ms"] == pytest.approx(200)
    assert report["all"]["over_budget"] == pytest.approx(0.25)
    assert report["tracked"]["frames"] == 3 and report["tracked"]["over_budget"] == 0
    assert report["lost"]["median_ms"] == pytest.approx(200)
    assert latency_report(seconds[:1], lost[:1], 40.0)["lost"]["p95_ms"] is None


def test_a_job_runs_its_first_share_at_once_and_the_rest_at_the_schedule_s_rate():
    for first_share, expected in ((15, [15, 0]), (99, [15, 0]), (5, [5, 2, 2, 2, 2, 2, 0]), (1, [2] * 7 + [1, 0])):
        scheduler = UpdateScheduler("steps", 2)
        first = job(15)
        first.first_share = first_share
        scheduler.request(first)
        assert counting(scheduler, len(expected)) == expected, first_share


@pytest.mark.slow
def test_first_lost_frame_updates_in_full_the_rest_spread(vanishing, fast_config):
    config = fast_config.replace(updates={"update_schedule": "steps", "update_steps_per_frame": 1,
                                          "maxiter_update": 6, "update_first_lost_steps": 6})
    results = track(config, vanishing)[1]
    lost = [r.score <= config.candidates.success_threshold for r in results]  # MDNet's decision: what asks for updates
    first_lost = [i for i, flag in enumerate(lost) if flag and (i == 0 or not lost[i - 1])]
    assert first_lost and all(results[i].learning_steps == 6 for i in first_lost)
    assert all(r.learning_steps <= 1 for i, r in enumerate(results) if i not in first_lost)

