"""What pretraining buys: OTB OPE of the tracker on several backbones, each tracked with several updaters.

    python -m studies.backbones --backbones imagenet=imagenet,bp=runs/weights/finetuned_bp.pt,\\
        cbdfa=runs/weights/finetuned_cbdfa.pt,mdnet=tracker/pretrained/mdnet.pt,\
        frozen_trunk=runs/weights/frozen_trunk_bp.pt \
        --updaters bp,bdfa --seeds 3 --jobs 2

(the fine-tuned files are made by the commands of docs/pretraining.md; only the shipped ones are the default)

Each backbone (its layout is the one its weights hold) is one ``tracker.evaluation.otb_ope`` sweep under
``--out``/<label> (so it resumes the same way: finished runs are kept), without anchors or peers;
this script then puts the backbones side by side: success AUC and precision@20 as mean ± std over
seeds, fps, and the pretraining record (final loss and accuracy) of each weights file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tracker.build import backbone_of  # noqa: E402
from tracker.config import load_config  # noqa: E402
from tracker.errors import ArgumentParser, TrackerError, quoted  # noqa: E402
from tracker.evaluation import otb_ope  # noqa: E402
from tracker.evaluation.harness import DEFAULT_OTB, Run, cli_main, markdown_table, record_setup, save_figure, write_json  # noqa: E402
from tracker.outputs import write_text  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="imagenet=imagenet,mdnet=tracker/pretrained/mdnet.pt",
                        help="comma list of label=weights ('none' = seeded random MDNet layout, 'imagenet' = the "
                             "ImageNet EfficientNet-Lite0 trunk with fresh fc4/fc5)")
    parser.add_argument("--otb", default=DEFAULT_OTB)
    parser.add_argument("--sequences", help="comma-separated names (default: every sequence found)")
    parser.add_argument("--updaters", default="bp,bdfa")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--config", help="YAML overrides for every run")
    parser.add_argument("--out", default="runs/backbones")
    parser.add_argument("--fresh", action="store_true", help="re-run finished runs")
    return parser.parse_args(argv)


def parse_backbones(text: str) -> dict[str, str]:
    backbones = {}
    for item in (t for t in text.split(",") if t):
        label, sep, weights = item.partition("=")
        if not sep or not label or not weights:
            raise TrackerError(f"--backbones wants label=weights items, got {quoted(item)}")
        if weights.lower() not in ("none", "imagenet") and not Path(weights).is_file():
            raise TrackerError(f"weights file not found: {weights} (backbone {quoted(label)})")
        backbones[label] = weights
    if not backbones:
        raise TrackerError("--backbones is empty")
    return backbones


def pretraining_record(weights: str) -> dict:
    """The metadata ``tracker.pretrain`` wrote beside a weights file (empty for 'none' and 'imagenet')."""
    meta = Path(weights).with_suffix(".json")
    return json.loads(meta.read_text()) if weights.lower() not in ("none", "imagenet") and meta.is_file() else {}


def run(args: argparse.Namespace) -> int:
    """One OPE sweep per backbone, then the table; 1 if any run failed (each sweep's report names it)."""
    backbones = parse_backbones(args.backbones)
    out = Path(args.out)
    summary: dict[str, dict] = {}
    status = 0
    for label, weights in backbones.items():
        sweep = ["--otb", args.otb, "--updaters", args.updaters, "--batch-sizes", str(args.batch_size),
                 "--seeds", str(args.seeds), "--jobs", str(args.jobs), "--anchors", "", "--peers", "",
                 "--weights", weights, "--out", str(out / label)]
        sweep += ["--sequences", args.sequences] if args.sequences else []
        sweep += ["--config", args.config] if args.config else []
        sweep += ["--fresh"] if args.fresh else []
        print(f"backbone {label}: {weights}", file=sys.stderr)
        status = max(status, otb_ope.run(otb_ope.parse_args(sweep)))
        groups = json.loads((out / label / "results.json").read_text())["groups"]
        record = pretraining_record(weights)
        summary[label] = {"weights": weights, "pretraining": {k: record.get(k) for k in (
            "fc_updater", "iterations", "final_loss", "final_accuracy", "architecture")} if record else None,
            "updaters": {u: {m: groups[f"{u}-b{args.batch_size}"][m] for m in ("success_auc", "precision_20", "fps")}
                         for u in args.updaters.split(",") if f"{u}-b{args.batch_size}" in groups}}
    report(summary, args, out)
    base = load_config(args.config)
    record_setup(out, args, [Run(label, base.replace(network={"backbone": backbone_of(weights,
                                                                                      base.network.backbone)}), weights)
                             for label, weights in backbones.items()])
    return status


def report(summary: dict, args: argparse.Namespace, out: Path) -> None:
    def spread(values: list[float]) -> str:
        return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

    rows = []
    for label, entry in summary.items():
        pre = entry["pretraining"]
        trained = f"{pre['fc_updater']}, loss {pre['final_loss']:.3f}, acc {pre['final_accuracy']:.3f}" if pre else "-"
        for updater, m in entry["updaters"].items():
            rows.append([label, trained, updater, len(m["success_auc"]), spread(m["success_auc"]),
                         spread(m["precision_20"]), float(np.mean(m["fps"]))])
    table = markdown_table(["backbone", "pretrained with (final loss, acc)", "tracked with", "seeds",
                            "success AUC", "precision@20", "fps"], rows)
    table += (f"\n\nbatch size {args.batch_size}; mean ± std over seeds; "
              "each seed's score is the mean over the sequences")
    print(table)
    write_text(out / "backbones.md", table + "\n")
    write_json(out / "backbones.json", {"batch_size": args.batch_size, "backbones": summary})

    labels, updaters = list(summary), args.updaters.split(",")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / len(updaters)
    for ax, metric, title in zip(axes, ("success_auc", "precision_20"), ("success AUC", "precision@20")):
        for i, updater in enumerate(updaters):
            values = [summary[b]["updaters"][updater][metric] for b in labels]
            ax.bar(np.arange(len(labels)) + i * width, [np.mean(v) for v in values], width,
                   yerr=[np.std(v) for v in values], capsize=3, label=f"tracked with {updater}")
        ax.set_xticks(np.arange(len(labels)) + width * (len(updaters) - 1) / 2, labels)
        ax.set_title(f"{title} (batch {args.batch_size})")
        ax.set_ylim(0, 1)
    axes[0].legend()
    save_figure(fig, out / "backbones.png", dpi=100)


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
