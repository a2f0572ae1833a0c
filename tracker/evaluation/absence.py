"""Lost and found: does the tracker say when the target is gone, and find it again when it comes back?

    python -m tracker.evaluation.absence --otb ../shared/datasets/otb --peers nano

Each target sequence of an OTB-layout folder is spliced: its frames up to a cut, then ``--absent`` frames of
the next sequence in the folder from another video (resized to its frame size; the target is absent: ground
truth NaN), then the target sequence again, resumed ``--absent`` frames after the cut (it has moved on).
Every tracker (ours per seed, and the OpenCV peers) runs on every splice in the same run. Per splice and
overall:

- *absent flagged lost*: the fraction of absent frames the tracker calls lost;
- *tracked flagged lost*: the fraction of frames where it is on the target (IoU >= 0.5) and calls it lost;
- *recovered within N*: whether it is on the target again within ``--recover-within`` frames of its return,
  and after how many frames;
- the VOT long-term *F-score*: tracking precision (mean IoU over the frames it reports the target, at a
  confidence threshold) and recall (mean IoU over the frames the target is there, counting frames it does
  not report as 0), their harmonic mean maximised over thresholds. Our confidence is the target score
  (a frame judged lost reports nothing); a peer's is 1 where it reports the target, 0 where it says lost;
- the *score's ROC AUC*: how well the score alone tells frames on the target from frames where the target
  is absent or the box is elsewhere (IoU < 0.1), pooled over splices: what a lost threshold can reach.

With ``--dataset got10k`` or ``--dataset lasot`` (and ``--root``), nothing is spliced: each sequence of that
benchmark runs as it is, and its absent frames are the ones it labels so (GOT-10k's ``absence.label`` or
``cover.label`` 0, LaSOT's ``full_occlusion.txt`` and ``out_of_view.txt``; ``tracker/data/layouts.py``). A
sequence may then lose and regain its target several times: *found again* is the share of its returns (a
labelled frame after absent ones) found within ``--recover-within`` frames, and *frames to recover* their
mean over the returns found.

Each run's rows are written as they finish (``runs/<tracker>/<splice>.json``), so a re-run resumes.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import mannwhitneyu
from tqdm import tqdm

from tracker.boxes import centres, iou
from tracker.build import build_tracker
from tracker.config import load_config
from tracker.data.sequence import ArraySequence, Sequence
from tracker.errors import ArgumentParser, TrackerError
from tracker.evaluation.harness import (
    DEFAULT_OTB,
    cli_main,
    guard_resume,
    held,
    markdown_table,
    read_json,
    require_data,
    run_setup,
    write_json,
)
from tracker.evaluation.peers import DEFAULT_MODELS, OpenCVTracker, peer
from tracker.evaluation.run import open_sequences, release, track
from tracker.lost_and_found import Search
from tracker.outputs import write_text

SUMMARY_KEYS = ("absent_flagged_lost", "tracked_flagged_lost", "returns", "frames_to_recover", "recovered", "f_score")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB, help="an OTB-layout folder (default: ../shared/datasets/otb)")
    parser.add_argument("--dataset", default="splices", choices=("splices", "got10k", "lasot"),
                        help="splices of --otb's sequences (default), or a benchmark that labels absence, read "
                             "from --root")
    parser.add_argument("--root", help="the --dataset's folder (got10k: a subset folder such as val/; lasot)")
    parser.add_argument("--sequences", default="", help="comma list of targets (default: all)")
    parser.add_argument("--absent", type=int, default=60, help="frames the target is away (default 60)")
    parser.add_argument("--recover-within", type=int, default=30,
                        help="frames after its return within which it must be found again (default 30)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 of ours (default 1)")
    parser.add_argument("--config", help="YAML overriding our defaults (default: none)")
    parser.add_argument("--weights", help="our weights (default: the shipped ones)")
    parser.add_argument("--peers", default="nano", help="comma list of OpenCV peers (default: nano)")
    parser.add_argument("--peer-models", default=str(DEFAULT_MODELS), help="the peers' ONNX files")
    parser.add_argument("--out", default="runs/absence", help="results folder (default: runs/absence), resumed where "
                        "it stopped if its runs were made with the same settings")
    parser.add_argument("--fresh", action="store_true", help="run everything again, whatever --out holds")
    return parser.parse_args(argv)


def checked_record(record: dict, path: Path) -> dict:
    """A finished run's record as this harness wrote it; one that is not (a key missing, a value not a number)
    is one line naming it."""
    def number(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    bad = [key for key in SUMMARY_KEYS if key not in record or not (record[key] is None or number(record[key]))]
    bad += [key for key in ("tracked_scores", "wrong_scores") if key in record and not (
        isinstance(record[key], list) and all(number(v) for v in record[key]))]
    if record and bad:
        raise TrackerError(f"{path} is damaged ({', '.join(bad)} missing or not numbers): delete it and run the "
                           "same command again to redo that run")
    return record


def resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return frame if frame.shape[1::-1] == size else cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def splice(target: Sequence, filler: Sequence, absent: int) -> tuple[ArraySequence, int, int] | None:
    """``target`` to a third of its length, ``absent`` frames of ``filler``, then ``target`` resumed ``absent``
    frames later: the spliced sequence, where the absence starts and where the target returns; None when the
    target is too short to come back after the gap."""
    frames = list(target)
    truth = target.ground_truth[:len(frames)]
    cut = len(frames) // 3
    resume = cut + absent
    if cut < 2 or len(frames) - resume < 10:
        return None
    size = (frames[0].shape[1], frames[0].shape[0])
    away = [resized(frame, size) for _, frame in zip(range(absent), filler)]
    if len(away) < absent:
        return None
    boxes = np.concatenate([truth[:cut], np.full((absent, 4), np.nan), truth[resume:]])
    sequence = ArraySequence(f"{target.name}+{filler.name}", frames[:cut] + away + frames[resume:], boxes)
    return sequence, cut, cut + absent


def filler_for(sequences: list[Sequence], index: int) -> Sequence:
    """The next sequence from another video: OTB's two Jogging targets share their frames, and a filler
    showing the target would not be an absence."""
    video = sequences[index].name.split(".")[0]
    others = [s for s in sequences[index + 1:] + sequences[:index] if s.name.split(".")[0] != video]
    if not others:
        raise TrackerError(f"no sequence from another video than {video} to fill its absence")
    return others[0]


def lt_f_score(overlaps: np.ndarray, confidence: np.ndarray, present: np.ndarray) -> float:
    """VOT-LT's F-score: tracking precision and recall over confidence thresholds, their best harmonic mean.
    ``overlaps``: IoU per frame (0 where absent); ``confidence``: -inf where the tracker reports nothing."""
    best = 0.0
    for threshold in np.unique(confidence[np.isfinite(confidence)]):
        reported = confidence >= threshold
        if not reported.any() or not present.any():
            continue
        precision = overlaps[reported].mean()
        recall = np.where(reported & present, overlaps, 0.0)[present].mean()
        if precision + recall > 0:
            best = max(best, 2 * precision * recall / (precision + recall))
    return float(best)


def returns(present: np.ndarray) -> np.ndarray:
    """Frames where the target is back: present, after a frame where it was not."""
    return np.flatnonzero(present[1:] & ~present[:-1]) + 1


def frames_to_find(on_target: np.ndarray, back: np.ndarray) -> list[int | None]:
    """Per return, the frames from it until the tracker is on the target again, before the next absence
    (None: not found)."""
    present_until = np.r_[back[1:], len(on_target)]
    found = []
    for start, stop in zip(back, present_until):
        hits = np.flatnonzero(on_target[start:stop])
        found.append(int(hits[0]) if len(hits) else None)
    return found


def centre_inside(box: np.ndarray, truth: np.ndarray) -> bool:
    centre = centres(box)
    return bool(np.all(centre >= truth[:2]) and np.all(centre <= truth[:2] + truth[2:]))


def score_splice(boxes: np.ndarray, scores: np.ndarray, lost: np.ndarray, truth: np.ndarray,
                 recover_within: int, searches: list[Search] = ()) -> dict:
    """One tracker on one sequence whose absent frames have NaN ground truth (a splice, or a benchmark's
    labelled sequence); frame 1 (the given box) is left out. ``searches``: its whole-frame searches, each
    kept with its best box's overlap with the truth (0 where the target is absent)."""
    present = np.all(np.isfinite(truth), axis=1)
    overlaps = np.zeros(len(truth))
    overlaps[present] = iou(boxes[present], truth[present])
    on_target = present & (overlaps >= 0.5)
    frames = np.arange(len(truth)) >= 1
    confidence = np.where(lost, -np.inf, np.where(np.isnan(scores), 1.0, scores))
    found = frames_to_find(on_target, returns(present))
    in_time = [f is not None and f <= recover_within for f in found]
    # what the lost decision has to tell apart: frames where it is on the target, and frames where the
    # target is absent or the box is elsewhere (IoU < 0.1); a tracker without a score signals 1 or 0
    signal = np.where(np.isnan(scores), np.where(lost, 0.0, 1.0), scores)
    wrong = frames & (~present | (overlaps < 0.1))
    return {
        # per frame after the first, in order: what a lost rule over several frames is calibrated on
        "frames": {"score": signal[frames].round(4).tolist(), "overlap": overlaps[frames].round(4).tolist(),
                   "present": present[frames].tolist(), "lost": lost[frames].tolist()},
        # what a re-detection rule is chosen on (studies/redetect_rule.py): each search's frame, score, best
        # box, its overlap with the truth, whether its centre is on the target (0 and False where absent), its
        # likeness to the target as given and the target's typical likeness when the flag was raised
        "searches": [{"frame": s.frame, "score": round(s.score, 4), "box": s.box.round(1).tolist(),
                      "overlap": round(float(iou(s.box[None], truth[s.frame][None])[0]), 4) if present[s.frame]
                      else 0.0, "hit": bool(present[s.frame] and centre_inside(s.box, truth[s.frame])),
                      "likeness": round(s.likeness, 4), "typical_likeness": round(s.typical_likeness, 4)}
                     for s in searches],
        "tracked_scores": signal[on_target & frames].round(4).tolist(),
        "wrong_scores": signal[wrong].round(4).tolist(),
        "absent_flagged_lost": float(lost[~present].mean()) if (~present).any() else None,
        "tracked_flagged_lost": float(lost[on_target & frames].mean()) if (on_target & frames).any() else None,
        "returns": len(found),
        # the mean over the returns found; the share of returns found in time (None: the target never left)
        "frames_to_recover": float(np.mean([f for f in found if f is not None])) if any(
            f is not None for f in found) else None,
        "recovered": float(np.mean(in_time)) if found else None,
        "f_score": lt_f_score(overlaps[frames], confidence[frames], present[frames]),
    }


