"""The NanoTrack head's score as the verifier the lost flag lacks: for the flag, and for taking a re-detection.

    python -m studies.siamese_verifier --otb ../shared/datasets/pretrain --out runs/siamese_verifier/tuning
    python -m studies.siamese_verifier --otb ../shared/datasets/otb --out runs/siamese_verifier/otb \\
        --choose runs/siamese_verifier/tuning/siamese_verifier.json

Each target of the folder is spliced as the absence benchmark splices it (``--absent`` frames of another video,
then the target again, moved on: ``tracker.evaluation.absence.splice``). The default tracker (seed 0), its flag and
re-detection without the head (as they were when this was measured: the head's verdict is now the default's flag),
runs on it,
and on every frame a second NanoTrack head, its template the given box, reads the search region about the
reported box: its best cell's probability, and how much that cell's box overlaps ours. The head compares the
frame with the first frame, as a Siamese verifier does; our score is the online classifier's. Each whole-frame
search's best box gets the same reading. Compared, pooled over splices:

- each signal's ROC AUC, frames on the target (IoU >= 0.5) against frames where it is absent or the box is
  elsewhere (IoU < 0.1): our score; the head's probability; the head's *agreement*, its probability where its box
  overlaps ours by IoU >= ``AGREE`` and 0 elsewhere;
- lost flags: ours (the default's), the head's alone (signal < t) and ours OR the head's, for each t of
  ``THRESHOLDS``: the share of absent frames flagged and of tracked frames flagged;
- searches: how well our search score, its likeness and the head's probability at the search's box tell a box
  on the returning target (centre inside the true box) from the rest (ROC AUC).

The rule is chosen on ``--choose``'s run (the tuning set's): among those flagging at most ``MAX_TRACKED_FLAGGED``
of tracked frames, the most absent frames flagged net of tracked frames flagged; shown on this folder's splices.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import mannwhitneyu
from tqdm import tqdm

from tracker.box_estimation import nanotrack_head
from tracker.boxes import centres, iou
from tracker.build import build_tracker
from tracker.config import load_config
from tracker.errors import ArgumentParser
from tracker.evaluation.absence import centre_inside, filler_for, splice
from tracker.evaluation.harness import DEFAULT_OTB, cli_main, markdown_table, publish, read_json, write_json
from tracker.evaluation.run import open_sequences

AGREE = 0.3  # the default guard's overlap bar (siamese_min_iou)
THRESHOLDS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
MAX_TRACKED_FLAGGED = 0.10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB, help="an OTB-layout folder (default: ../shared/datasets/otb)")
    parser.add_argument("--absent", type=int, default=60, help="frames the target is away (default 60)")
    parser.add_argument("--choose", help="the tuning run's siamese_verifier.json, whose chosen thresholds to show")
    parser.add_argument("--out", default="runs/siamese_verifier", help="default: %(default)s")
    return parser.parse_args(argv)


def run_splice(sequence: object) -> dict:
    """Per frame after the first: ours (score, lost flag, overlap with the truth, whether the target is there)
    and the head's reading about our box (probability, overlap of its box with ours); per search, the same."""
    # the tracker as it was measured: the classifier's own flag and re-detection bars (the head is what is measured)
    config = load_config(seed=0, lost_flag={"lost_head_agreement": 0.0}, redetection={"redetect_head_min": 0.0})
    tracker = build_tracker(config, warn=False)
    head = nanotrack_head(config.box)
    frames = iter(sequence)
    first = next(frames)
    tracker.init(first, sequence.ground_truth[0])
    head.set_template(first, sequence.ground_truth[0])
    rows, searches = [], []
    for index, image in enumerate(frames, 1):
        result = tracker.track_frame(image)
        reading = head.read(image, centres(result.box), result.box[2:])
        truth = sequence.ground_truth[index]
        present = bool(np.all(np.isfinite(truth)))
        rows.append({"score": result.score, "lost": result.lost, "present": present,
                     "overlap": float(iou(result.box[None], truth[None])[0]) if present else 0.0,
                     "head": reading.score, "head_overlap": float(iou(reading.box[None], result.box[None])[0])})
        found = tracker.state.redetector.searches
        if found and found[-1].frame == index:
            search = found[-1]
            at_search = head.read(image, centres(search.box), search.box[2:])
            searches.append({"score": search.score, "likeness": search.likeness,
                             "hit": present and centre_inside(search.box, truth), "head": at_search.score})
    tracker.close()
    return {"frames": rows, "searches": searches}


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    if not len(positive) or not len(negative):
        return None
    return float(mannwhitneyu(positive, negative).statistic / (len(positive) * len(negative)))


