"""Paired differences between learning rules in an OPE sweep: rule - BP per online batch size, with
95% bootstrap confidence intervals.

    python -m tracker.evaluation.paired --ope runs/ope --reference bp
    python -m tracker.evaluation.paired --ope runs/tuning/norm --reference-ope runs/ope

The second form compares a variant sweep (the same sequences and seeds under other settings,
``tracker.evaluation.otb_ope --config``) with the reference rule of another sweep.

Every (rule, batch size) of the sweep ran on the same sequences with the same seeds, so each
(sequence, seed) pair gives one difference of success AUC. The interval resamples sequences (the
unit that varies most), keeping each sequence's seeds together. A report only, over the results on
disk: writes ``paired.md``, ``paired.json`` and ``paired.png`` into the OPE folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tracker.errors import ArgumentParser, TrackerError  # noqa: E402
from tracker.evaluation.harness import cli_main, markdown_table, save_figure, sweep_settings, write_json  # noqa: E402
from tracker.evaluation.ope import finished_auc, run_name  # noqa: E402
from tracker.evaluation.run import open_sequences  # noqa: E402
from tracker.outputs import write_text  # noqa: E402

MAX_RESAMPLES = 1_000_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ope", default="runs/ope", help="an OPE results folder (tracker.evaluation.otb_ope --out)")
    parser.add_argument("--reference", default="bp", help="the rule the others are compared with")
    parser.add_argument("--reference-ope", help="the OPE folder holding the reference rule's runs (default: --ope)")
    parser.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's random seed")
    return parser.parse_args(argv)


def auc_grid(ope: Path, settings: dict, rule: str, batch: int) -> np.ndarray:
    """Success AUC per (sequence, seed); NaN where that run has not finished."""
    sequences = open_sequences(settings["otb"], settings["sequences"], dataset=settings.get("dataset", "otb"))
    grid = np.full((len(sequences), settings["seeds"]), np.nan)
    for i, sequence in enumerate(sequences):
        for seed in range(settings["seeds"]):
            finished = finished_auc(ope / "results", run_name(rule, batch, seed), sequence)
            if finished is not None:
                grid[i, seed] = finished[0]
    return grid


def bootstrap_interval(differences: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile interval of the mean difference, resampling rows (sequences) with replacement."""
    rows = rng.integers(0, len(differences), size=(resamples, len(differences)))
    means = np.nanmean(differences[rows].reshape(resamples, -1), axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def comparisons(ope: Path, settings: dict, reference: str, reference_ope: Path, reference_settings: dict) -> list:
    """(label, (folder, rule), (folder, rule)): every rule of the sweep minus the reference rule; with the
    reference from another sweep, also that sweep's own rule minus the reference, and the variant minus it
    (``default bdfa``: the rule as the reference sweep ran it), all on the variant's pairs."""
    if reference_ope == ope:
        return [(f"{rule} - {reference}", (ope, rule), (ope, reference))
                for rule in settings["updaters"] if rule != reference]
    out = []
    for rule in settings["updaters"]:
        out.append((f"{rule} - {reference}", (ope, rule), (reference_ope, reference)))
        if rule != reference and rule in reference_settings["updaters"]:
            out.append((f"default {rule} - {reference}", (reference_ope, rule), (reference_ope, reference)))
            out.append((f"{rule} - default {rule}", (ope, rule), (reference_ope, rule)))
    return out


def paired_differences(ope: Path, reference: str, resamples: int, seed: int, reference_ope: Path | None = None) -> dict:
    """``{label: {batch: {"mean", "low", "high", "pairs", "sequences"}}}`` over the (sequence, seed) pairs
    of the sweep in ``ope``, for each of :func:`comparisons`."""
    settings = sweep_settings(ope)
    reference_ope = reference_ope or ope
    reference_settings = settings if reference_ope == ope else sweep_settings(reference_ope)
    if reference not in reference_settings["updaters"]:
        raise TrackerError(f"--reference {reference} is not in the sweep in {reference_ope} "
                           f"({', '.join(reference_settings['updaters'])})")
    if reference_settings["sequences"] != settings["sequences"]:
        raise TrackerError(f"{ope} and {reference_ope} ran different sequences: no pairs to compare")
    rng = np.random.default_rng(seed)
    out: dict = {}
    for label, (folder_a, rule_a), (folder_b, rule_b) in comparisons(ope, settings, reference, reference_ope,
                                                                     reference_settings):
        for batch in settings["batch_sizes"]:
            differences = auc_grid(folder_a, settings, rule_a, batch) - auc_grid(folder_b, settings, rule_b, batch)
            pairs = int(np.isfinite(differences).sum())
            if pairs == 0:
                continue
            kept = differences[np.isfinite(differences).any(axis=1)]
            low, high = bootstrap_interval(kept, resamples, rng)
            out.setdefault(label, {})[batch] = {"mean": float(np.nanmean(kept)), "low": low, "high": high,
                                                "pairs": pairs, "sequences": len(kept)}
    return out


def run(args: argparse.Namespace) -> None:
    ope = Path(args.ope)
    reference_ope = Path(args.reference_ope) if args.reference_ope else ope
    if not 1 <= args.resamples <= MAX_RESAMPLES:
        raise TrackerError(f"--resamples must be in 1 .. {MAX_RESAMPLES}, got {args.resamples}")
    table = paired_differences(ope, args.reference, args.resamples, args.seed, reference_ope)
    if not table:
        raise TrackerError(f"no (sequence, seed) pair has finished in both {ope} and {reference_ope}: nothing to "
                           "compare yet")
    rows = [[label, batch, entry["sequences"], entry["pairs"], entry["mean"],
             f"[{entry['low']:+.3f}, {entry['high']:+.3f}]"]
            for label, batches in table.items() for batch, entry in sorted(batches.items(), reverse=True)]
    report = markdown_table(["difference", "batch", "sequences", "(sequence, seed) pairs", "mean success AUC",
                             "95% bootstrap interval"], rows)
    report += (f"\n\ninterval: {args.resamples} resamples of the sequences (each with its seeds), "
               f"bootstrap seed {args.seed}")
    if reference_ope != ope:
        report += (f"\n\nrules: {ope} (config: {sweep_settings(ope)['config_file'] or 'defaults'}); "
                   f"{args.reference}: {reference_ope}")
    print(report)
    write_json(ope / "paired.json", {"reference": args.reference, "reference_ope": str(reference_ope),
                                     "resamples": args.resamples,
                                     "differences": {r: {str(b): e for b, e in bs.items()} for r, bs in table.items()}})
    write_text(ope / "paired.md", report + "\n")
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, batches in table.items():
        sizes = sorted(batches)
        ax.plot(sizes, [batches[b]["mean"] for b in sizes], marker="o", label=label)
        ax.fill_between(sizes, [batches[b]["low"] for b in sizes], [batches[b]["high"] for b in sizes], alpha=0.2)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="online batch size", ylabel="success AUC difference",
           title="paired differences (95% bootstrap interval)")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, ope / "paired.png")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
