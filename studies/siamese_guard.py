"""Choosing the Siamese box stage's decoding and guard on the tuning set, by replaying the head on recorded runs.

    python -m studies.siamese_guard --record --seeds 0      # and --seeds 1, in another process
    python -m studies.siamese_guard --replay                # every variant, on every record

The head reports; it does not steer (``box_feedback`` off): the classifier's boxes, and so the tracker's whole
run, do not depend on the head's settings. So each (sequence, seed) is tracked once, with the default box stage
(``zoom_bbreg``), recording the box it reports on each frame and whether the box stage ran there (a tracked
frame). Each variant of ``siamese_head`` then replays NanoTrack's head alone on those frames: where the box
stage ran, :meth:`tracker.box_estimation.SiameseHead.follow` of the recorded box; elsewhere the recorded box,
as the tracker reports it. That is exactly the tracker's output with that variant, for a few ms a frame.

Variants change one setting at a time from ``START`` (the published decoding, a first guard), plus the head
unguarded (as an outside prototype ran it); a second round from the first round's best, a third from the
second's. Each is scored by success AUC, paired against ``zoom_bbreg`` on the
same (sequence, seed) runs, with a 95% bootstrap interval over sequences.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from tracker.box_estimation import SiameseHead
from tracker.build import build_tracker
from tracker.config import TrackerConfig, load_config
from tracker.errors import ArgumentParser
from tracker.evaluation.harness import cli_main, markdown_table, publish, read_json, write_json
from tracker.evaluation.metrics import scores
from tracker.evaluation.paired import bootstrap_interval
from tracker.evaluation.run import list_sequences

TUNING = str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pretrain")
# where the first round starts: NanoTrack v2's published decoding, the first guard tried, the classifier's centre
START = {"siamese_window": 0.49, "siamese_penalty_k": 0.15, "siamese_lr": 0.385, "siamese_min_score": 0.5,
         "siamese_max_shift": 0.5, "siamese_max_step": 1.1, "siamese_centre": 0.0, "siamese_min_iou": 0.0}
UNGUARDED = {"siamese_min_score": 0.0, "siamese_max_shift": 100.0, "siamese_max_step": 10.0, "siamese_centre": 1.0}
VARIANTS: dict[str, dict[str, object]] = {
    "guarded (defaults)": {},
    "unguarded, head's box as it is": UNGUARDED,
    "min_score 0": {"siamese_min_score": 0.0},
    "min_score 0.3": {"siamese_min_score": 0.3},
    "min_score 0.7": {"siamese_min_score": 0.7},
    "max_shift 0.25": {"siamese_max_shift": 0.25},
    "max_shift 1": {"siamese_max_shift": 1.0},
    "max_step 1.05": {"siamese_max_step": 1.05},
    "max_step 1.2": {"siamese_max_step": 1.2},
    "max_step 10": {"siamese_max_step": 10.0},
    "centre 0.5": {"siamese_centre": 0.5},
    "centre 1": {"siamese_centre": 1.0},
    "window 0.3": {"siamese_window": 0.3},
    "penalty_k 0.05": {"siamese_penalty_k": 0.05},
    "penalty_k 0.3": {"siamese_penalty_k": 0.3},
    "lr 0.6": {"siamese_lr": 0.6},
    "lr 0.2": {"siamese_lr": 0.2},
}
# the second round, from the first round's best (the head's centre reported): one change at a time again
CENTRE = {"siamese_centre": 1.0}
VARIANTS |= {f"centre 1, {name}": CENTRE | changes for name, changes in {
    "max_shift 0.25": {"siamese_max_shift": 0.25},
    "max_shift 0.35": {"siamese_max_shift": 0.35},
    "max_shift 0.75": {"siamese_max_shift": 0.75},
    "min_score 0.8": {"siamese_min_score": 0.8},
    "min_score 0.9": {"siamese_min_score": 0.9},
    "min_score 0.95": {"siamese_min_score": 0.95},
    "max_step 1.05": {"siamese_max_step": 1.05},
    "max_step 1.2": {"siamese_max_step": 1.2},
    "window 0.3": {"siamese_window": 0.3},
    "window 0.6": {"siamese_window": 0.6},
    "penalty_k 0.05": {"siamese_penalty_k": 0.05},
    "penalty_k 0.3": {"siamese_penalty_k": 0.3},
    "lr 0.3": {"siamese_lr": 0.3},
    "lr 0.5": {"siamese_lr": 0.5},
}.items()}
# the third round, against a neighbour of the target (OTB's Bolt2 runners, after round 2 was checked there): the
# head's box must also overlap the classifier's
CHOSEN = {"siamese_centre": 1.0, "siamese_min_score": 0.9}
VARIANTS |= {f"chosen, {name}": CHOSEN | changes for name, changes in {
    "as chosen": {},
    "min_iou 0.3": {"siamese_min_iou": 0.3},
    "min_iou 0.5": {"siamese_min_iou": 0.5},
    "min_iou 0.6": {"siamese_min_iou": 0.6},
    "min_iou 0.7": {"siamese_min_iou": 0.7},
    "min_iou 0.5, max_shift 0.25": {"siamese_min_iou": 0.5, "siamese_max_shift": 0.25},
    "min_iou 0.5, centre 0.5": {"siamese_min_iou": 0.5, "siamese_centre": 0.5},
    "max_shift 0.25": {"siamese_max_shift": 0.25},
    "centre 0.5": {"siamese_centre": 0.5},
}.items()}
# the fourth round, for Bolt2 with bp (a neighbour still taken at IoU 0.3-0.5): the head's centre only where its box
# overlaps the classifier's more, its size from IoU 0.3
VARIANTS |= {f"chosen, min_iou 0.3, centre_min_iou {v}": CHOSEN | {"siamese_min_iou": 0.3, "siamese_centre_min_iou": v}
             for v in (0.5, 0.6, 0.7)}
VARIANTS |= {"chosen, min_iou 0.4": CHOSEN | {"siamese_min_iou": 0.4},
             "chosen, min_iou 0.3, min_score 0.95": CHOSEN | {"siamese_min_iou": 0.3, "siamese_min_score": 0.95},
             "chosen, min_iou 0.4, min_score 0.95": CHOSEN | {"siamese_min_iou": 0.4, "siamese_min_score": 0.95}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="track and record the default's runs")
    parser.add_argument("--replay", action="store_true", help="replay every variant on the records")
    parser.add_argument("--root", default=TUNING, help="sequences (default: ../shared's tuning set)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated (default: %(default)s)")
    parser.add_argument("--variants", help="semicolon-separated names of VARIANTS (default: all)")
    parser.add_argument("--updater", default="bdfa", help="the recorded runs' learning rule (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch's and OpenCV's (default: %(default)s: two "
                        "processes share 2 cores)")
    parser.add_argument("--out", default="runs/siamese_guard", help="default: %(default)s")
    return parser.parse_args(argv)


def record(sequence: object, seed: int, updater: str, path: Path) -> None:
    """The default's run on ``sequence``: each frame's reported box and whether the box stage ran there."""
    config = load_config(seed=seed, box={"box_estimator": "zoom_bbreg"}, learning={"updater": updater})
    tracker = build_tracker(config, warn=False)
    frames = iter(sequence)
    tracker.init(next(frames), sequence.ground_truth[0])
    estimator = tracker.state.box_estimator
    ran = []
    estimate = estimator.estimate

    def recording(*args: object) -> np.ndarray:
        ran[-1] = True
        return estimate(*args)

    estimator.estimate = recording
    boxes = [sequence.ground_truth[0].tolist()]
    for image in frames:
        ran.append(False)
        boxes.append(tracker.update(image).tolist())
    tracker.close()
    write_json(path, {"sequence": sequence.name, "seed": seed, "boxes": boxes, "estimated": [False, *ran]})


def replay(sequence: object, entry: dict, configs: dict[str, TrackerConfig]) -> dict[str, list[list[float]]]:
    """Each variant's reported boxes on the recorded run ``entry``."""
    heads = {name: SiameseHead(config.box, config.network, backbone=None) for name, config in configs.items()}
    outputs: dict[str, list[list[float]]] = {name: [] for name in configs}
    for i, image in enumerate(sequence):
        recorded = np.asarray(entry["boxes"][i], dtype=np.float64)
        for name, head in heads.items():
            if i == 0:
                head.start(image, recorded)
                box = recorded
            else:
                box = head.follow(image, recorded) if entry["estimated"][i] else recorded
            outputs[name].append(box.tolist())
    return outputs


