"""Does a feedback rule's early alignment with BP predict how well it tracks the sequence?

    python -m studies.alignment --ope runs/ope --updaters dfa,bdfa --batch-size 128 --frames 50

For every (rule, sequence, seed) of an OPE sweep this reruns the first ``--frames`` frames with
``alignment_diagnostics`` (the same settings, seed and weights, so the same boxes: checked against the
sweep's) and takes the mean angle between the rule's fc4 / fc5 updates and BP's gradient over those
frames' learning steps. It then ranks the angles against the sweep's full-sequence success AUC, and
against the AUC minus BP's on the same (sequence, seed): Spearman's rho, with a 95% bootstrap interval
resampling sequences. Each finished pair is saved at once (``pairs.json``); a rerun resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from tqdm import tqdm  # noqa: E402

from tracker.build import build_tracker  # noqa: E402
from tracker.config import from_dict  # noqa: E402
from tracker.data.sequence import Sequence  # noqa: E402
from tracker.errors import ArgumentParser, TrackerError  # noqa: E402
from tracker.evaluation.harness import (  # noqa: E402
    cli_main,
    markdown_table,
    read_json,
    run_setup,
    save_figure,
    sweep_settings,
    write_json,
)
from tracker.evaluation.ope import finished_auc, run_name  # noqa: E402
from tracker.evaluation.run import open_sequences, run_sequence  # noqa: E402
from tracker.outputs import write_text  # noqa: E402

LAYERS = ("fc4", "fc5")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ope", default="runs/ope", help="the OPE sweep whose runs are explained")
    parser.add_argument("--updaters", default="dfa,bdfa")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 (default: the sweep's)")
    parser.add_argument("--frames", type=int, default=50, help="frames whose learning steps are measured")
    parser.add_argument("--reference", default="bp", help="the rule whose AUC the differences are taken to")
    parser.add_argument("--weights", help="the sweep's weights (default: tracker/pretrained/default.pt)")
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--out", default="runs/alignment")
    return parser.parse_args(argv)


def sequence_auc(ope: Path, rule: str, batch: int, seed: int, sequence: Sequence) -> tuple[float, np.ndarray]:
    name = run_name(rule, batch, seed)
    finished = finished_auc(ope / "results", name, sequence)
    if finished is None:
        raise TrackerError(f"{ope} has no finished {name} run of {sequence.name}: finish the sweep first")
    return finished


def measure_pair(settings: dict, args: argparse.Namespace, rule: str, seed: int, sequence: Sequence) -> dict:
    """One (rule, sequence, seed): the early angles, the sweep's AUC and whether the boxes agree."""
    config = from_dict(settings["setup"]["config"]).replace(
        seed=seed, learning={"updater": rule, "alignment_diagnostics": True}, updates={"batch_size": args.batch_size})
    tracker = build_tracker(config, args.weights, warn=False)
    result = run_sequence(tracker, sequence, args.frames)
    diagnostics = tracker.updater.diagnostics()
    ope = Path(args.ope)
    auc, sweep_boxes = sequence_auc(ope, rule, args.batch_size, seed, sequence)
    reference_auc, _ = sequence_auc(ope, args.reference, args.batch_size, seed, sequence)
    n = len(result.boxes)
    return {"rule": rule, "sequence": sequence.name, "seed": seed, "frames": n,
            "steps": diagnostics["steps"],
            **{f"angle_{layer}": diagnostics[f"angle_{layer}_mean_deg"] for layer in LAYERS},
            "success_auc": auc, "auc_minus_reference": auc - reference_auc,
            "same_boxes_as_sweep": bool(np.allclose(result.boxes, sweep_boxes[:n], atol=1e-3))}


def rank_correlation(pairs: list[dict], x: str, y: str, resamples: int, rng: np.random.Generator) -> dict:
    """Spearman's rho of ``x`` against ``y`` over the pairs, and a 95% interval resampling sequences."""
    names = sorted({p["sequence"] for p in pairs})
    by_sequence = {n: [(p[x], p[y]) for p in pairs if p["sequence"] == n] for n in names}
    values = np.array([v for n in names for v in by_sequence[n]])
    rho = float(spearmanr(values[:, 0], values[:, 1]).statistic)
    draws = []
    for _ in range(resamples):
        sample = np.array([v for i in rng.integers(0, len(names), len(names)) for v in by_sequence[names[i]]])
        if np.ptp(sample[:, 0]) > 0 and np.ptp(sample[:, 1]) > 0:
            draws.append(spearmanr(sample[:, 0], sample[:, 1]).statistic)
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"rho": rho, "low": float(low), "high": float(high), "pairs": len(values)}


