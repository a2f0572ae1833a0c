"""Tracking speed of the backbones (and of config variants) side by side, per phase, in one run.

    python -m tracker.evaluation.speed --otb ../shared/datasets/otb

Every run tracks every OTB sequence in full, the runs taking turns sequence by sequence, so that a
slower stretch of the machine falls on all of them alike. fps counts every frame, first-frame
training included, which is the fps a user sees. Per-frame latency (median, p95, max, share over the
``--frame-budget-ms``, 40 by default) is given per run and per sequence, split into tracked and lost frames.
Per phase: milliseconds per frame spent on conv features, candidate scoring, online updates (sample
collection + learning) and bounding-box regression; and the first frame's milliseconds on its own.
With ``--frame-sizes own,1280x720,1920x1080`` each sequence is also played upscaled to those sizes (a
webcam's), right after itself, and a table gives each run's speed per size (reading and resizing frames
are outside the timed calls). Then, on the first ``--max-frames`` of a few sequences, the shared feature
map against exact per-candidate crops on the first run's backbone (``--exact none`` skips it).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from tracker.build import backbone_of
from tracker.config import TrackerConfig, load_config
from tracker.data.sequence import ResizedSequence, Sequence, frame_size
from tracker.errors import ArgumentParser, TrackerError, quoted
from tracker.evaluation.harness import (
    DEFAULT_OTB,
    Run,
    check_out,
    cli_main,
    markdown_table,
    measure,
    record_setup,
    require_data,
    warm_up,
    write_json,
)
from tracker.evaluation.latency import FRAME_BUDGET_MS, frame_latency
from tracker.evaluation.peers import PEERS, peer
from tracker.evaluation.run import open_sequences
from tracker.limits import MAX_FRAMES
from tracker.outputs import write_text  # noqa: E402
from tracker.timing import PHASES


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB)
    parser.add_argument("--sequences", default="all", help="comma list or 'all'")
    parser.add_argument("--backbones", default="efficientnet_lite0=default,mdnet=tracker/pretrained/mdnet.pt",
                        help="comma list of label=weights ('default': the shipped file; 'imagenet'; 'none')")
    parser.add_argument("--variants", default="",
                        help="comma list of label=config.yaml, each on the first backbone (e.g. a cut point)")
    parser.add_argument("--peers", default="",
                        help=f"comma list of OpenCV's trackers timed in the same loop ({', '.join(PEERS)})")
    parser.add_argument("--exact", default="Crossing,Couple,DragonBaby",
                        help="sequences for shared vs exact features ('none' to skip)")
    parser.add_argument("--frame-sizes", default="own",
                        help="comma list of 'own' (its own size) and WIDTHxHEIGHT sizes to play each sequence at")
    parser.add_argument("--max-frames", type=int, default=40, help="frames per sequence for shared vs exact")
    parser.add_argument("--updater", default=TrackerConfig().learning.updater,
                        help="learning rule (default: the config's)")
    parser.add_argument("--frame-budget-ms", type=float, default=FRAME_BUDGET_MS,
                        help="the latency target: frames over it are counted (default: %(default)s, 25 fps)")
    parser.add_argument("--config", help="YAML overriding the defaults for every run")
    parser.add_argument("--out", default="runs/speed", help="results folder (git-ignored by default)")
    return parser.parse_args(argv)


def label_pairs(text: str, flag: str) -> list[tuple[str, str]]:
    pairs = []
    for item in (t for t in text.split(",") if t):
        label, sep, value = item.partition("=")
        if not sep or not label or not value:
            raise TrackerError(f"{flag} wants label=value items, got {quoted(item)}")
        pairs.append((label, value))
    return pairs


def make_runs(args: argparse.Namespace) -> list[Run]:
    base = load_config(args.config, learning={"updater": args.updater})
    runs = []
    for label, weights in label_pairs(args.backbones, "--backbones"):
        chosen = None if weights == "default" else weights
        runs.append(Run(label, base.replace(network={"backbone": backbone_of(chosen, base.network.backbone)}),
                        chosen))
    if not runs:
        raise TrackerError("--backbones is empty")
    for label, path in label_pairs(args.variants, "--variants"):
        first = runs[0]
        changed = load_config(path).changes()
        layout = sorted(changed.get("network", {}).keys() & {"backbone", "trunk_blocks", "backbone_channels"})
        if layout == ["backbone"] and first.weights is None:  # the shipped weights: the new backbone's own
            runs.append(Run(label, first.config.replace(**changed), None))
            continue
        if layout and first.weights not in ("imagenet", "none"):
            raise TrackerError(f"variant {label} changes {', '.join(layout)}, which a weights file fixes: "
                               "make the first --backbones entry 'imagenet' or 'none'")
        runs.append(Run(label, first.config.replace(**changed), first.weights))
    for key in (k.strip() for k in args.peers.split(",") if k.strip()):
        runs.append(Run(peer(key).label, base, None, peer=key))
    return runs


def frame_sizes(text: str) -> list[tuple[int, int] | None]:
    """``own,1280x720`` -> [None, (1280, 720)]: None is the sequence's own size."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise TrackerError("--frame-sizes is empty")
    try:
        return [None if item == "own" else frame_size(item) for item in items]
    except TrackerError as exc:
        raise TrackerError(f"--frame-sizes: {exc} (or 'own')") from None


