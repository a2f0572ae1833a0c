"""``bdfa-vot-workspace``: a VOT toolkit workspace over any dataset the harness reads, offline.

``vot initialize`` downloads a VOT dataset. This builds a workspace from sequences already on disk
instead (OTB, GOT-10k, LaSOT, ... in the layouts of ``tracker/data/layouts.py``), so that the toolkit's
own experiments and analyses run on them:

    bdfa-vot-workspace --dataset otb --root ../shared/datasets/otb --out vot-otb
    cd vot-otb && vot evaluate bdfa && vot analysis bdfa

Frames are linked, never copied: ``sequences/<name>/color/00000001.jpg`` points at the dataset's own
file, in the toolkit's sequence format (a ``sequence`` metadata file, ``groundtruth.txt``, and
``anchor.value``, the anchor frames of VOT's multi-start experiment, every ``--anchor-every`` frames).
Frames without ground truth are written as the toolkit's "unknown" code (``0``).

The stack (``stack.yaml``) has the ``unsupervised`` experiment, one pass from the first frame (OTB's
protocol), analysed by average accuracy and the success plot. VOT's short-term ``multistart``
experiment is left out: vot-toolkit 0.8.1 and 0.9.0 fail in it for every single-target tracker
(``TypeError: ObjectQuery.state must be a Region``, before the tracker starts); with a toolkit where it
works, add it to ``stack.yaml``, the anchors are there.

The workspace is built beside ``--out`` and moved into place at the end: a failed build leaves nothing,
and an existing folder is never touched.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from tracker.data.layouts import LAYOUTS
from tracker.data.sequence import ImageSequence
from tracker.errors import ArgumentParser, TrackerError, quoted, run_command
from tracker.evaluation.run import open_sequences
from tracker.files import one_line_name

TRACKER = "bdfa"
DEFAULT_TRACKER_ARGS = "--updater bdfa"

STACK = """\
title: {title}
experiments:
  unsupervised:
    type: unsupervised
    repetitions: 1
    analyses:
      - type: average_accuracy
        name: accuracy
        burnin: 1
      - type: average_success_plot
        name: success
"""

TRACKERS_INI = """\
[{name}]
label = {name}
protocol = traxpython
command = tracker.integrations.vot_traxpython
env_BDFA_VOT_ARGS = {arguments}
"""


def groundtruth_lines(ground_truth: np.ndarray) -> list[str]:
    """VOT's rectangle lines, x,y,w,h; a frame without a box is the toolkit's "unknown" code 0."""
    return ["0" if not np.all(np.isfinite(box)) else ",".join(f"{v:.4f}".rstrip("0").rstrip(".") for v in box)
            for box in ground_truth]


def anchor_values(ground_truth: np.ndarray, every: int) -> list[str]:
    """1 on each forward anchor frame, 0 elsewhere: every ``every`` frames from the first, each moved on to the
    next frame with a box (the tracker starts from the box there)."""
    has_box = np.all(np.isfinite(ground_truth), axis=1)
    anchors = set()
    for start in range(0, len(ground_truth), every):
        boxed = np.flatnonzero(has_box[start:start + every])
        if len(boxed):
            anchors.add(start + int(boxed[0]))
    return ["1" if i in anchors else "0" for i in range(len(ground_truth))]


def write_sequence(folder: Path, sequence: ImageSequence, anchor_every: int) -> None:
    extensions = sorted({p.suffix.lower() for p in sequence.paths})
    if len(extensions) != 1:
        raise TrackerError(f"{sequence.name}: frames of more than one kind ({', '.join(extensions)}); the VOT "
                           "format names every frame by one pattern")
    extension = extensions[0]
    color = folder / "color"
    color.mkdir(parents=True)
    for i, path in enumerate(sequence.paths, 1):
        os.symlink(Path(path).resolve(), color / f"{i:08d}{extension}")
    (folder / "sequence").write_text(f"channels.color=color/%08d{extension}\nformat=default\nfps=30\n"
                                     f"name={sequence.name}\n")
    (folder / "groundtruth.txt").write_text("\n".join(groundtruth_lines(sequence.ground_truth)) + "\n")
    (folder / "anchor.value").write_text("\n".join(anchor_values(sequence.ground_truth, anchor_every)) + "\n")


def build_workspace(root: str, out: Path, dataset: str = "otb", names: list[str] | None = None,
                    tracker_args: str = DEFAULT_TRACKER_ARGS, anchor_every: int = 50) -> list[str]:
    """The workspace in ``out`` (which must not exist yet); returns the names of its sequences."""
    if anchor_every < 1:
        raise TrackerError(f"--anchor-every must be at least 1, got {anchor_every}")
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise TrackerError(f"{out} exists: give a new folder for the workspace")
    try:
        shlex.split(tracker_args)
    except ValueError as exc:
        raise TrackerError(f"--tracker-args {quoted(tracker_args)}: {exc}") from None
    if "\n" in tracker_args:
        raise TrackerError("--tracker-args must be one line")
    sequences = open_sequences(root, names, dataset=dataset)
    for sequence in sequences:  # the toolkit reads list.txt and each sequence file line by line
        one_line_name(sequence.name, "sequence name")
    videos = [s.name for s in sequences if not isinstance(s, ImageSequence)]
    if videos:
        raise TrackerError(f"{', '.join(videos)}: a video file, not frames; the VOT format needs frame files")
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        (staging / "sequences").mkdir()
        (staging / "results").mkdir()
        for sequence in sequences:
            write_sequence(staging / "sequences" / sequence.name, sequence, anchor_every)
        (staging / "sequences" / "list.txt").write_text("".join(f"{s.name}\n" for s in sequences))
        where = str(Path(root).resolve()).encode("utf-8", "backslashreplace").decode("utf-8")
        title = " ".join(f"{dataset} sequences from {where} (bdfa-vot-workspace)".split())
        (staging / "stack.yaml").write_text(STACK.format(title=title.replace(":", " -")))
        (staging / "config.yaml").write_text("stack: ./stack.yaml\nregistry:\n- ./trackers.ini\nsequences: sequences\n")
        (staging / "trackers.ini").write_text(TRACKERS_INI.format(name=TRACKER, arguments=tracker_args))
        os.chmod(staging, 0o777 & ~current_umask())
        if out.exists() or out.is_symlink():  # made while we built: still never replaced
            raise TrackerError(f"{out} exists: give a new folder for the workspace")
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [s.name for s in sequences]


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0].strip("`: "))
    parser.add_argument("--dataset", choices=sorted(LAYOUTS), default="otb", help="the layout of --root")
    parser.add_argument("--root", required=True, help="the dataset's folder, read in place")
    parser.add_argument("--sequences", help="comma-separated names (default: every sequence found)")
    parser.add_argument("--out", required=True, help="the workspace folder to create (must not exist)")
    parser.add_argument("--tracker-args", default=DEFAULT_TRACKER_ARGS,
                        help=f"bdfa-vot's options in trackers.ini (default: {DEFAULT_TRACKER_ARGS!r})")
    parser.add_argument("--anchor-every", type=int, default=50,
                        help="frames between the multi-start experiment's anchors (default 50)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse_args(argv)
        names = [n for n in args.sequences.split(",") if n] if args.sequences else None
        built = build_workspace(args.root, Path(args.out), args.dataset, names, args.tracker_args, args.anchor_every)
        print(f"{args.out}: VOT workspace with {len(built)} sequence(s); run there: vot evaluate {TRACKER} "
              f"&& vot analysis {TRACKER}")
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main())