def replayed(config: TrackerConfig) -> dict[str, object]:
    """The settings a replay depends on: the head's (the records fix everything else)."""
    return {k: v for k, v in dataclasses.asdict(config.box).items() if k.startswith("siamese_")}


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    sequences = list_sequences(args.root)
    base = load_config(box={"box_estimator": "siamese_head"})
    configs = {name: base.replace(box=START | changes) for name, changes in VARIANTS.items()
               if args.variants is None or name in args.variants.split(";")}
    if args.record:
        for name, opener in tqdm(sequences.items(), desc="record", unit="seq"):
            for seed in seeds:
                path = out / "records" / f"{name}-s{seed}.json"
                if not path.is_file():
                    record(opener(), seed, args.updater, path)
    if not args.replay:
        return 0
    auc: dict[str, dict[str, float]] = {"zoom_bbreg": {}}
    for name, opener in tqdm(sequences.items(), desc="replay", unit="seq"):
        for seed in seeds:
            entry = read_json(out / "records" / f"{name}-s{seed}.json", "run --record first")
            key = f"{name}-s{seed}"
            cache = out / "replays" / f"{key}.json"
            done = read_json(cache, "delete it") or {}
            settings = {v: replayed(c) for v, c in configs.items()}
            todo = {v: c for v, c in configs.items() if done.get(v, {}).get("config") != settings[v]}
            if todo:
                sequence = opener()
                for variant, boxes in replay(sequence, entry, todo).items():
                    done[variant] = {"config": settings[variant], "boxes": boxes}
                write_json(cache, done)
            truth = opener().ground_truth
            auc["zoom_bbreg"][key] = scores(np.asarray(entry["boxes"]), truth)["success_auc"]
            for variant in configs:
                auc.setdefault(variant, {})[key] = scores(np.asarray(done[variant]["boxes"]), truth)["success_auc"]
    keys = sorted(auc["zoom_bbreg"])
    reference = np.array([auc["zoom_bbreg"][k] for k in keys])
    rows, data = [], {}
    rng = np.random.default_rng(0)
    for variant, by_key in auc.items():
        values = np.array([by_key[k] for k in keys])
        # sequences are the resampled unit: each one's difference averaged over its seeds
        per_sequence = (values - reference).reshape(-1, len(seeds)).mean(axis=1)
        low, high = bootstrap_interval(per_sequence, 10_000, rng)
        worst = int(np.argmin(per_sequence))
        rows.append([variant, f"{values.mean():.3f}", f"{per_sequence.mean():+.3f} [{low:+.3f}, {high:+.3f}]",
                     f"{keys[worst * len(seeds)].rsplit('-s', 1)[0]} {per_sequence[worst]:+.3f}"])
        data[variant] = {"changes": VARIANTS.get(variant, {}), "mean_auc": float(values.mean()),
                         "paired": [float(per_sequence.mean()), low, high], "per_run": by_key}
    table = markdown_table(["variant", "success AUC", "minus zoom_bbreg [95%]", "worst sequence"], rows)
    header = f"{len(keys) // len(seeds)} sequences x {len(seeds)} seeds ({args.root}), {args.updater}, batch 128\n\n"
    publish(out, "siamese_guard", header + table, {"root": args.root, "seeds": seeds, "variants": data})
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return cli_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