def run(args: argparse.Namespace) -> None:
    ope, out = Path(args.ope), Path(args.out)
    settings = sweep_settings(ope)
    if args.batch_size not in settings["batch_sizes"]:
        raise TrackerError(f"the sweep in {ope} has no batch size {args.batch_size}")
    config = from_dict(settings["setup"]["config"])
    if run_setup(config, args.weights)["backbone"] != settings["setup"]["backbone"]:
        raise TrackerError(f"--weights {args.weights or 'default'} are not the weights the sweep in {ope} used")
    updaters = [u for u in args.updaters.split(",") if u]
    missing = [u for u in updaters + [args.reference] if u not in settings["updaters"]]
    if missing:
        raise TrackerError(f"the sweep in {ope} did not run {', '.join(missing)}")
    seeds = args.seeds or settings["seeds"]
    if seeds > settings["seeds"] or seeds < 1 or args.frames < 2:
        raise TrackerError(f"--seeds must be 1..{settings['seeds']} (the sweep's) and --frames at least 2")
    sequences = open_sequences(settings["otb"], settings["sequences"], dataset=settings.get("dataset", "otb"))
    out.mkdir(parents=True, exist_ok=True)
    store = out / "pairs.json"
    key = {"ope": str(ope), "batch_size": args.batch_size, "frames": args.frames}
    saved = read_json(store, "delete it and run the same command again (its pairs are measured again)")
    pairs = saved["pairs"] if saved.get("key") == key else []
    done = {(p["rule"], p["sequence"], p["seed"]) for p in pairs}
    todo = [(u, s, q) for s in range(seeds) for u in updaters for q in sequences if (u, q.name, s) not in done]
    for rule, seed, sequence in tqdm(todo, desc="alignment", unit="run"):
        pairs.append(measure_pair(settings, args, rule, seed, sequence))
        write_json(store, {"key": key, "pairs": pairs})
    pairs = [p for p in pairs if p["rule"] in updaters and p["seed"] < seeds]

    rng = np.random.default_rng(0)
    rows, table = [], {}
    for rule in updaters:
        mine = [p for p in pairs if p["rule"] == rule]
        for layer in LAYERS:
            for target in ("success_auc", "auc_minus_reference"):
                entry = rank_correlation(mine, f"angle_{layer}", target, args.resamples, rng)
                table[f"{rule}/{layer}/{target}"] = entry
                rows.append([rule, layer, f"{np.mean([p[f'angle_{layer}'] for p in mine]):.1f}",
                             target.replace("reference", args.reference), entry["pairs"], entry["rho"],
                             f"[{entry['low']:+.2f}, {entry['high']:+.2f}]"])
    agree = sum(p["same_boxes_as_sweep"] for p in pairs)
    report = markdown_table(["rule", "layer", "mean angle (deg)", "against", "(sequence, seed) pairs",
                             "Spearman rho", "95% bootstrap interval"], rows)
    report += (f"\n\nangles: mean over the learning steps of the first {args.frames} frames, batch "
               f"{args.batch_size}; AUC: the full sequence in {ope}. Boxes equal to the sweep's on "
               f"{agree} of {len(pairs)} pairs.")
    print(report)
    write_text(out / "alignment.md", report + "\n")
    write_json(out / "alignment.json", {"key": key, "correlations": table, "pairs": pairs})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, target in zip(axes, ("success_auc", "auc_minus_reference")):
        for rule in updaters:
            mine = [p for p in pairs if p["rule"] == rule]
            ax.scatter([p["angle_fc4"] for p in mine], [p[target] for p in mine], s=12, label=rule)
        ax.set(xlabel=f"fc4 angle to BP over the first {args.frames} frames (deg)",
               ylabel=target.replace("_", " ").replace("reference", args.reference))
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, out / "alignment.png")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