def run_one(tracker: object, sequence: Sequence, recover_within: int) -> dict:
    try:
        rows = list(track(tracker, sequence, sequence.ground_truth[0]))
    finally:
        release(tracker)
    boxes = np.array([r.box for r in rows])
    scores = np.array([r.score for r in rows])
    lost = np.array([r.lost for r in rows])
    redetector = getattr(getattr(tracker, "state", None), "redetector", None)  # ours: its whole-frame searches
    return score_splice(boxes, scores, lost, sequence.ground_truth[:len(rows)], recover_within,
                        redetector.searches if redetector is not None else ())


def separation(entries: list[dict]) -> float | None:
    """The ROC AUC of the score, pooled over splices: how often a frame on the target scores above a frame
    where the target is absent or missed (0.5: no better than chance, 1: a threshold separates them)."""
    tracked = np.concatenate([e.get("tracked_scores", []) for e in entries] + [[]])
    wrong = np.concatenate([e.get("wrong_scores", []) for e in entries] + [[]])
    if not len(tracked) or not len(wrong):
        return None
    return float(mannwhitneyu(tracked, wrong).statistic / (len(tracked) * len(wrong)))


def summary_rows(results: dict[str, dict[str, dict]]) -> list[list[object]]:
    def mean(values: list) -> object:
        kept = [v for v in values if v is not None]
        return float(np.mean(kept)) if kept else "-"

    rows = []
    for name, per_splice in results.items():
        entries = list(per_splice.values())
        rows.append([name, len(entries), mean([e["absent_flagged_lost"] for e in entries]),
                     mean([e["tracked_flagged_lost"] for e in entries]), mean([e["recovered"] for e in entries]),
                     mean([e["frames_to_recover"] for e in entries]), mean([e["f_score"] for e in entries]),
                     separation(entries) or "-"])
    return rows


