"""What the backbone's channel widths cost: pretraining time per iteration and tracking fps.

    python -m studies.width --widths 48,96,128 96,256,512 --iterations 10 --max-frames 40

MDNet's conv1-3 have (96, 256, 512) channels; this project's default is narrower for CPU speed.
Each width gets ``--iterations`` pretraining iterations (after one untimed) on the pretraining
data and a shared-mode tracking run (random backbone of that width, bp updater) on the first
``--max-frames`` frames of ``--sequences``; widths alternate ``--repeats`` times so that machine
noise hits them alike. Reported as medians and as ratios to the first width.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from tracker import pretrain
from tracker.config import load_config
from tracker.errors import ArgumentParser, TrackerError, quoted
from tracker.evaluation.harness import (
    DEFAULT_OTB,
    Run,
    cli_main,
    markdown_table,
    measure,
    record_setup,
    warm_up,
    write_json,
)
from tracker.evaluation.run import open_sequences
from tracker.outputs import write_text  # noqa: E402

DEFAULT_PRETRAIN = str(Path(DEFAULT_OTB).parent / "pretrain")


def parse_width(text: str) -> tuple[int, int, int]:
    try:
        width = tuple(int(c) for c in text.split(","))
    except ValueError:
        raise TrackerError(f"a width is three comma-separated channel counts, got {quoted(text)}") from None
    if len(width) != 3 or min(width) < 1:
        raise TrackerError(f"a width is three positive channel counts, got {quoted(text)}")
    return width


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", nargs="+", default=["48,96,128", "96,256,512"])
    parser.add_argument("--data", default=DEFAULT_PRETRAIN, help="pretraining sequences")
    parser.add_argument("--otb", default=DEFAULT_OTB)
    parser.add_argument("--sequences", default="Crossing,Couple")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--max-frames", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="runs/width")
    return parser.parse_args(argv)


def pretrain_seconds(width: tuple[int, int, int], domains: list, iterations: int) -> float:
    args = pretrain.parse_args(["--data", "-", "--out", "-", "--backbone", "mdnet", "--channels", *map(str, width)])
    trainer = pretrain.Pretrainer(args, domains)
    trainer.train_step()  # untimed: first-touch allocations
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.train_step()
    return (time.perf_counter() - start) / iterations


def tracking_fps(width: tuple[int, int, int], sequences: list, max_frames: int) -> float:
    records: list[dict] = []
    measure([Run(str(width), load_config(network={"backbone_channels": width}), "none")], sequences, max_frames,
            "tracking",
            records)
    return sum(r["frames"] for r in records) / sum(r["seconds"] for r in records)


def run(args: argparse.Namespace) -> None:
    widths = [parse_width(w) for w in args.widths]
    domains = pretrain.load_domains(args.data)
    sequences = open_sequences(args.otb, args.sequences.split(","))
    warm_up()
    samples: dict[tuple, dict[str, list[float]]] = {w: {"s_per_iteration": [], "fps": []} for w in widths}
    for repeat in range(args.repeats):
        for width in widths:
            print(f"repeat {repeat + 1}/{args.repeats}: width {width}", file=sys.stderr)
            samples[width]["s_per_iteration"].append(pretrain_seconds(width, domains, args.iterations))
            samples[width]["fps"].append(tracking_fps(width, sequences, args.max_frames))
    base = {k: float(np.median(v)) for k, v in samples[widths[0]].items()}
    rows = []
    for width in widths:
        s_it, fps = (float(np.median(samples[width][k])) for k in ("s_per_iteration", "fps"))
        rows.append([str(width), s_it, s_it / base["s_per_iteration"], s_it * 3000 / 3600, fps,
                     fps / base["fps"]])
    table = markdown_table(["channels", "pretrain s/iteration", "x first", "hours for 3000 iterations",
                            "tracking fps", "x first"], rows)
    table += (f"\n\nmedians of {args.repeats} alternating repeats; pretraining: {args.iterations} iterations each; "
              f"tracking: first {args.max_frames} frames of {args.sequences}, random backbone, bp")
    print(table)
    out = Path(args.out)
    record_setup(out, args)
    write_json(out / "width.json", {"samples": {str(w): v for w, v in samples.items()}, "settings": vars(args)})
    write_text(out / "width.md", table + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
