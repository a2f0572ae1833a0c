"""Choosing when a whole-frame search's best box is taken: how often to search, how far above the sequence's
typical score the box must score, and whether a second search on the next frame must agree.

    python -m tracker.evaluation.absence --otb ../shared/datasets/pretrain --peers '' \\
        --config results/absence/configs/searches_only.yaml --out runs/absence/searches_tuning
    python -m studies.redetect_rule --choose runs/absence/searches_tuning --check runs/absence/searches_otb

Reads absence runs made with ``searches_only.yaml`` (a search on every frame flagged lost, none taken, so the
boxes are the default's) and replays every rule on their searches. A rule searches on every ``interval``-th
consecutive frame flagged lost and takes the best box where its score exceeds both ``floor`` and ``ratio``
times the typical score (the median successful score of the 100 frames before the flag was raised:
``tracker.lost_and_found.typical_score``) and whose likeness to the given target (cosine of trunk features) is at
least ``likeness`` times the target's typical likeness then; with ``confirm``, only where the search of the
next frame, also above that bar, puts its best box on it (IoU >= ``REDETECT_AGREE``). Until a box is taken
the tracker is the default, so each splice's first taken box is what a rule decides, one of:

- *on the target*: its centre on the target (inside the true box): the tracker's own search, about it, then
  fits the box;
- *found in time*: that, within ``RECOVER_WITHIN`` frames of the target's return (a return the default
  already tracks counts too, so that a rule is scored on all returns, as the benchmark does);
- *wrong*: taken while the target is absent, or on something else while it is there.

Chosen on ``--choose`` (the tuning set): the most returns found in time net of the splices taking a wrong box,
then the fewest wrong, then the fewest searches (the largest interval); ``--check`` shows it on other runs
(OTB).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from studies.lost_rule import REFERENCE_FRAMES, splices
from tracker.boxes import iou
from tracker.errors import ArgumentParser, TrackerError
from tracker.evaluation.absence import returns
from tracker.evaluation.harness import cli_main, markdown_table, publish
from tracker.lost_and_found import REDETECT_AGREE, typical_score

INTERVALS = (1, 3, 5)
RATIOS = (0.0, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 2.0, 2.5, 3.0)
FLOORS = (0.0, 1.0, 2.0, 3.0)
LIKENESS = (0.0, 0.7, 0.8, 0.9, 1.0, 1.1)
RECOVER_WITHIN = 30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--choose", required=True, help="a searches_only absence run to choose the rule on")
    parser.add_argument("--check", help="another such run to show the chosen rule on (default: none)")
    parser.add_argument("--tracker", default="ours-s0", help="whose runs (default: %(default)s)")
    parser.add_argument("--out", default="runs/redetect_rule", help="default: %(default)s")
    return parser.parse_args(argv)


def first_taken(entry: dict, interval: int, ratio: float, floor: float, likeness: float,
                confirm: bool) -> dict | None:
    """The first search whose box the rule takes (None: none), with the frame it is taken on."""
    frames = entry["frames"]
    scores, lost = np.array(frames["score"]), np.array(frames["lost"], dtype=bool)
    searched = {s["frame"]: s for s in entry["searches"]}
    run_start = None
    for index, flagged in enumerate(lost):
        frame = index + 1  # the saved frames start after the given one
        if not flagged:
            run_start = None
            continue
        run_start = frame if run_start is None else run_start
        if (frame - run_start + 1) % interval or frame not in searched:
            continue
        start = run_start - 1
        bar = max(floor, ratio * typical_score(scores[max(start - REFERENCE_FRAMES, 0):start], 0.0))
        search = searched[frame]
        if search["score"] <= bar or search["likeness"] < likeness * search["typical_likeness"]:
            continue
        if not confirm:
            return {**search, "taken": frame}
        after = searched.get(frame + 1)
        agree = after and iou(np.array([search["box"]]), np.array([after["box"]]))[0] >= REDETECT_AGREE
        if agree and after["score"] > bar and after["likeness"] >= likeness * after["typical_likeness"]:
            return {**after, "taken": frame + 1}
    return None


def outcome(entry: dict, taken: dict | None) -> str:
    """'none', 'wrong', 'target' (on the target before the absence) or 'found' / 'late' after the return."""
    if taken is None:
        return "none"
    present = np.array(entry["frames"]["present"], dtype=bool)
    if not taken["hit"]:
        return "wrong"
    back = returns(present) + 1  # frame numbers of the returns (the saved frames start after the given one)
    before = back[back <= taken["taken"]]
    if not len(before):
        return "target"
    return "found" if taken["taken"] - before[-1] <= RECOVER_WITHIN else "late"


def tally(entries: list[dict], rule: tuple) -> dict[str, int]:
    """Splices per outcome of their first box taken, and ``found_total``: returns found in time, counting the
    ones the default's own box finds where no box was taken before it (a box taken later is then moot)."""
    counts = dict.fromkeys(("none", "target", "found", "late", "wrong", "found_total"), 0)
    for entry in entries:
        result = outcome(entry, first_taken(entry, *rule))
        counts[result] += 1
        counts["found_total"] += result == "found" or (result in ("none", "late") and default_found(entry))
    return counts


def default_found(entry: dict) -> bool:
    frames = entry["frames"]
    present, overlap = np.array(frames["present"], dtype=bool), np.array(frames["overlap"])
    back = returns(present)
    return bool(len(back)) and bool((overlap[back[0]:back[0] + RECOVER_WITHIN + 1] >= 0.5).any())


def run(args: argparse.Namespace) -> None:
    chosen_on = [e for e in splices(Path(args.choose), args.tracker) if "searches" in e]
    if not chosen_on:
        raise TrackerError(f"no searches in {args.choose}: run the absence benchmark with searches_only.yaml")
    checked = [e for e in splices(Path(args.check), args.tracker) if "searches" in e] if args.check else None
    records = []
    for rule in itertools.product(INTERVALS, RATIOS, FLOORS, LIKENESS, (False, True)):
        record = {"rule": dict(zip(("interval", "ratio", "floor", "likeness", "confirm"), rule)),
                  "choose": tally(chosen_on, rule)}
        if checked:
            record["check"] = tally(checked, rule)
        records.append(record)
    best = max(records, key=lambda r: (r["choose"]["found_total"] - r["choose"]["wrong"], -r["choose"]["wrong"],
                                       r["rule"]["interval"]))
    rows = [[*r["rule"].values(), r["choose"]["wrong"], r["choose"]["found_total"],
             *((r["check"]["wrong"], r["check"]["found_total"]) if checked else ("-", "-")),
             "chosen" if r is best else ""] for r in records]
    note = (f"{len(chosen_on)} splices to choose on ({args.choose}), {len(checked or [])} to check "
            f"({args.check or '-'}): splices whose first box taken is wrong, and returns found within "
            f"{RECOVER_WITHIN} frames.")
    header = ["interval", "ratio", "floor", "likeness", "confirm", "wrong (choose)", "found (choose)", "wrong (check)",
              "found (check)", ""]
    publish(Path(args.out), "redetect_rule", f"{markdown_table(header, rows)}\n\n{note}",
            {"settings": vars(args), "records": records, "chosen": best})


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
