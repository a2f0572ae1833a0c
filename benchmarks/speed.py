"""Tracking speed of the shared-feature mode against exact per-candidate crops, in one run.

    python -m benchmarks.speed --otb ../shared/datasets/otb --sequences Crossing,Couple,DragonBaby --max-frames 40

Both modes track the same frames of the same sequences; fps counts every frame, first-frame
training included. Per phase: milliseconds per frame spent on conv features, candidate scoring,
online updates (sample collection + learning) and bounding-box regression.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from benchmarks.common import DEFAULT_OTB, cli_main, markdown_table, write_json
from tracker.build import build_tracker
from tracker.config import load_config
from tracker.evaluation.metrics import scores
from tracker.evaluation.run import otb_sequences, run_sequence
from tracker.timing import PHASES

MODES = ("shared", "exact")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB)
    parser.add_argument("--sequences", default="Crossing,Couple,DragonBaby")
    parser.add_argument("--max-frames", type=int, default=40)
    parser.add_argument("--updater", default="bp")
    parser.add_argument("--weights")
    parser.add_argument("--out", default="results/speed")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    sequences = otb_sequences(args.otb, args.sequences.split(",") if args.sequences else None)
    totals = {m: {"frames": 0, "seconds": 0.0, **{p: 0.0 for p in PHASES}} for m in MODES}
    per_sequence = []
    for mode in MODES:
        config = load_config(updater=args.updater, feature_mode=mode)
        for sequence in tqdm(sequences, desc=mode, unit="seq"):
            tracker = build_tracker(config, args.weights, warn=False)
            result = run_sequence(tracker, sequence, args.max_frames)
            n = len(result.boxes)
            accuracy = scores(result.boxes, sequence.ground_truth[:n])
            per_sequence.append({"mode": mode, "sequence": sequence.name, "frames": n, "fps": result.fps,
                                 "phase_seconds": result.phase_seconds, **accuracy})
            totals[mode]["frames"] += n
            totals[mode]["seconds"] += float(result.seconds.sum())
            for phase in PHASES:
                totals[mode][phase] += result.phase_seconds[phase]
    rows = []
    for mode in MODES:
        t = totals[mode]
        rows.append([mode, t["frames"], t["frames"] / t["seconds"]]
                    + [1000 * t[p] / t["frames"] for p in PHASES])
    ratio = (totals["shared"]["frames"] / totals["shared"]["seconds"]) / (
        totals["exact"]["frames"] / totals["exact"]["seconds"])
    table = markdown_table(["mode", "frames", "fps"] + [f"{p} ms/frame" for p in PHASES], rows)
    table += f"\n\nshared / exact speed ratio: {ratio:.1f}x"
    print(table)
    out = Path(args.out)
    write_json(out / "speed.json", {"totals": totals, "ratio": ratio, "sequences": per_sequence,
                                    "max_frames": args.max_frames, "updater": args.updater})
    (out / "speed.md").write_text(table + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
