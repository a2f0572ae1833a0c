"""Per-sequence OTB accuracy of one or more updaters (success AUC, precision@20, fps).

    python -m benchmarks.accuracy --otb ../shared/datasets/otb --updaters bp,dfa,bdfa

Each finished (updater, sequence) is saved at once to ``--out``/accuracy.json and skipped on a
re-run (``--fresh`` starts over), so an interrupted run loses nothing finished.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.common import (
    DEFAULT_OTB,
    cli_main,
    guard_resume,
    markdown_table,
    read_json,
    run_setup,
    warm_up,
    write_json,
)
from tracker.build import backbone_of, build_tracker
from tracker.config import load_config
from tracker.evaluation.metrics import scores
from tracker.evaluation.run import otb_sequences, run_sequence


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB)
    parser.add_argument("--sequences", help="comma-separated names (default: all found)")
    parser.add_argument("--updaters", default="bp")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights")
    parser.add_argument("--config")
    parser.add_argument("--out", default="results/accuracy")
    parser.add_argument("--fresh", action="store_true")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    updaters = args.updaters.split(",")
    base = load_config(args.config, batch_size=args.batch_size, seed=args.seed)
    for updater in updaters:  # validated by the config, as everywhere
        base.replace(updater=updater)
    sequences = otb_sequences(args.otb, args.sequences.split(",") if args.sequences else None)
    path = Path(args.out) / "accuracy.json"
    base = base.replace(backbone=backbone_of(args.weights, base.backbone))
    guard_resume(Path(args.out), run_setup(base, args.weights), args.fresh)
    results = {} if args.fresh else read_json(path)
    warm_up()
    todo = [(u, s) for u in updaters for s in sequences if s.name not in results.get(u, {})]
    for updater, sequence in tqdm(todo, desc="runs", unit="seq"):
        tracker = build_tracker(base.replace(updater=updater), args.weights, warn=False)
        result = run_sequence(tracker, sequence)
        entry = scores(result.boxes, sequence.ground_truth) | {"fps": result.fps, "frames": len(result.boxes)}
        results.setdefault(updater, {})[sequence.name] = entry
        write_json(path, results)
    report(results, updaters, [s.name for s in sequences], Path(args.out))


def report(results: dict, updaters: list[str], names: list[str], out: Path) -> None:
    header = ["sequence"] + [f"{u} {m}" for u in updaters for m in ("AUC", "P@20", "fps")]
    rows = [[n] + [results[u][n][m] for u in updaters for m in ("success_auc", "precision_20", "fps")]
            for n in names]
    rows.append(["**mean**"] + [float(np.mean([results[u][n][m] for n in names]))
                                for u in updaters for m in ("success_auc", "precision_20", "fps")])
    table = markdown_table(header, rows)
    (out / "accuracy.md").write_text(table + "\n")
    print(table)


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
