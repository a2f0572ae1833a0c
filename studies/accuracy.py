"""Per-sequence accuracy and speed of an OPE sweep: success AUC, precision@20 and fps per (updater,
online batch size) and sequence, the mean over the seeds that finished it.

    python -m studies.accuracy --ope runs/ope

A report only, a pure function of the results on disk: the runs are ``tracker.evaluation.otb_ope``'s (resume,
settings guard, failures and all). Writes ``accuracy.md`` and ``accuracy.json`` into the OPE folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tracker.errors import ArgumentParser
from tracker.evaluation.harness import cli_main, markdown_table, sweep_settings, write_json
from tracker.evaluation.ope import has_result, read_result, score_sequence
from tracker.evaluation.ope_report import tracker_rows
from tracker.evaluation.run import open_sequences
from tracker.outputs import write_text  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ope", default="runs/ope", help="an OPE results folder (tracker.evaluation.otb_ope --out)")
    return parser.parse_args(argv)


def per_sequence(ope: Path) -> dict[str, dict[str, dict[str, float]]]:
    """``{"bdfa-b16": {"Deer": {"success_auc", "precision_20", "fps", "seeds"}}}`` from the result files."""
    settings = sweep_settings(ope)
    sequences = open_sequences(settings["otb"], settings["sequences"], dataset=settings.get("dataset", "otb"))
    table: dict[str, dict[str, dict[str, float]]] = {}
    for label, runs in tracker_rows(settings):
        for sequence in sequences:
            scored = [score_sequence(boxes, sequence.ground_truth, times)
                      for boxes, times in (read_result(ope / "results", run, sequence.name) for run in runs
                                           if has_result(ope / "results", run, sequence.name))]
            if scored:
                table.setdefault(label, {})[sequence.name] = {
                    "success_auc": float(np.mean([s.success.mean() for s in scored])),
                    "precision_20": float(np.mean([s.precision[20] for s in scored])),
                    "fps": sum(s.frames for s in scored) / sum(s.seconds for s in scored),
                    "seeds": len(scored)}
    return table


def run(args: argparse.Namespace) -> None:
    ope = Path(args.ope)
    table = per_sequence(ope)
    rows = [[label, name, entry["seeds"], entry["success_auc"], entry["precision_20"], entry["fps"]]
            for label, entries in table.items() for name, entry in entries.items()]
    report = markdown_table(["run", "sequence", "seeds", "success AUC", "precision@20", "fps"], rows)
    print(report)
    write_json(ope / "accuracy.json", table)
    write_text(ope / "accuracy.md", report + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
