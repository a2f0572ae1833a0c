"""Helpers shared by the benchmark scripts: atomic JSON, markdown tables, CLI error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from tracker.build import build_tracker
from tracker.cli import write_json  # noqa: F401 - one atomic writer for the project
from tracker.config import TrackerConfig
from tracker.data.synthetic import synthetic_sequence
from tracker.errors import TrackerError
from tracker.evaluation.run import run_sequence

DEFAULT_OTB = str(Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "otb")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


_warm = False


def warm_up() -> None:
    """Pay one-time costs (torch's lazy imports on the first optimizer, oneDNN kernel selection)
    before anything is timed: a few frames of the synthetic sequence with a small config. Once per process."""
    global _warm
    if _warm:
        return
    _warm = True
    sequence = synthetic_sequence(n_frames=3)
    config = TrackerConfig(n_pos_init=50, n_neg_init=200, maxiter_init=2, n_bbreg=100)
    run_sequence(build_tracker(config, "none", warn=False), sequence)


def cli_main(run: Callable[[], None]) -> int:
    """Run a benchmark; bad input -> one line on stderr and exit 2."""
    torch.set_num_threads(2)
    try:
        run()
    except TrackerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