def at_sizes(sequences: list[Sequence], sizes: list[tuple[int, int] | None]) -> tuple[list[Sequence], dict[str, str]]:
    """Each sequence at each size in turn, and each played sequence's size label (``own`` or ``WxH``)."""
    played, size_of = [], {}
    for sequence in sequences:
        for size in sizes:
            version = sequence if size is None else ResizedSequence(sequence, size)
            played.append(version)
            size_of[version.name] = "own" if size is None else f"{size[0]}x{size[1]}"
    return played, size_of


def size_table(records: list[dict], runs: list[Run], labels: list[str], budget_ms: float) -> str:
    """Per frame size and run: fps over all frames, latency of the frames after the first, first frame."""
    rows = []
    for size in labels:
        for run in runs:
            mine = [r for r in records if r["run"] == run.label and r["frame_size"] == size]
            report = pooled_latency(mine, budget_ms)
            fps = sum(r["frames"] for r in mine) / sum(r["seconds"] for r in mine)
            rows.append([size, run.label, len(mine), round(fps, 1), min(round(r["fps"], 1) for r in mine),
                         round(report["all"]["median_ms"], 1), round(report["all"]["p95_ms"], 1),
                         round(report["first_frame_ms"])])
    return markdown_table(["frame size", "run", "sequences", "fps", "slowest sequence fps", "median ms", "p95 ms",
                           "first frame ms"], rows)


def table(records: list[dict], labels: list[str]) -> str:
    rows = []
    for label in labels:
        mine = [r for r in records if r["run"] == label]
        frames, seconds = sum(r["frames"] for r in mine), sum(r["seconds"] for r in mine)
        # OpenCV's trackers report no phases (and runs older than a phase, not that one)
        phases = [1000 * sum(r["phase_seconds"].get(p, 0.0) for r in mine) / frames
                  if all(r["phase_seconds"] for r in mine) else "-" for p in PHASES]
        rows.append([label, len(mine), frames, frames / seconds, min(r["fps"] for r in mine),
                     1000 * float(np.mean([r["first_frame_seconds"] for r in mine])), *phases,
                     sum(r["failed_frames"] for r in mine), float(np.mean([r["success_auc"] for r in mine]))])
    return markdown_table(["run", "sequences", "frames", "fps", "slowest sequence fps", "first frame ms"]
                          + [f"{p} ms/frame" for p in PHASES] + ["failed frames", "success AUC (seed 0)"], rows)


def pooled_latency(records: list[dict], budget_ms: float) -> dict:
    """One latency report over several sequences' frames; the first frames' mean on its own."""
    report = frame_latency(np.concatenate([r["frame_seconds"] for r in records]),
                           np.concatenate([r["frame_lost"] for r in records]).astype(bool), budget_ms)
    return {"first_frame_ms": 1000 * float(np.mean([r["first_frame_seconds"] for r in records])), **report}


def latency_cells(report: dict) -> list[object]:
    def ms(part: str, key: str) -> object:
        value = report[part][key]
        return "-" if value is None else round(value, 1)

    return [ms("all", "median_ms"), ms("all", "p95_ms"), ms("all", "max_ms"),
            f"{100 * report['all']['over_budget']:.1f}%" if report["all"]["frames"] else "-",
            ms("tracked", "p95_ms"), report["lost"]["frames"], ms("lost", "median_ms"), ms("lost", "p95_ms")]


