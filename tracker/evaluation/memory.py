"""Resident memory of a tracker over a long sequence: peak and steady RSS, ours beside OpenCV's NanoTrack.

    python -m tracker.evaluation.memory --otb ../shared/datasets/otb --sequence Crossing --frames 3000

Each tracker runs in a process of its own, which imports only what that tracker needs (NanoTrack: OpenCV
and numpy, no torch), over the sequence's frames played forward and back until ``--frames`` (a looped
OTB sequence, read from disk frame by frame, so no frame store inflates the figure). RSS is read from
``/proc/self`` every frame: once the tracker is built (imports and weights), after the first frame, its
peak (the kernel's high-water mark, ``VmHWM``) and its steady level (median over the second half of the
frames). Linux only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tracker.errors import ArgumentParser, TrackerError, run_command
from tracker.limits import MAX_FRAMES, MAX_THREADS
from tracker.outputs import write_text  # noqa: E402

# what a child process imports is what it measures: tracker.evaluation.harness (and with it torch) only in the parent

PAGE = 4096


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise TrackerError(f"/proc/self/status has no {field}")


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE / 2**20


def looped(paths: list, frames: int) -> list:
    """Forward, then back (no jump at the turn), until ``frames``."""
    order = list(range(len(paths))) + list(range(len(paths) - 2, 0, -1))
    return [paths[order[i % len(order)]] for i in range(frames)]


def make_tracker(spec: str, config: str | None, threads: int):
    """``ours:RULE`` or an OpenCV peer key; imports only what it needs."""
    if spec.startswith("ours:"):
        import torch

        from tracker.build import build_tracker
        from tracker.config import load_config

        torch.set_num_threads(threads)
        return build_tracker(load_config(config, learning={"updater": spec.split(":", 1)[1]}), warn=False)
    from tracker.evaluation.peers import OpenCVTracker

    return OpenCVTracker(spec)


def child(args: argparse.Namespace) -> dict:
    """One tracker's run, in this process."""
    from tracker.data.otb import list_otb, open_otb
    from tracker.data.sequence import ImageSequence, ResizedSequence, frame_size
    from tracker.evaluation.run import track

    found = list_otb(args.otb)
    if args.sequence not in found:
        raise TrackerError(f"sequence {args.sequence} not found under {args.otb}")
    source = open_otb(*found[args.sequence], args.sequence)
    tracker = make_tracker(args.child, args.config, args.threads)
    built = rss_mb()
    sequence = ImageSequence(source.name, looped(source.paths, args.frames), source.ground_truth)
    if args.frame_size:
        sequence = ResizedSequence(sequence, frame_size(args.frame_size))
    samples, seconds, after_first = [], [], None
    for index, frame in enumerate(track(tracker, sequence, source.ground_truth[0])):
        samples.append(rss_mb())
        seconds.append(frame.seconds)
        if index == 0:
            after_first = samples[0]
    half = np.array(samples[len(samples) // 2:])
    return {"tracker": args.child, "frames": len(samples), "rss_built_mb": built,
            "rss_after_first_frame_mb": after_first, "peak_rss_mb": status_kib("VmHWM") / 1024,
            "steady_rss_mb": float(np.median(half)), "max_rss_second_half_mb": float(half.max()),
            "fps": len(seconds) / float(np.sum(seconds))}


def measured_child(command: list[str]) -> tuple[int, str, str]:
    """Run one measuring child to its end; it never outlives this process: any exception stops it first, Ctrl-C
    and SIGTERM included (``run_command`` raises SIGTERM as :class:`~tracker.errors.Terminated`)."""
    child_process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = child_process.communicate()
        return child_process.returncode, stdout, stderr
    finally:
        if child_process.poll() is None:
            child_process.kill()
            child_process.wait()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", help="folder of OTB sequences (default: ../shared/datasets/otb)")
    parser.add_argument("--sequence", default="Crossing")
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--trackers", default="ours:bp,ours:bdfa,nano",
                        help="comma list: ours:RULE or an OpenCV peer key (nano, vit, mil)")
    parser.add_argument("--frame-size", help="WIDTHxHEIGHT: every frame resized to it (default: the sequence's own)")
    parser.add_argument("--config", help="YAML overriding our defaults")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for ours")
    parser.add_argument("--out", default="runs/memory", help="results folder (git-ignored by default)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    from tracker.data.sequence import frame_size
    from tracker.evaluation.harness import DEFAULT_OTB, check_out, markdown_table, require_data
    from tracker.files import write_json

    args.otb = require_data(args.otb or DEFAULT_OTB)
    if not Path("/proc/self/statm").is_file():
        raise TrackerError("tracker.evaluation.memory reads /proc/self: Linux only")
    if not 2 <= args.frames <= MAX_FRAMES:
        raise TrackerError(f"--frames must be in 2 .. {MAX_FRAMES}, got {args.frames}")
    if not 1 <= args.threads <= MAX_THREADS:
        raise TrackerError(f"--threads must be in 1 .. {MAX_THREADS}, got {args.threads}")
    check_out(Path(args.out), ("memory.json", "memory.md"))
    if args.frame_size:
        frame_size(args.frame_size)  # refused here, before any child starts
    records = []
    for spec in (t for t in args.trackers.split(",") if t):
        command = [sys.executable, "-m", "tracker.evaluation.memory", "--child", spec, "--otb", args.otb, "--sequence",
                   args.sequence, "--frames", str(args.frames), "--threads", str(args.threads)]
        command += ["--config", args.config] if args.config else []
        command += ["--frame-size", args.frame_size] if args.frame_size else []
        returncode, stdout, stderr = measured_child(command)
        if returncode != 0:
            lines = stderr.strip().splitlines() or ["no output"]
            raise TrackerError(f"{spec}: {lines[-1].removeprefix('error: ')}")
        records.append(json.loads(stdout.strip().splitlines()[-1]))
    if not records:
        raise TrackerError("--trackers is empty")
    rows = [[r["tracker"], r["frames"], r["rss_built_mb"], r["rss_after_first_frame_mb"], r["peak_rss_mb"],
             r["steady_rss_mb"], r["max_rss_second_half_mb"], r["fps"]] for r in records]
    size = f" at {args.frame_size}" if args.frame_size else ""
    report = (f"{args.sequence}{size}, {args.frames} frames (played forward and back), {args.threads} torch threads\n\n"
              + markdown_table(["tracker", "frames", "built MB", "after first frame MB", "peak MB",
                                "steady MB", "second-half max MB", "fps"], rows))
    print(report)
    out = Path(args.out)
    write_json(out / "memory.json", {"command": " ".join(sys.argv), "sequence": args.sequence,
                                     "frame_size": args.frame_size,
                                     "frames": args.frames, "threads": args.threads, "config": args.config,
                                     "records": records})
    write_text(out / "memory.md", report + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: print(json.dumps(child(args))) if args.child else run(args))


if __name__ == "__main__":
    sys.exit(main())
