"""Same boxes before and after a change that should not change them (a refactor): record, then check.

    python -m studies.same_boxes --save runs/same_boxes/before.npz          # on the old code
    python -m studies.same_boxes --check runs/same_boxes/before.npz         # on the new code

Tracks, with the default settings and with each ``--config`` given (seed 0, 1 thread), three ../shared
sequences (Bolt2, DragonBaby, Biker: a lost stretch in each), the first of them spliced with another video's
frames so that the target leaves and comes back (re-detection runs), and the synthetic sequence that grows 2x
and changes aspect. Every frame's box, score and lost flag are kept; ``--check`` says which
differ from the record, frame by frame, and exits 1 where any does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from tracker.build import build_tracker
from tracker.config import load_config
from tracker.data.synthetic import synthetic_sequence
from tracker.errors import ArgumentParser
from tracker.evaluation.absence import splice
from tracker.evaluation.harness import DEFAULT_OTB, cli_main
from tracker.evaluation.run import open_sequences, track

SEQUENCES = ("Bolt2", "DragonBaby", "Biker")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otb", default=DEFAULT_OTB, help="an OTB-layout folder (default: ../shared/datasets/otb)")
    parser.add_argument("--config", action="append", default=[], help="a config to track with too (repeatable)")
    parser.add_argument("--max-frames", type=int, default=150, help="frames per sequence (default %(default)s)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", help="write the record here (.npz)")
    action.add_argument("--check", help="compare with this record (.npz)")
    return parser.parse_args(argv)


def record(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Per (config, sequence): frames x (x, y, w, h, score, lost)."""
    sequences = open_sequences(args.otb, list(SEQUENCES))
    spliced, _, _ = splice(sequences[0], sequences[2], 40)
    spliced.name = f"{sequences[0].name}+absent"
    sequences += [spliced, synthetic_sequence(80, growth=2.0, aspect=(1.0, 2.0), name="synthetic")]
    out = {}
    for config_path in [None, *args.config]:
        tracker = build_tracker(load_config(config_path, seed=0), warn=False)
        label = "default" if config_path is None else Path(config_path).stem
        for sequence in sequences:
            rows = [[*frame.box, frame.score, frame.lost]
                    for frame in track(tracker, sequence, sequence.ground_truth[0], args.max_frames)]
            out[f"{label}/{sequence.name}"] = np.array(rows, dtype=float)
            lost = int(np.nansum(out[f"{label}/{sequence.name}"][:, 5]))
            print(f"{label}/{sequence.name}: {len(rows)} frames, {lost} lost", flush=True)
        tracker.close()
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    rows = record(args)
    if args.save:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.save, **rows)
        print(f"wrote {args.save}")
        return 0
    with np.load(args.check) as before:
        kept = {key: before[key] for key in before.files}
    differ = 0
    for key in sorted(set(kept) | set(rows)):
        if key not in kept or key not in rows:
            print(f"{key}: only in the {'record' if key in kept else 'new run'}")
            differ += 1
            continue
        same = kept[key].shape == rows[key].shape and np.array_equal(kept[key], rows[key], equal_nan=True)
        first = "" if same else f" (first at frame {_first_difference(kept[key], rows[key])})"
        print(f"{key}: {'same' if same else 'DIFFERENT'}{first}")
        differ += not same
    print("every box, score and flag the same" if not differ else f"{differ} sequence(s) differ")
    return 1 if differ else 0


def _first_difference(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    rows = np.flatnonzero(~np.all((a[:n] == b[:n]) | (np.isnan(a[:n]) & np.isnan(b[:n])), axis=1))
    return int(rows[0]) if len(rows) else n


if __name__ == "__main__":
    sys.exit(cli_main(main))