def analyse(runs: dict[str, dict], chosen: dict | None) -> tuple[str, dict]:
    frames = [row for run in runs.values() for row in run["frames"]]
    searches = [s for run in runs.values() for s in run["searches"]]

    def column(key: str, rows: list[dict]) -> np.ndarray:
        return np.array([row[key] for row in rows], dtype=np.float64)

    present, overlap, lost = column("present", frames) > 0, column("overlap", frames), column("lost", frames) > 0
    on_target, wrong, absent = present & (overlap >= 0.5), ~present | (overlap < 0.1), ~present
    signals = {"ours: target score": column("score", frames), "head: probability": column("head", frames),
               "head: agreement": column("head", frames) * (column("head_overlap", frames) >= AGREE)}
    roc = {name: roc_auc(values[on_target], values[wrong]) for name, values in signals.items()}
    rules = {"ours (default)": lost}
    for t in THRESHOLDS:
        rules[f"head agreement < {t}"] = signals["head: agreement"] < t
        rules[f"ours or head agreement < {t}"] = lost | (signals["head: agreement"] < t)
    flags = {name: {"absent_flagged": float(flag[absent].mean()), "tracked_flagged": float(flag[on_target].mean())}
             for name, flag in rules.items()}
    # Youden's J: absent frames flagged minus tracked frames flagged, among the rules within the bound
    eligible = {n: f["absent_flagged"] - f["tracked_flagged"] for n, f in flags.items()
                if f["tracked_flagged"] <= MAX_TRACKED_FLAGGED}
    best = max(eligible, key=eligible.get) if eligible else None
    hits = column("hit", searches) > 0
    search_roc = {key: roc_auc(column(key, searches)[hits], column(key, searches)[~hits])
                  for key in ("score", "likeness", "head")}

    lines = [f"{len(runs)} splices, {len(frames)} frames ({int(absent.sum())} absent, {int(on_target.sum())} on the "
             f"target), {len(searches)} whole-frame searches ({int(hits.sum())} on the returning target)", "",
             markdown_table(["signal", "ROC AUC (on the target vs absent or elsewhere)"],
                            [[n, "-" if v is None else f"{v:.3f}"] for n, v in roc.items()]), "",
             markdown_table(["lost flag", "absent flagged", "tracked flagged"],
                            [[n + (" (chosen here)" if n == best else "") + (" (chosen on the tuning set)"
                                                                             if chosen and n == chosen.get("best")
                                                                             else ""),
                              f"{100 * f['absent_flagged']:.1f}%", f"{100 * f['tracked_flagged']:.1f}%"]
                             for n, f in flags.items()]), "",
             markdown_table(["search signal", "ROC AUC (on the returning target vs not)"],
                            [[n, "-" if v is None else f"{v:.3f}"] for n, v in search_roc.items()])]
    return "\n".join(lines), {"roc": roc, "flags": flags, "best": best, "search_roc": search_roc,
                              "splices": len(runs), "frames": len(frames), "searches": len(searches)}


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    out = Path(args.out)
    sequences = open_sequences(args.otb)
    runs = {}
    for i, target in enumerate(tqdm(sequences, desc="splices", unit="seq")):
        made = splice(target, filler_for(sequences, i), args.absent)
        if made is None:
            continue
        sequence = made[0]
        path = out / "runs" / f"{sequence.name}.json"
        done = read_json(path, "delete it to redo that run")
        if not done:
            done = run_splice(sequence)
            write_json(path, done)
        runs[sequence.name] = done
    chosen = read_json(Path(args.choose), "give the tuning run's siamese_verifier.json") if args.choose else None
    table, data = analyse(runs, chosen)
    publish(out, "siamese_verifier", f"{args.otb}, seed 0, absent {args.absent} frames\n\n{table}", data)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return cli_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