def run(args: argparse.Namespace) -> None:
    for flag, value, low in (("--absent", args.absent, 1), ("--recover-within", args.recover_within, 0),
                             ("--seeds", args.seeds, 1)):
        if not low <= value <= 100_000:
            raise TrackerError(f"{flag} must be in {low} .. 100000, got {value}")
    names = args.sequences.split(",") if args.sequences else None
    if args.dataset == "splices":
        sequences = open_sequences(require_data(args.otb), names)
        if len(sequences) < 2:
            raise TrackerError("a splice needs at least two sequences: one target and one to fill its absence")
    elif not args.root:
        raise TrackerError(f"--dataset {args.dataset} reads its sequences from --root")
    else:
        sequences = open_sequences(args.root, names, dataset=args.dataset)
    peers = {p.label: p for p in (peer(key) for key in filter(None, args.peers.split(",")))}
    out = Path(args.out)
    # runs made with other settings (a 10-frame absence, another config or weights file) are never reused
    setup = run_setup(load_config(args.config), args.weights)
    setup.update(dataset=args.dataset, absent=args.absent, recover_within=args.recover_within, peers=sorted(peers))
    guard_resume(out, setup, args.fresh)
    trackers = [f"ours-s{seed}" for seed in range(args.seeds)] + list(peers)
    results: dict[str, dict[str, dict]] = {name: {} for name in trackers}
    for i, target in enumerate(tqdm(sequences, desc="sequences", unit="seq")):
        if args.dataset == "splices":
            made = splice(target, filler_for(sequences, i), args.absent)
            if made is None:
                print(f"warning: {target.name} is too short to leave for {args.absent} frames and come back; "
                      "skipped", file=sys.stderr)
                continue
            sequence = made[0]
        else:
            sequence = target
        for name in trackers:
            path = out / "runs" / name / f"{sequence.name}.json"
            done = {} if args.fresh else checked_record(
                read_json(path, "delete it and run the same command again to redo that run"), path)
            if not done:
                if name.startswith("ours-s"):
                    config = load_config(args.config, seed=int(name.removeprefix("ours-s")))
                    tracker = build_tracker(config, args.weights, warn=False)
                else:
                    tracker = OpenCVTracker(peers[name].key, Path(args.peer_models))
                done = run_one(tracker, sequence, args.recover_within)
                write_json(path, done)
            results[name][sequence.name] = done
    if not any(results.values()):
        raise TrackerError(f"no sequence is long enough to leave for {args.absent} frames and come back: a shorter "
                           "--absent, or longer sequences")
    header = ["tracker", "splices" if args.dataset == "splices" else "sequences", "absent flagged lost",
              "tracked flagged lost",
              f"returns found within {args.recover_within}", "frames to recover (found)", "LT F-score",
              "score ROC AUC (tracked vs absent or missed)"]
    report = markdown_table(header, summary_rows(results))
    print(report)
    # a summary: the per-frame scores and searches stay in each run's own file
    summary = {name: {splice: {**{key: entry.get(key) for key in SUMMARY_KEYS},
                               "searches": len(entry.get("searches", ()))} for splice, entry in per_splice.items()}
               for name, per_splice in results.items()}
    write_json(out / "absence.json", {"settings": vars(args), "results": summary})
    write_text(out / "absence.md", report + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: held(run, parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