LATENCY_HEADER = ["median ms", "p95 ms", "max ms", "over budget", "tracked p95 ms", "lost frames",
                  "lost median ms", "lost p95 ms"]


def latency_tables(records: list[dict], runs: list[Run], budget_ms: float) -> str:
    """Per run over all its sequences, then per sequence and run."""
    overall = [[run.label, budget_ms, *latency_cells(pooled_latency([r for r in records if r["run"] == run.label],
                                                                    budget_ms))] for run in runs]
    per_sequence = [[r["sequence"], r["run"], r["frames"], round(r["fps"], 1), *latency_cells(r["latency"])]
                    for r in records]
    return (markdown_table(["run", "budget ms", *LATENCY_HEADER], overall) + "\n\nper sequence:\n\n"
            + markdown_table(["sequence", "run", "frames", "fps", *LATENCY_HEADER], per_sequence))


def summary(records: list[dict]) -> list[dict]:
    """The records without their per-frame lists: what a results folder keeps (speed.json has them all)."""
    return [{k: v for k, v in r.items() if k not in ("frame_seconds", "frame_lost")} for r in records]


def run(args: argparse.Namespace) -> None:
    if not (math.isfinite(args.frame_budget_ms) and args.frame_budget_ms > 0):
        raise TrackerError(f"--frame-budget-ms must be finite and positive, got {args.frame_budget_ms}")
    if not 1 <= args.max_frames <= MAX_FRAMES:
        raise TrackerError(f"--max-frames must be in 1 .. {MAX_FRAMES}, got {args.max_frames}")
    check_out(Path(args.out), ("setup.json", "speed.json", "summary.json", "speed.md"))
    runs = make_runs(args)
    sizes = frame_sizes(args.frame_sizes)
    # the shared/exact sequences are opened now: a bad name fails before the whole-sequence measurement
    exact_sequences = [] if args.exact == "none" else open_sequences(args.otb, args.exact.split(","))
    whole, size_of = at_sizes(open_sequences(require_data(args.otb), None if args.sequences == "all"
                                             else args.sequences.split(",")), sizes)
    records: list[dict] = []
    warm_up()
    for run in runs:
        if run.peer is not None:
            warm_up(run.build())
    measure(runs, whole, None, "whole", records, args.frame_budget_ms)
    for record in records:
        record["frame_size"] = size_of[record["sequence"]]
    report = table(records, [r.label for r in runs])
    report += "\n\nframe latency (frames after the first):\n\n" + latency_tables(records, runs, args.frame_budget_ms)
    if len(sizes) > 1:
        report += "\n\nper frame size:\n\n" + size_table(records, runs, list(dict.fromkeys(size_of.values())),
                                                            args.frame_budget_ms)
    ratio = None
    if args.exact != "none":
        first = runs[0]
        modes = [Run(mode, first.config.with_feature_mode(mode), first.weights) for mode in ("shared", "exact")]
        exact_records: list[dict] = []
        measure(modes, exact_sequences, args.max_frames, "modes", exact_records)
        fps = {m.label: sum(r["frames"] for r in exact_records if r["run"] == m.label)
               / sum(r["seconds"] for r in exact_records if r["run"] == m.label) for m in modes}
        ratio = fps["shared"] / fps["exact"]
        report += (f"\n\n{first.label}, first {args.max_frames} frames of {args.exact}:\n\n"
                   + table(exact_records, ["shared", "exact"]) + f"\n\nshared / exact speed ratio: {ratio:.1f}x")
        records += exact_records
    print(report)
    out = Path(args.out)
    record_setup(out, args, runs)
    write_json(out / "speed.json", {"records": records, "shared_exact_ratio": ratio, "updater": args.updater,
                                    "runs": [{"label": r.label, "weights": r.weights or "default",
                                              "config": r.config.as_dict()} for r in runs],
                                    "config_file": args.config, "max_frames": args.max_frames})
    write_json(out / "summary.json", {"runs": [r.label for r in runs], "records": summary(records)})
    write_text(out / "speed.md", report + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
