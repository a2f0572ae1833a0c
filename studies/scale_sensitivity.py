"""Does the classifier see scale? The target score of the true box grown and shrunk, per feature reading.

    python -m studies.scale_sensitivity            # the 30 pretraining (tuning) sequences, not OTB

For each sequence a tracker is initialised on the first frame (default settings: 50 learning steps
on 500 positives and 5000 negatives), then, on a few later frames, the ground-truth box is scaled by
``step ** k`` about its centre (k = -steps .. steps) and each scaled box is scored (fc6's target
logit), read three ways:

- ``shared``: the tracker's own reading, one map per frame resized for the previous target (here the
  true box), the scaled boxes' sample cells read off it;
- ``shared, map per scale``: one map per scaled box, resized for that box, so the image content is
  zoomed as a crop of its own would zoom it (what a scale pyramid of shared maps would read);
- ``exact``: one crop per box (a tracker initialised in exact mode).

A score that falls off on both sides of k = 0 lets the tracker correct its scale; a flat one leaves
the scale of the mean of the top candidates to wander. The table gives the mean score relative to
k = 0 and how often the best-scoring k is within one step of the truth.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tracker.box_estimation import scaled_about_centre
from tracker.build import build_tracker
from tracker.config import load_config
from tracker.data.sequence import Sequence
from tracker.errors import ArgumentParser, TrackerError
from tracker.evaluation.harness import cli_main, markdown_table, record_setup, save_figure, write_json
from tracker.evaluation.run import open_sequences
from tracker.features import frame_features
from tracker.frames import as_rgb
from tracker.mdnet import MDNetTracker
from tracker.outputs import write_text  # noqa: E402

DEFAULT_DATA = str(Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "pretrain")
READINGS = ("shared", "shared, map per scale", "exact")


def scaled_boxes(box: np.ndarray, step: float, steps: int) -> np.ndarray:
    """``box`` (x, y, w, h) scaled by step ** k about its centre, k = -steps .. steps."""
    return scaled_about_centre(box, step ** np.arange(-steps, steps + 1))


def score_boxes(tracker: MDNetTracker, image: np.ndarray, boxes: np.ndarray,
                reference: np.ndarray | None) -> np.ndarray:
    """fc6's target logit of each box, read in the tracker's feature mode; ``reference`` None: each box's
    map is resized for the box itself."""
    cfg = tracker.config
    groups = [(box, box[None]) for box in boxes] if reference is None else [(reference, boxes)]
    feats = torch.cat([frame_features(tracker.backbone, image, cfg.network.candidate_features, cfg.network.img_size,
                                      cfg.network.padding, ref,
                                      group, cfg.network.max_map_side).extract(group) for ref, group in groups])
    return tracker.head.positive_score(feats).numpy()


def probe_sequence(trackers: dict[str, MDNetTracker], sequence: Sequence, probe_frames: list[int], step: float,
                   steps: int) -> dict[str, list[list[float]]]:
    """Per reading, one row of scores relative to k = 0 for each probe frame with a valid box."""
    truth = sequence.ground_truth
    rows: dict[str, list[list[float]]] = {r: [] for r in READINGS}
    wanted = [f for f in probe_frames if f < len(truth) and np.all(truth[f, 2:] > 0)]
    for index, image in enumerate(sequence):
        if index == 0:
            for tracker in trackers.values():
                tracker.init(image, truth[0])
        if index in wanted:
            boxes, image = scaled_boxes(truth[index], step, steps), as_rgb(image)
            for reading in READINGS:
                tracker = trackers["exact" if reading == "exact" else "shared"]
                reference = truth[index] if reading == "shared" else None
                scores = score_boxes(tracker, image, boxes, reference)
                rows[reading].append((scores - scores[steps]).tolist())
        if index >= max(wanted, default=0):
            break
    return rows


def summarise(rows: dict[str, list[list[float]]], steps: int) -> list[list[object]]:
    table = []
    for reading in READINGS:
        scores = np.array(rows[reading])
        near = float(np.mean(np.abs(scores.argmax(axis=1) - steps) <= 1))
        table.append([reading, len(scores), *[float(v) for v in scores.mean(axis=0)], near])
    return table


def plot(rows: dict[str, list[list[float]]], step: float, steps: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    scales = step ** np.arange(-steps, steps + 1)
    for reading in READINGS:
        ax.plot(scales, np.mean(rows[reading], axis=0), marker="o", label=reading)
    ax.set_xscale("log")
    ax.set_xlabel("box scale relative to the ground truth")
    ax.set_ylabel("target logit minus the true box's")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def run(args: argparse.Namespace) -> None:
    if args.steps < 1 or not (args.step > 1 and np.isfinite(args.step)):
        raise TrackerError("--steps must be >= 1 and --step a finite number > 1")
    try:
        probe_frames = [int(f) for f in args.frames.split(",")]
    except ValueError:
        probe_frames = []
    if not probe_frames or min(probe_frames) < 1:
        raise TrackerError("--frames must be frame indices >= 1 (frame 0 initialises the tracker)")
    sequences = open_sequences(args.data, args.sequences.split(",") if args.sequences else None)
    names = [sequence.name for sequence in sequences]
    config = load_config(args.config)
    trackers = {mode: build_tracker(config.with_feature_mode(mode), args.weights, warn=False)
                for mode in ("shared", "exact")}
    rows: dict[str, list[list[float]]] = {r: [] for r in READINGS}
    for sequence in tqdm(sequences, desc="sequences", unit="seq"):
        for reading, scores in probe_sequence(trackers, sequence, probe_frames, args.step, args.steps).items():
            rows[reading] += scores
    if not rows["shared"]:
        raise TrackerError(f"none of the sequences has a valid box at frames {args.frames}")
    ks = range(-args.steps, args.steps + 1)
    header = ["reading", "cases", *[f"{args.step}^{k}" for k in ks], "best within 1 step"]
    table = markdown_table(header, summarise(rows, args.steps))
    table += (f"\n\nmean target logit relative to the true box's; {len(names)} sequences, frames {args.frames}, "
              "tracker initialised on frame 0")
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record_setup(out, args)
    write_json(out / "scale_sensitivity.json", {"step": args.step, "steps": args.steps, "sequences": names,
                                                "frames": probe_frames, "scores": rows})
    write_text(out / "scale_sensitivity.md", table + "\n")
    plot(rows, args.step, args.steps, out / "scale_sensitivity.png")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder of sequences in OTB layout")
    parser.add_argument("--sequences", help="comma-separated names (default: every sequence found)")
    parser.add_argument("--frames", default="5,10", help="frames probed after the first")
    parser.add_argument("--step", type=float, default=1.05, help="scale step (MDNet's candidate scale factor)")
    parser.add_argument("--steps", type=int, default=6, help="steps each way")
    parser.add_argument("--weights", help="as run_tracker's --weights (default: tracker/pretrained/default.pt)")
    parser.add_argument("--config", help="tracker YAML overrides")
    parser.add_argument("--out", default="runs/scale_sensitivity")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
