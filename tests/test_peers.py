"""OpenCV's trackers as peers: each tracks, a missing model is a reason (not a traceback), --tracker runs them."""

import ctypes
import ctypes.util

import cv2
import numpy as np
import pytest

from tests.conftest import static_box_iou
from tracker.boxes import iou
from tracker.cli import main
from tracker.data.synthetic import synthetic_sequence
from tracker.evaluation.peers import DEFAULT_MODELS, PEERS, OpenCVTracker
from tracker.evaluation.run import run_sequence


def skip_unless_runs(key: str) -> None:
    reason = PEERS[key].unavailable(DEFAULT_MODELS)
    if reason is not None:
        pytest.skip(f"{PEERS[key].label}: {reason}")


@pytest.mark.parametrize("key", list(PEERS))
@pytest.mark.slow
def test_each_peer_tracks_the_synthetic_sequence(key):
    """A tracker that never moves from the first box stays far below 0.5 mean IoU here."""
    skip_unless_runs(key)
    sequence = synthetic_sequence()
    result = run_sequence(OpenCVTracker(key), sequence)
    assert result.boxes.shape == (len(sequence), 4) and len(result.seconds) == len(sequence)
    assert static_box_iou(sequence.ground_truth) < 0.25 < 0.5 < iou(result.boxes, sequence.ground_truth).mean()


def test_mil_boxes_depend_on_the_seed_only():
    """MIL draws from C's rand() and OpenCV's RNG, both process-wide: what ran before, or the thread count,
    must not move its boxes (it did, and failed CI once); another seed must."""
    sequence = synthetic_sequence(n_frames=20)
    first = run_sequence(OpenCVTracker("mil"), sequence).boxes
    threads = cv2.getNumThreads()
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).rand()  # what another library would do in between
        cv2.setRNGSeed(12345)
        cv2.setNumThreads(4)
        again = run_sequence(OpenCVTracker("mil"), sequence).boxes
    finally:
        cv2.setNumThreads(threads)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, run_sequence(OpenCVTracker("mil", seed=1), sequence).boxes)


def test_a_missing_or_broken_model_file_is_a_one_line_reason(tmp_path, monkeypatch):
    assert PEERS["nano"].unavailable(tmp_path) == (
        f"nanotrack_backbone_sim.onnx, nanotrack_head_sim.onnx not found in {tmp_path}")
    assert PEERS["mil"].unavailable(tmp_path) is None  # MIL needs no model
    from tracker.evaluation import peers

    monkeypatch.setattr(peers, "DEFAULT_MODELS", tmp_path)  # installed outside a checkout: say what to give
    assert PEERS["nano"].unavailable(tmp_path).endswith("(the default, beside a checkout): give --peer-models FOLDER")
    (tmp_path / "object_tracking_vittrack_2023sep.onnx").write_bytes(b"not an onnx file")
    reason = PEERS["vit"].unavailable(tmp_path)
    assert reason.startswith("OpenCV cannot load its model") and "\n" not in reason


def test_tracker_nano_writes_one_box_per_frame(tmp_path, capsys):
    skip_unless_runs("nano")
    out = tmp_path / "boxes.txt"
    assert main(["--tracker", "nano", "--quiet", "--max-frames", "20", "--output", str(out),
                 "--summary-json", str(tmp_path / "s.json")]) == 0
    boxes = np.loadtxt(out, delimiter=",")
    assert boxes.shape == (20, 4) and np.all(np.isfinite(boxes))
    assert "(NanoTrack)" in capsys.readouterr().out
    assert '"tracker": "NanoTrack"' in (tmp_path / "s.json").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--tracker", "mil", "--updater", "bdfa"], "error: --updater: only for our tracker, not for --tracker mil"),
    (["--tracker", "mil", "--seed", "-1"], "error: seed must be in 0 .. 2**32 - 1, got -1"),
    (["--tracker", "nano", "--peer-models", "/nonexistent"], "error: NanoTrack cannot run: nanotrack_backbone"),
    (["--tracker", "vit", "--webcam", "0", "--updater", "bdfa"], "error: --updater: only for our tracker"),
])
def test_peer_misuse_is_one_error_line(argv, message, capsys):
    assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_contrib_peers_say_what_they_need_when_it_is_absent(capsys):
    if PEERS["csrt"].unavailable(DEFAULT_MODELS) is None:
        pytest.skip("opencv-contrib-python is installed here")
    assert main(["--tracker", "csrt", "--quiet"]) == 2
    assert "needs opencv-contrib-python" in capsys.readouterr().err


def test_nano_and_vit_report_opencvs_tracking_score():
    from tracker.data.synthetic import synthetic_sequence
    from tracker.evaluation.peers import OpenCVTracker

    for key in ("nano", "vit"):
        skip_unless_runs(key)
        sequence = synthetic_sequence(n_frames=4)
        peer = OpenCVTracker(key)
        peer.init(sequence.frames[0], sequence.ground_truth[0])
        scores = [peer.track_frame(frame).score for frame in sequence.frames[1:]]
        assert all(0.0 <= s <= 1.0 for s in scores), (key, scores)
