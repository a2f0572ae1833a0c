"""Frame latency with the whole-frame search inside the frame or beside the tracker: paired, repeated.

    python -m studies.search_beside --otb ../shared/datasets/otb --out runs/search_beside

Issue 44 asks for the search off the frame's critical path. A single timed run on a shared 2-core machine
moves a sequence's p95 by 30-50% from one run to the next, so here every variant tracks every sequence
``--repeats`` times, the variants interleaved (variant order rotated each repeat), frames read into memory
first. Per variant: frames, mean fps, the median, p95 and max frame time over all frames after the first,
the p95 of the frames flagged lost, and of the frames that ran a search or saw one land (``redetect`` phase
over 1 ms or a search out); the first lost frame of each stretch (MDNet's urgent short-term update) with its
update's share of that frame. Against the first variant: the ratio of each (sequence, repeat) pair's mean and
p95, with a 95% bootstrap interval over sequences.

Variants are ``label=config.yaml`` (``label=`` alone: the defaults).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from tracker.build import build_tracker
from tracker.config import load_config
from tracker.errors import ArgumentParser, TrackerError
from tracker.evaluation.harness import DEFAULT_OTB, cli_main, markdown_table, write_json
from tracker.evaluation.paired import bootstrap_interval
from tracker.evaluation.run import open_sequences
from tracker.outputs import write_text

DEFAULT_SEQUENCES = "Bird2,Bolt2,Couple,Dog,DragonBaby,Football1,Jogging.2,Toy"  # those with frames flagged lost


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB, help="an OTB-layout folder (default: ../shared/datasets/otb)")
    parser.add_argument("--sequences", default=DEFAULT_SEQUENCES, help="comma list (default: %(default)s)")
    parser.add_argument("--variants", default="inline=,thread=results/search_beside/configs/runner_only.yaml",
                        help="comma list of label=config.yaml; the first is the reference (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant and sequence (default: 3)")
    parser.add_argument("--out", default="runs/search_beside", help="default: %(default)s")
    args = parser.parse_args(argv)
    if not 1 <= args.repeats <= 100:
        raise TrackerError(f"--repeats must be in 1 .. 100, got {args.repeats}")
    return args


def variants(spec: str) -> dict[str, object]:
    out = {}
    for item in (v for v in spec.split(",") if v):
        label, _, path = item.partition("=")
        if not label or label in out:
            raise TrackerError(f"--variants: {item!r} needs a label of its own (label=config.yaml)")
        out[label] = load_config(path or None)
    if not out:
        raise TrackerError("--variants is empty")
    return out


def track(config: object, frames: list[np.ndarray], first_box: np.ndarray) -> dict[str, np.ndarray]:
    """One run: each frame's ms, flag, whether re-detection worked on it, whether it was a first lost frame and
    its update's ms."""
    tracker = build_tracker(config, warn=False)
    tracker.init(frames[0], first_box)
    state = tracker.state
    rows = []
    for frame in frames[1:]:
        phases = dict(state.timer.seconds)
        runner = state.redetector.runner
        out_before = runner is not None and runner.busy
        start = time.perf_counter()
        result = tracker.track_frame(frame)
        ms = 1000 * (time.perf_counter() - start)
        spent = {k: 1000 * (v - phases.get(k, 0.0)) for k, v in state.timer.seconds.items()}
        rows.append((ms, result.lost, out_before or spent.get("redetect", 0.0) > 1.0, state.lost_run == 1,
                     spent.get("updates", 0.0)))
    tracker.close()
    ms, lost, searching, first_lost, updates = map(np.array, zip(*rows))
    return {"ms": ms, "lost": lost, "searching": searching, "first_lost": first_lost, "updates_ms": updates}


def p95(values: np.ndarray) -> float | None:
    return float(np.percentile(values, 95)) if len(values) else None


def summary(runs: list[dict[str, np.ndarray]]) -> dict:
    ms = np.concatenate([r["ms"] for r in runs])
    lost = np.concatenate([r["lost"] for r in runs])
    searching = np.concatenate([r["searching"] for r in runs])
    first = np.concatenate([r["first_lost"] for r in runs])
    updates = np.concatenate([r["updates_ms"] for r in runs])
    return {"frames": len(ms), "fps": 1000 / float(ms.mean()), "median_ms": float(np.median(ms)),
            "p95_ms": p95(ms), "max_ms": float(ms.max()), "lost_frames": int(lost.sum()), "lost_p95_ms": p95(ms[lost]),
            "search_frames": int(searching.sum()), "search_p95_ms": p95(ms[searching]),
            "first_lost_frames": int(first.sum()),
            "first_lost_median_ms": float(np.median(ms[first])) if first.any() else None,
            "first_lost_update_share": float(updates[first].sum() / ms[first].sum()) if first.any() else None}


def run(args: argparse.Namespace) -> None:
    configs = variants(args.variants)
    labels = list(configs)
    sequences = open_sequences(args.otb, args.sequences.split(","))
    runs: dict[str, dict[str, list]] = {label: {} for label in labels}
    for sequence in sequences:
        frames = list(sequence)
        for repeat in range(args.repeats):
            for k in range(len(labels)):
                label = labels[(k + repeat) % len(labels)]
                runs[label].setdefault(sequence.name, []).append(
                    track(configs[label], frames, sequence.ground_truth[0]))
    rng = np.random.default_rng(0)
    records, rows = {}, []
    reference = labels[0]
    for label in labels:
        flat = [r for per in runs[label].values() for r in per]
        record = summary(flat)
        for key, stat in (("mean", np.mean), ("p95", lambda v: np.percentile(v, 95))):
            ratios = np.array([[stat(a["ms"]) / stat(b["ms"]) for a, b in zip(runs[label][name], runs[reference][name])]
                               for name in runs[label]])
            per_sequence = ratios.mean(axis=1)
            low, high = bootstrap_interval(per_sequence[:, None], 10_000, rng)
            record[f"{key}_ratio"], record[f"{key}_ratio_interval"] = float(per_sequence.mean()), [low, high]
        records[label] = record

        def show(value: float | None, digits: int = 1) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        rows.append([label, record["frames"], show(record["fps"]), show(record["median_ms"]), show(record["p95_ms"]),
                     show(record["max_ms"]), record["lost_frames"], show(record["lost_p95_ms"]),
                     record["search_frames"], show(record["search_p95_ms"]), record["first_lost_frames"],
                     show(record["first_lost_median_ms"]), show(record["first_lost_update_share"], 2),
                     f"{record['mean_ratio']:.3f} [{record['mean_ratio_interval'][0]:.3f}, "
                     f"{record['mean_ratio_interval'][1]:.3f}]",
                     f"{record['p95_ratio']:.3f} [{record['p95_ratio_interval'][0]:.3f}, "
                     f"{record['p95_ratio_interval'][1]:.3f}]"])
    table = markdown_table(["variant", "frames", "fps", "median ms", "p95 ms", "max ms", "lost frames", "lost p95 ms",
                            "search frames", "search p95 ms", "first lost frames", "first lost median ms",
                            "its update's share", f"mean ms / {reference}'s [95%]", f"p95 ms / {reference}'s [95%]"],
                           rows)
    table += (f"\n\n{', '.join(s.name for s in sequences)}; {args.repeats} runs a variant and sequence, interleaved; "
              "search frames: a search out as the frame begins, or one run or landing in it.")
    print(table)
    out = Path(args.out)
    write_json(out / "search_beside.json", {"variants": args.variants, "sequences": [s.name for s in sequences],
                                            "repeats": args.repeats, "records": records})
    write_text(out / "search_beside.md", table + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
