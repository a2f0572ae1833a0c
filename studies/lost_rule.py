"""Choosing the lost decision: which share of the sequence's own typical score, smoothed over how many frames,
tells absent frames from tracked ones.

    python -m tracker.evaluation.absence --otb ../shared/datasets/pretrain --peers '' --out runs/absence/tuning_default
    python -m studies.lost_rule --choose runs/absence/tuning_default --check runs/absence/otb_frames

Reads the per-frame scores an absence run saved (``runs/<tracker>/<splice>.json``, ``frames``) and, for every
ratio r and window n, flags a frame lost where MDNet's own decision does (score <= 0) or where the mean score
over the last n frames is at or under r times the reference: the median of the positive scores of the previous
``REFERENCE_FRAMES`` frames (a target's score depends on the target: small ones score low all along, so a fixed
threshold flags them while it misses clutter that scores high elsewhere). Reported per rule: absent frames
flagged (mean over splices) and tracked frames (IoU >= 0.5) flagged. The rule chosen flags the most absent
frames on the ``--choose`` runs (the tuning set) while flagging at most ``--max-false`` of tracked frames
there; ``--check`` shows what it does on other runs (OTB). The flags are those of the runs' own boxes: a rule
that also stops learning from the frames it flags changes the boxes, so its effect is measured by running the
benchmark with it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tracker.errors import ArgumentParser, TrackerError
from tracker.evaluation.harness import cli_main, markdown_table, publish, read_json
from tracker.lost_and_found import score_dropped

RATIOS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
WINDOWS = (1, 3, 5, 8)
REFERENCE_FRAMES = 100  # the tracker's n_frames_long: as far back as its classifier remembers


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--choose", required=True, help="an absence run (--out) to choose the rule on")
    parser.add_argument("--check", help="another absence run to show the chosen rule on (default: none)")
    parser.add_argument("--tracker", default="ours-s0", help="whose runs (default: %(default)s)")
    parser.add_argument("--max-false", type=float, default=0.10,
                        help="the largest share of tracked frames the rule may flag (default: %(default)s)")
    parser.add_argument("--out", default="runs/lost_rule", help="default: %(default)s")
    return parser.parse_args(argv)


def splices(run: Path, tracker: str) -> list[dict]:
    folder = run / "runs" / tracker
    found = [read_json(p, "run the absence benchmark again") for p in sorted(folder.glob("*.json"))]
    found = [f for f in found if f and "frames" in f]
    if not found:
        raise TrackerError(f"no per-frame scores under {folder}: run tracker.evaluation.absence (this version)")
    return found


def flagged(scores: np.ndarray, ratio: float, window: int) -> np.ndarray:
    """The tracker's flag (MDNet's failure, or :func:`~tracker.lost_and_found.score_dropped`) replayed on saved
    scores."""
    return np.array([score <= 0 or score_dropped(scores[max(t - REFERENCE_FRAMES, 0):t],
                                                 scores[max(t - window + 1, 0):t + 1], ratio, 0.0)
                     for t, score in enumerate(scores)], dtype=bool)


def rates(entries: list[dict], ratio: float, window: int) -> tuple[float, float]:
    """(absent frames flagged, tracked frames flagged), each the mean over splices."""
    absent, tracked = [], []
    for entry in entries:
        frames = entry["frames"]
        score, overlap = np.array(frames["score"]), np.array(frames["overlap"])
        present = np.array(frames["present"], dtype=bool)
        lost = flagged(score, ratio, window)
        if (~present).any():
            absent.append(lost[~present].mean())
        on_target = present & (overlap >= 0.5)
        if on_target.any():
            tracked.append(lost[on_target].mean())
    return float(np.mean(absent)), float(np.mean(tracked))


def run(args: argparse.Namespace) -> None:
    if not 0 <= args.max_false <= 1:
        raise TrackerError(f"--max-false must be in 0 .. 1, got {args.max_false}")
    chosen_on = splices(Path(args.choose), args.tracker)
    checked = splices(Path(args.check), args.tracker) if args.check else None
    rows, records = [], []
    for window in WINDOWS:
        for ratio in RATIOS:
            record = {"ratio": ratio, "window": window, "choose": rates(chosen_on, ratio, window)}
            if checked:
                record["check"] = rates(checked, ratio, window)
            records.append(record)
    allowed = [r for r in records if r["choose"][1] <= args.max_false]
    best = max(allowed, key=lambda r: (r["choose"][0], -r["choose"][1])) if allowed else None
    for r in records:
        rows.append([r["ratio"], r["window"], *r["choose"], *(r.get("check") or ("-", "-")),
                     "chosen" if r is best else ""])
    table = markdown_table(["ratio", "window", "absent flagged (choose)", "tracked flagged (choose)",
                            "absent flagged (check)", "tracked flagged (check)", ""], rows)
    table += (f"\n\nchosen on {args.choose} ({len(chosen_on)} splices): the most absent frames flagged with at most "
              f"{args.max_false:.0%} of tracked frames flagged; check: {args.check or '-'}"
              f"{f' ({len(checked)} splices)' if checked else ''}.")
    publish(Path(args.out), "lost_rule", table, {"settings": vars(args), "records": records, "chosen": best})


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
