"""Several targets at once, measured: each target's accuracy tracked together against alone, and the frame's cost.

    python -m tracker.evaluation.targets --otb ../shared/datasets/otb --out runs/targets

Scenes: OTB folders with several targets (Jogging: two runners who cross), and pairs and quadruples of
sequences laid side by side in one frame (``--pairs Crossing+Dog,Bolt2+Biker``, ``--quads A+B+C+D``: each resized
to ``--cell-height`` pixels high, a 2x2 grid for four), each target scored against its own ground truth. Every
scene is tracked, per seed, by one :class:`~tracker.multi.MultiTargetTracker` holding all its targets, and by one
holding each target alone (the single tracker's boxes), on the same frames. Reported per scene: each target's
success AUC together and alone with the paired difference (mean over seeds, 95% bootstrap interval over targets
and seeds), and the mean time per frame of all targets together against one target's (the mean of the alone
runs): the issue's bound is 1 + 0.6 (N - 1). Timings count only on an idle machine.

Each (scene, seed, run) is saved under ``--out/runs/`` as it finishes; a second call resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from tracker.build import build_multi_tracker
from tracker.config import load_config
from tracker.data.otb import open_targets
from tracker.data.sequence import ArraySequence, Sequence
from tracker.errors import ArgumentParser, TrackerError
from tracker.evaluation.harness import DEFAULT_OTB, cli_main, held, markdown_table, read_json, write_json
from tracker.evaluation.metrics import scores
from tracker.evaluation.paired import bootstrap_interval
from tracker.evaluation.run import open_sequences, track_targets
from tracker.outputs import write_text

DEFAULT_PAIRS = "Crossing+Couple,Dog+Toy"
DEFAULT_QUADS = "Crossing+Couple+Dog+Toy"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB, help="an OTB-layout folder (default: ../shared/datasets/otb)")
    parser.add_argument("--folders", default="Jogging", help="comma list of folders with several targets, or ''")
    parser.add_argument("--pairs", default=DEFAULT_PAIRS, help="comma list of A+B, laid side by side, or ''")
    parser.add_argument("--quads", default=DEFAULT_QUADS, help="comma list of A+B+C+D, in a 2x2 grid, or ''")
    parser.add_argument("--cell-height", type=int, default=240, help="each laid-out sequence's height (pixels)")
    parser.add_argument("--max-frames", type=int, default=150, help="frames per scene (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="default: %(default)s")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--config", help="YAML overriding the defaults")
    parser.add_argument("--out", default="runs/targets", help="default: %(default)s")
    return parser.parse_args(argv)


def laid_out(sequences: list[Sequence], cell_height: int, max_frames: int) -> list[ArraySequence]:
    """``sequences`` side by side (two) or in a 2x2 grid (four), each resized to ``cell_height`` high: one
    sequence per target, sharing the frames, its boxes moved to where its sequence lies."""
    n = min(min(len(s.ground_truth) for s in sequences), max_frames)
    cells = []
    for sequence in sequences:
        first = sequence.first_frame()
        scale = cell_height / first.shape[0]
        cells.append((sequence, scale, int(round(first.shape[1] * scale))))
    columns = 2 if len(sequences) in (2, 4) else len(sequences)
    width = max(w for _, _, w in cells) * columns
    height = cell_height * -(-len(sequences) // columns)
    frames = [np.zeros((height, width, 3), np.uint8) for _ in range(n)]
    boxes = []
    for k, (sequence, scale, cell_width) in enumerate(cells):
        x0, y0 = (k % columns) * (width // columns), (k // columns) * cell_height
        for t, image in zip(range(n), sequence):
            frames[t][y0:y0 + cell_height, x0:x0 + cell_width] = cv2.resize(image, (cell_width, cell_height),
                                                                           interpolation=cv2.INTER_AREA)
        boxes.append(sequence.ground_truth[:n] * scale + np.array([x0, y0, 0.0, 0.0]))
    name = "+".join(s.name for s in sequences)
    return [ArraySequence(f"{name}.{k + 1}", frames, b) for k, b in enumerate(boxes)]


def scenes(args: argparse.Namespace) -> dict[str, list[Sequence]]:
    """Scene name -> one sequence per target (their frames the same)."""
    out: dict[str, list[Sequence]] = {}
    for folder in (f for f in args.folders.split(",") if f):
        out[folder] = open_targets(Path(args.otb) / folder)
    for spec in [p for p in args.pairs.split(",") if p] + [q for q in args.quads.split(",") if q]:
        names = spec.split("+")
        if len(names) not in (2, 4):
            raise TrackerError(f"a scene lays out 2 or 4 sequences, got {spec!r}")
        opened = {s.name: s for s in open_sequences(args.otb, names)}
        out[spec] = laid_out([opened[n] for n in names], args.cell_height, args.max_frames)
    if not out:
        raise TrackerError("no scene: give --folders, --pairs or --quads")
    return out


def track(config: object, targets: list[Sequence], max_frames: int) -> dict:
    """All ``targets`` in one tracker: each one's boxes, and the seconds of each frame after the first."""
    tracker = build_multi_tracker(config, warn=False)
    n = min(max_frames, *(len(t.ground_truth) for t in targets))
    frames = list(track_targets(tracker, targets[0], [t.ground_truth[0] for t in targets], n))
    tracker.close()
    return {"boxes": [[frame.results[i].box.tolist() for frame in frames] for i in frames[0].results],
            "seconds": [frame.seconds for frame in frames[1:]]}


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    out = Path(args.out)
    base = load_config(args.config)
    found = scenes(args)
    rows, records = [], {}
    for name, targets in tqdm(found.items(), desc="scenes", unit="scene"):
        records[name] = scene = {"targets": [t.name for t in targets], "seeds": {}}
        for seed in range(args.seeds):
            config = base.replace(seed=seed)
            runs = {}
            for label, group in [("together", targets)] + [(f"alone{k + 1}", [t]) for k, t in enumerate(targets)]:
                path = out / "runs" / name / f"s{seed}-{label}.json"
                if not path.is_file():
                    write_json(path, track(config, group, args.max_frames))
                runs[label] = read_json(path, f"delete {path} to run it again")
            together = [scores(np.array(b), t.ground_truth[:len(b)])["success_auc"]
                        for b, t in zip(runs["together"]["boxes"], targets)]
            alone = [scores(np.array(runs[f"alone{k + 1}"]["boxes"][0]), t.ground_truth[:len(
                runs[f"alone{k + 1}"]["boxes"][0])])["success_auc"] for k, t in enumerate(targets)]
            one = np.mean([np.mean(runs[f"alone{k + 1}"]["seconds"]) for k in range(len(targets))])
            scene["seeds"][seed] = {"together_auc": together, "alone_auc": alone,
                                    "together_ms": 1000 * float(np.mean(runs["together"]["seconds"])),
                                    "one_target_ms": 1000 * float(one)}
        seeds = list(scene["seeds"].values())
        differences = np.array([t - a for s in seeds for t, a in zip(s["together_auc"], s["alone_auc"])])
        low, high = bootstrap_interval(differences, 10000, np.random.default_rng(0))
        ratio = float(np.mean([s["together_ms"] / s["one_target_ms"] for s in seeds]))
        n = len(targets)
        scene.update({"auc_difference": float(differences.mean()), "auc_difference_95": [low, high],
                      "cost_ratio": ratio, "cost_bound": 1 + 0.6 * (n - 1)})
        rows.append([name, n, f"{np.mean([np.mean(s['alone_auc']) for s in seeds]):.3f}",
                     f"{np.mean([np.mean(s['together_auc']) for s in seeds]):.3f}",
                     f"{differences.mean():+.3f} [{low:+.3f}, {high:+.3f}]",
                     f"{np.mean([s['one_target_ms'] for s in seeds]):.1f}",
                     f"{np.mean([s['together_ms'] for s in seeds]):.1f}", f"{ratio:.2f}", f"{1 + 0.6 * (n - 1):.1f}"])
    table = markdown_table(["scene", "targets", "AUC alone", "AUC together", "together - alone [95%]",
                            "one target ms/frame", "together ms/frame", "cost ratio", "bound"], rows)
    table += (f"\n\n{args.seeds} seeds, {args.threads} torch thread(s), at most {args.max_frames} frames a scene; "
              "AUC: mean over targets and seeds; the interval is over (target, seed) pairs.")
    print(table)
    write_json(out / "targets.json", {"scenes": records, "seeds": args.seeds, "threads": args.threads,
                                      "max_frames": args.max_frames, "cell_height": args.cell_height})
    write_text(out / "targets.md", table + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: held(run, parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
