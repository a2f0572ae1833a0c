"""A long run through the command line: resident memory and frame time from start to end, the target leaving
and coming back all along.

    python -m tracker.evaluation.soak --otb ../shared/datasets/otb --frames 10000 --out runs/soak

A target sequence is spliced with another video (the target leaves for ``--absent`` frames and comes back, as
in ``tracker.evaluation.absence``), played forward and back into a video file of ``--frames`` frames, and
``run_tracker.py`` tracks it in a process of its own, writing its rows to standard output. As each row arrives,
the process's resident size is read (``/proc/PID/statm``, Linux only), and the row's arrival time. Reported:
the resident size at frame ``--window`` (1,000) and at the end, the growth between them (aim: under 20 MB), the
peak (the kernel's high-water mark), and the mean frame time over the last ``--window`` frames against frames
50 to 49 + ``--window``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from tracker.config import load_config
from tracker.errors import ArgumentParser, TrackerError
from tracker.evaluation.absence import filler_for, splice
from tracker.evaluation.harness import (
    DEFAULT_OTB,
    check_out,
    cli_main,
    held,
    markdown_table,
    require_data,
    run_setup,
    write_json,
)
from tracker.evaluation.memory import PAGE, looped
from tracker.evaluation.run import open_sequences
from tracker.limits import MAX_FRAMES
from tracker.outputs import write_text

ROOT = Path(__file__).resolve().parents[2]
GROWTH_AIM_MB = 20.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB, help="an OTB-layout folder (default: ../shared/datasets/otb)")
    parser.add_argument("--target", default="Bolt2", help="the sequence whose target leaves and comes back")
    parser.add_argument("--absent", type=int, default=60, help="frames the target is away each time (default 60)")
    parser.add_argument("--frames", type=int, default=10_000, help="frames tracked (default 10000)")
    parser.add_argument("--window", type=int, default=1000,
                        help="frames the start and the end are each measured over (default 1000)")
    parser.add_argument("--config", help="YAML overriding our defaults")
    parser.add_argument("--weights", help="our weights (default: the shipped ones)")
    parser.add_argument("--out", default="runs/soak", help="results folder (default: runs/soak)")
    return parser.parse_args(argv)


def write_video(frames: list[np.ndarray], path: Path, fps: float = 30.0) -> None:
    """RGB frames into an MJPEG video (every frame a key frame: nothing drifts over a long file)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise TrackerError(f"cannot write the soak video {path}")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def rss_of(pid: int) -> tuple[float, float]:
    """Resident and peak resident MB of process ``pid``."""
    resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    peak = next(int(line.split()[1]) / 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    return resident, peak


def track(video: Path, box: np.ndarray, config: str | None, weights: str | None) -> tuple[np.ndarray, np.ndarray,
                                                                                        float]:
    """``run_tracker.py`` on ``video``: per row (frame), its arrival time and the process's resident MB; the peak."""
    command = [sys.executable, str(ROOT / "run_tracker.py"), "--video", str(video), "--init",
               ",".join(f"{v:.2f}" for v in box), "--output-csv", "/dev/stdout", "--quiet"]
    command += ["--config", config] if config else []
    command += ["--weights", weights] if weights else []
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    times, resident, peak = [], [], 0.0
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the header
        for _ in proc.stdout:
            times.append(time.perf_counter())
            try:
                rss, peak = rss_of(proc.pid)
            except (OSError, StopIteration):
                break  # it ended between two rows
            resident.append(rss)
        err = proc.stderr.read() if proc.stderr is not None else ""
        if proc.wait() != 0:
            lines = [line for line in err.splitlines() if line.startswith("error:")] or ["it failed"]
            raise TrackerError(f"run_tracker.py on the soak video: {lines[-1].removeprefix('error: ')}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return np.array(times), np.array(resident), peak


def run(args: argparse.Namespace) -> None:
    if not Path("/proc/self/statm").is_file():
        raise TrackerError("tracker.evaluation.soak reads /proc: Linux only")
    window = args.window
    if not 10 <= window <= MAX_FRAMES // 3:
        raise TrackerError(f"--window must be in 10 .. {MAX_FRAMES // 3}, got {window}")
    if not 2 * window + 100 <= args.frames <= MAX_FRAMES:
        raise TrackerError(f"--frames must be in {2 * window + 100} .. {MAX_FRAMES} (twice --window and 100), "
                           f"got {args.frames}")
    if not 1 <= args.absent <= 10_000:
        raise TrackerError(f"--absent must be in 1 .. 10000, got {args.absent}")
    out = Path(args.out)
    check_out(out, ("soak.json", "soak.md"))
    run_setup(load_config(args.config), args.weights)  # a bad config or weights file: now, not after the video
    sequences = open_sequences(require_data(args.otb), None)
    names = [s.name for s in sequences]
    if args.target not in names:
        raise TrackerError(f"--target {args.target} is not under {args.otb}")
    index = names.index(args.target)
    made = splice(sequences[index], filler_for(sequences, index), args.absent)
    if made is None:
        raise TrackerError(f"{args.target} is too short to leave for {args.absent} frames and come back")
    spliced = made[0]
    frames = list(spliced)
    # a folder of its own beside the results (a soak.avi of the user's there is never replaced), gone however the
    # run ends; not the system's temp folder, which may be a small RAM disk (the video is about 300 MB)
    with tempfile.TemporaryDirectory(dir=out, prefix=".tmp-soak-") as scratch:
        video = Path(scratch) / "soak.avi"
        write_video([frames[i] for i in looped(list(range(len(frames))), args.frames)], video)
        times, resident, peak = track(video, spliced.ground_truth[0], args.config, args.weights)
    if len(times) < args.frames:
        raise TrackerError(f"run_tracker.py answered {len(times)} of {args.frames} frames")
    gaps = np.diff(times) * 1000
    start_ms, end_ms = float(gaps[50:50 + window].mean()), float(gaps[-window:].mean())
    record = {"target": args.target, "filler": filler_for(sequences, index).name, "absent": args.absent,
              "frames": len(times), "config": args.config, "window": window,
              "rss_at_window_mb": float(resident[window - 1]),
              "rss_end_mb": float(resident[-1]), "growth_mb": float(resident[-1] - resident[window - 1]),
              "peak_rss_mb": peak, "start_ms": start_ms, "end_ms": end_ms, "end_over_start": end_ms / start_ms,
              "rss_every_100": resident[::100].round(1).tolist()}
    table = markdown_table(
        ["target (away, back)", "frames", f"MB at {window}", "MB at end", "growth MB", "peak MB",
         f"ms/frame 50-{49 + window}", f"last {window}", "end / start"],
        [[f"{args.target} ({args.absent} away, {record['filler']} meanwhile)", record["frames"],
          f"{record['rss_at_window_mb']:.1f}", f"{record['rss_end_mb']:.1f}", f"{record['growth_mb']:+.1f}",
          f"{peak:.1f}", f"{start_ms:.1f}", f"{end_ms:.1f}", f"{record['end_over_start']:.3f}"]])
    table += (f"\n\nrun_tracker.py, rows to stdout; resident size read as each row arrives; growth aim: under "
              f"{GROWTH_AIM_MB:g} MB from frame {window} to the end.")
    print(table)
    write_json(out / "soak.json", record)
    write_text(out / "soak.md", table + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: held(run, parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
