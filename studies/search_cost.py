"""What one whole-frame search costs, in time and in memory at its peak, and what it finds, per map side.

    python -m studies.search_cost --otb ../shared/datasets/otb --out runs/search_cost

Issue 44 asks for a cheaper search and a bounded peak. For each sequence (default: the ``../shared`` ones whose
frames are 480 pixels wide or more: Biker, DragonBaby, MountainBike 640 x 360, Bolt2 480 x 270, Dudek 720 x
480, Bird2 720 x 400), the default tracker starts on the first frame; then, on ``--frames`` frames
spread over the sequence, the re-detector searches the whole frame for the target at its true size, with the
map's longest side capped at each of ``--sides`` (``redetection.redetect_map_side``: 1024 is the default's; a
smaller cap reads the map coarser). Per side: the median ms of a search, its memory peak over the resident size
before it (the kernel's high-water mark, reset before each search: Linux), and the share of searches whose best
box has its centre inside the true box (the found target, before the bars that decide whether it is taken).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from tracker.allocator import release_free_memory
from tracker.build import build_tracker
from tracker.config import load_config
from tracker.errors import ArgumentParser
from tracker.evaluation.absence import centre_inside
from tracker.evaluation.harness import DEFAULT_OTB, cli_main, markdown_table, write_json
from tracker.evaluation.memory import rss_mb, status_kib
from tracker.evaluation.run import open_sequences
from tracker.outputs import write_text

CLEAR_REFS = Path("/proc/self/clear_refs")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB, help="an OTB-layout folder (default: ../shared/datasets/otb)")
    parser.add_argument("--sequences", default="Biker,DragonBaby,MountainBike,Bolt2,Dudek,Bird2",
                        help="comma list (default: %(default)s)")
    parser.add_argument("--sides", default="1024,768,512,384", help="map side caps (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=8, help="searches per sequence (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--out", default="runs/search_cost", help="default: %(default)s")
    return parser.parse_args(argv)


def peak_over(call: Callable[..., object], *args: object) -> tuple[float, float]:
    """``call(*args)``'s seconds, and its resident peak over the resident size before it, in MB."""
    release_free_memory()  # what earlier searches freed goes back: this one's peak is its own
    CLEAR_REFS.write_text("5")  # resets VmHWM to the current RSS
    before = rss_mb()
    start = time.perf_counter()
    call(*args)
    seconds = time.perf_counter() - start
    return seconds, status_kib("VmHWM") / 1024 - before


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    sides = [int(s) for s in args.sides.split(",")]
    config = load_config()
    per_side: dict[int, dict[str, list[float]]] = {s: {"ms": [], "peak_mb": [], "found": []} for s in sides}
    for sequence in open_sequences(args.otb, args.sequences.split(",")):
        frames = list(sequence)
        truth = sequence.ground_truth
        tracker = build_tracker(config, warn=False)
        tracker.init(frames[0], truth[0])
        redetector, flag = tracker.state.redetector, tracker.state.lost_flag
        picks = np.linspace(1, len(frames) - 1, args.frames).astype(int)
        for index in picks:
            if not np.all(np.isfinite(truth[index])):
                continue
            flag.size = truth[index][2:].copy()
            far = np.r_[-1000.0, -1000.0, truth[index][2:]]  # the tracker's own box: elsewhere
            for side in sides:
                redetector.config = dataclasses.replace(config.redetection, redetect_map_side=side)
                search = (frames[index], int(index), far, flag)
                redetector.search(*search)  # warm: first-touch allocations
                seconds, peak = peak_over(redetector.search, *search)
                best = redetector.searches[-1]
                per_side[side]["ms"].append(1000 * seconds)
                per_side[side]["peak_mb"].append(peak)
                per_side[side]["found"].append(float(centre_inside(best.box, truth[index])))
        tracker.close()
    records = [{"side": side, "searches": len(v["ms"]), "median_ms": statistics.median(v["ms"]),
                "median_peak_mb": statistics.median(v["peak_mb"]), "max_peak_mb": max(v["peak_mb"]),
                "found": float(np.mean(v["found"]))} for side, v in per_side.items()]
    table = markdown_table(["map side", "searches", "median ms", "median peak MB", "max peak MB", "found"], [
        [r["side"], r["searches"], f"{r['median_ms']:.1f}", f"{r['median_peak_mb']:.1f}", f"{r['max_peak_mb']:.1f}",
         f"{r['found']:.2f}"] for r in records])
    table += (f"\n\n{args.sequences}; {args.frames} searches a sequence at the target's true size; "
              f"{args.threads} torch thread(s); found: the best box's centre inside the true box.")
    print(table)
    out = Path(args.out)
    write_json(out / "search_cost.json", {"records": records, "sequences": args.sequences, "frames": args.frames,
                                          "threads": args.threads})
    write_text(out / "search_cost.md", table + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
