"""Cost of one online learning step per updater and batch size, and how well each rule aligns with BP.

    python -m studies.update_cost --sequence ../shared/datasets/otb/Deer

For every updater and batch size 8..128, in one run: the time of one ``Trainer.step`` (median of
``--repeats`` interleaved repeats, and its ratio to BP's), multiply-accumulates of error
propagation, feedback memory in bytes, and the mean angle between the rule's fc4 / fc5 weight
updates and the true BP gradient while tracking a real sequence.
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
from tracker.errors import ArgumentParser, TrackerError, quoted
from tracker.evaluation.harness import DEFAULT_OTB, cli_main, markdown_table, record_setup, write_json
from tracker.evaluation.run import run_sequence
from tracker.outputs import write_text  # noqa: E402

BATCH_SIZES = (8, 16, 32, 64, 128)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequence", default=str(Path(DEFAULT_OTB) / "Deer"))
    parser.add_argument("--updaters", default="bp,fa,dfa,bdfa")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--weights")
    parser.add_argument("--out", default="runs/update_cost")
    return parser.parse_args(argv)


def build(updater: str, batch_size: int, weights: str | None, diagnostics: bool = False):
    config = load_config(learning={"updater": updater, "alignment_diagnostics": diagnostics},
                         updates={"batch_size": batch_size})
    return build_tracker(config, weights, warn=False)


def time_steps(updaters: list[str], batch_size: int, repeats: int, weights: str | None) -> dict[str, list[float]]:
    """Seconds per step, the updaters interleaved so machine noise hits them alike."""
    trackers = {u: build(u, batch_size, weights) for u in updaters}
    g = torch.Generator().manual_seed(0)
    in_dim = next(iter(trackers.values())).head.fc4.in_features
    features = torch.rand(batch_size, in_dim, generator=g)
    labels = (torch.arange(batch_size) < batch_size // 4).long()
    for tracker in trackers.values():
        tracker.head.reset(g, tracker.fc_state)
        tracker.updater.start(tracker.head, g)
    times: dict[str, list[float]] = {u: [] for u in updaters}
    for _ in range(repeats):
        for name, tracker in trackers.items():
            start = time.perf_counter()
            tracker.updater.step(features, labels, 1e-4)
            times[name].append(time.perf_counter() - start)
    return times


def run(args: argparse.Namespace) -> None:
    updaters = args.updaters.split(",")
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        raise TrackerError(f"--batch-sizes must be integers, got {quoted(args.batch_sizes)}") from None
    for updater in updaters:  # the config validates names and sizes, here as everywhere
        for batch_size in batch_sizes:
            load_config(learning={"updater": updater}, updates={"batch_size": batch_size})
    sequence = open_source(args.sequence)
    rows, records = [], []
    for batch_size in batch_sizes:
        times = time_steps(updaters, batch_size, args.repeats, args.weights)
        bp_ms = 1000 * statistics.median(times["bp"]) if "bp" in times else float("nan")
        for name in updaters:
            tracker = build(name, batch_size, args.weights, diagnostics=True)  # BP's angle measured too
            run_sequence(tracker, sequence)
            diag = tracker.updater.diagnostics()
            step_ms = 1000 * statistics.median(times[name])
            record = {
                "updater": name, "batch_size": batch_size, "step_ms": step_ms, "ratio_to_bp": step_ms / bp_ms,
                "propagation_macs": tracker.updater.propagation_macs(batch_size),
                "feedback_bytes": tracker.updater.feedback_bytes(),
                "angle_fc4_deg": diag["angle_fc4_mean_deg"], "angle_fc5_deg": diag["angle_fc5_mean_deg"],
                "propagation_s": diag.get("error_propagation"), "weight_gradient_s": diag.get("weight_gradients"),
            }
            records.append(record)
            rows.append([name, batch_size, step_ms, record["ratio_to_bp"], record["propagation_macs"],
                         record["feedback_bytes"], record["angle_fc4_deg"], record["angle_fc5_deg"]])
            print(f"  {name} b{batch_size}: {step_ms:.2f} ms/step", file=sys.stderr)
    table = markdown_table(["updater", "batch", "step ms", "x BP", "propagation MACs", "feedback bytes",
                            "angle fc4 (deg)", "angle fc5 (deg)"], rows)
    table += (f"\n\nstep time: median of {args.repeats} interleaved repeats; angles: mean over every learning"
              f" step while tracking {sequence.name} ({len(sequence)} frames); BP's is measured the same way (0 up to "
              "rounding).")
    print(table)
    out = Path(args.out)
    record_setup(out, args)
    write_json(out / "update_cost.json", {"records": records, "repeats": args.repeats, "sequence": sequence.name,
                                          "threads": torch.get_num_threads(),
                                          "mean_angles": {u: float(np.mean([r["angle_fc4_deg"] for r in records
                                                                            if r["updater"] == u])) for u in updaters}})
    write_text(out / "update_cost.md", table + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
