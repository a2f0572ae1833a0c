"""What one online learning step costs inside the tracker, part by part, and what each cheaper variant saves.

    python -m studies.step_cost --sequence ../shared/datasets/otb/Biker

A tracker follows the sequence for ``--frames`` frames so that its sample memories hold real features; then,
in each of ``--repeats`` rounds, every variant runs the same long-term update (``maxiter_update`` steps drawn
from all kept frames) and the same first frame, in turn, so machine noise hits them alike:

- ``reference``: each step gathers its minibatch from the per-frame chunks (one step a share of the job) and
  mines its negatives in float32;
- ``gathered``: the update run as one share (as an urgent update runs): its rows gathered once (the same
  boxes);
- ``gathered+bf16``: also ``learning_dtype: bfloat16`` (the step's matrix products in bfloat16).

Reported per variant: the median ms per step of the update and of the first frame (whole ``init``), and
the per-round ratio to ``reference`` with its 95% bootstrap interval.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tracker.build import build_tracker
from tracker.config import load_config
from tracker.data.otb import open_source
from tracker.errors import ArgumentParser
from tracker.evaluation.harness import DEFAULT_OTB, cli_main, markdown_table, record_setup, write_json
from tracker.evaluation.paired import bootstrap_interval
from tracker.evaluation.run import track
from tracker.mdnet import MDNetTracker
from tracker.outputs import write_text
from tracker.updaters.trainer import learning_dtype

VARIANTS = {"reference": (False, "float32"), "gathered": (True, "float32"), "gathered+bf16": (True, "bfloat16")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequence", default=str(Path(DEFAULT_OTB) / "Biker"), help="default: %(default)s")
    parser.add_argument("--updater", default="bdfa", help="default: %(default)s")
    parser.add_argument("--frames", type=int, default=120, help="frames tracked first (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--out", default="runs/step_cost", help="default: %(default)s")
    return parser.parse_args(argv)


def update_seconds(tracker: MDNetTracker, gathered: bool) -> float:
    """Seconds per step of one long-term update, drawing the job included."""
    updates, state = tracker.config.updates, tracker.state
    steps = updates.maxiter_update
    start = time.perf_counter()
    job = tracker.minibatches.job(*state.memory.samples(short_term=False), steps, updates.lr_update, state.rng)
    for share in [range(steps)] if gathered else [range(it, it + 1) for it in range(steps)]:
        tracker.minibatches.run(tracker.head, tracker.updater, job, share)
    return (time.perf_counter() - start) / steps


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    sequence = open_source(args.sequence)
    tracker = build_tracker(load_config(learning={"updater": args.updater}), None, warn=False)
    for _ in track(tracker, sequence, sequence.ground_truth[0], args.frames):
        pass
    first = sequence.first_frame()
    memories = tracker.state
    step_ms: dict[str, list[float]] = {v: [] for v in VARIANTS}
    init_ms: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for name, (gathered, dtype) in VARIANTS.items():
            tracker.updater.dtype = learning_dtype(dtype)  # the rule's step reads it, nothing else does
            tracker.state = memories
            step_ms[name].append(1000 * update_seconds(tracker, gathered))
            start = time.perf_counter()
            tracker.init(first, sequence.ground_truth[0])  # the first frame's job is one chunk: gathered or not
            init_ms[name].append(1000 * (time.perf_counter() - start))
    rng = np.random.default_rng(0)
    rows, records = [], []
    for name in VARIANTS:
        record = {"variant": name}
        for label, times in (("step", step_ms), ("first_frame", init_ms)):
            ratios = np.array(times[name]) / np.array(times["reference"])
            low, high = bootstrap_interval(ratios, 10000, rng)
            record[label] = {"median_ms": statistics.median(times[name]), "ratio": float(ratios.mean()),
                             "ratio_95": [low, high], "ms": times[name]}
        records.append(record)
        rows.append([name, *(cell for label in ("step", "first_frame") for cell in (
            record[label]["median_ms"], "{:.3f} [{:.3f}, {:.3f}]".format(record[label]["ratio"],
                                                                        *record[label]["ratio_95"])))])
    table = markdown_table(["variant", "ms per update step", "x reference [95%]", "first frame ms",
                            "x reference [95%]"], rows)
    table += (f"\n\n{args.repeats} interleaved rounds, {args.threads} torch thread(s), {args.updater}, memories after "
              f"{args.frames} frames of {sequence.name} ({len(memories.memory.pos)} frames of positives, "
              f"{len(memories.memory.neg)} of negatives).")
    print(table)
    out = Path(args.out)
    record_setup(out, args)
    write_json(out / "step_cost.json", {"records": records, "repeats": args.repeats, "threads": args.threads,
                                        "sequence": sequence.name, "frames": args.frames})
    write_text(out / "step_cost.md", table + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
