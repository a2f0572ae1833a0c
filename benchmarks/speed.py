"""Tracking speed of the shared-feature mode against exact per-candidate crops, in one run.

    python -m benchmarks.speed --otb ../shared/datasets/otb --sequences Crossing,Couple,DragonBaby --max-frames 40

Both modes track the same frames of the same sequences (the exact mode is too slow for more);
then the default (shared) mode tracks every OTB sequence in full (``--whole``), which is the fps a
user sees. fps counts every frame, first-frame training included. Per phase: milliseconds per
frame spent on conv features, candidate scoring, online updates (sample collection + learning)
and bounding-box regression.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from tqdm import tqdm

from benchmarks.common import DEFAULT_OTB, cli_main, markdown_table, warm_up, write_json
from tracker.build import build_tracker
from tracker.config import TrackerConfig, load_config
from tracker.evaluation.metrics import scores
from tracker.evaluation.run import otb_sequences, run_sequence
from tracker.timing import PHASES

MODES = ("shared", "exact")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB)
    parser.add_argument("--sequences", default="Crossing,Couple,DragonBaby", help="for shared vs exact")
    parser.add_argument("--max-frames", type=int, default=40, help="for shared vs exact")
    parser.add_argument("--whole", default="all",
                        help="sequences the shared mode then tracks in full: comma list, 'all' or 'none'")
    parser.add_argument("--updater", default="bp")
    parser.add_argument("--weights")
    parser.add_argument("--config", help="YAML overriding the default (MDNet) settings")
    parser.add_argument("--out", default="results/speed")
    return parser.parse_args(argv)


def measure(label: str, config: TrackerConfig, sequences: list, max_frames: int | None, weights: str | None,
            per_sequence: list[dict]) -> dict:
    """Track ``sequences`` with ``config``; totals of frames, seconds and seconds per phase."""
    total = {"frames": 0, "seconds": 0.0, **{p: 0.0 for p in PHASES}}
    for sequence in tqdm(sequences, desc=label, unit="seq"):
        result = run_sequence(build_tracker(config, weights, warn=False), sequence, max_frames)
        n = len(result.boxes)
        accuracy = scores(result.boxes, sequence.ground_truth[:n])
        per_sequence.append({"run": label, "mode": config.feature_mode, "sequence": sequence.name, "frames": n,
                             "fps": result.fps, "failed_frames": result.failed_frames,
                             "phase_seconds": result.phase_seconds, **accuracy})
        total["frames"] += n
        total["seconds"] += float(result.seconds.sum())
        for phase in PHASES:
            total[phase] += result.phase_seconds[phase]
    return total


def run(args: argparse.Namespace) -> None:
    sequences = otb_sequences(args.otb, args.sequences.split(",") if args.sequences else None)
    whole = [] if args.whole == "none" else otb_sequences(
        args.otb, None if args.whole == "all" else args.whole.split(","))
    config = load_config(args.config, updater=args.updater)
    per_sequence: list[dict] = []
    warm_up()
    totals = {mode: measure(mode, config.replace(feature_mode=mode), sequences, args.max_frames, args.weights,
                            per_sequence) for mode in MODES}
    if whole:
        totals["shared, whole sequences"] = measure("whole", config.replace(feature_mode="shared"), whole, None,
                                                    args.weights, per_sequence)
    rows = [[label, t["frames"], t["frames"] / t["seconds"]] + [1000 * t[p] / t["frames"] for p in PHASES]
            for label, t in totals.items()]
    ratio = (totals["shared"]["frames"] / totals["shared"]["seconds"]) / (
        totals["exact"]["frames"] / totals["exact"]["seconds"])
    table = markdown_table(["run", "frames", "fps"] + [f"{p} ms/frame" for p in PHASES], rows)
    table += f"\n\nshared / exact speed ratio (first {args.max_frames} frames of {args.sequences}): {ratio:.1f}x"
    if whole:
        by_fps = sorted((r for r in per_sequence if r["run"] == "whole"), key=lambda r: -r["fps"])
        table += "\nper whole sequence (fps, failed frames / frames): " + ", ".join(
            f"{r['sequence']} {r['fps']:.1f} ({r['failed_frames']}/{r['frames']})" for r in by_fps)
    print(table)
    out = Path(args.out)
    write_json(out / "speed.json", {"totals": totals, "ratio": ratio, "sequences": per_sequence,
                                    "max_frames": args.max_frames, "updater": args.updater,
                                    "weights": args.weights or "default", "config_file": args.config,
                                    "config": dataclasses.asdict(config)})
    (out / "speed.md").write_text(table + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
