"""Helpers shared by the benchmark scripts: atomic JSON, markdown tables, CLI error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from tracker.cli import write_json  # noqa: F401 - one atomic writer for the project
from tracker.errors import TrackerError

DEFAULT_OTB = str(Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "otb")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def cli_main(run: Callable[[], None]) -> int:
    """Run a benchmark; bad input -> one line on stderr and exit 2."""
    torch.set_num_threads(2)
    try:
        run()
    except TrackerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
