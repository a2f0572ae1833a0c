"""``run_tracker.py``: track one object through a sequence, a frame folder, a video or the demo."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np
from tqdm import tqdm

from tracker.backbones import BACKBONES
from tracker.box_estimation import BOX_ESTIMATORS
from tracker.build import SHIPPED, build_multi_tracker, build_tracker, weights_loaded
from tracker.config import TrackerConfig, dotted, load_config
from tracker.data.otb import open_source, open_targets
from tracker.data.sequence import CorruptFrameWarning, Sequence
from tracker.data.synthetic import synthetic_sequence
from tracker.display import VIDEO_FPS, VideoRecorder, check_display, draw_box, draw_target
from tracker.errors import (
    ArgumentParser,
    TrackerError,
    clipped,
    print_warning,
    quoted,
    run_command,
    signals_deferred,
)
from tracker.evaluation.latency import latency_report
from tracker.evaluation.metrics import scores
from tracker.evaluation.peers import DEFAULT_MODELS, PEERS, OpenCVTracker
from tracker.evaluation.run import track, track_targets
from tracker.files import json_text
from tracker.frames import as_rgb
from tracker.multi import MultiTargetTracker, refuse_crowds
from tracker.outputs import Output, refuse_clobbering
from tracker.tracking import Tracker
from tracker.updaters import UPDATERS
from tracker.yaml_text import load_yaml_text


def parse_box(text: str) -> np.ndarray:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise TrackerError(f"--init must be x,y,w,h, got {quoted(text)}")
    return np.array(values)


def box_values_as_values(argv: list[str]) -> list[str]:
    """``--init -5,-5,60,60`` as ``--init=-5,-5,60,60``: argparse takes a value that starts with ``-`` for a flag."""
    joined: list[str] = []
    rest = iter(argv)
    for arg in rest:
        value = next(rest, None) if arg == "--init" else None
        if value is not None and re.match(r"-[\d.]", value):
            joined.append(f"--init={value}")
        else:
            joined += [arg] if value is None else [arg, value]
    return joined


LIVE_KEYS = ("keys: r re-select the target, a add a target, tab select the next, x remove the selected, space "
             "pause/resume, u cycle the learning rule (bp, fa, dfa, bdfa), s save a snapshot, q or Esc quit")


def build_parser(live: bool = False) -> argparse.ArgumentParser:
    """bdfa-track's options, or (``live``) bdfa-live's: only what the live demo accepts, with its keys."""
    if live:
        parser = ArgumentParser(description="Live demo: track a camera, stream or video file in a window.",
                                epilog=LIVE_KEYS)
        parser.add_argument("--webcam", metavar="SOURCE", default="0",
                            help="camera index, video file or stream URL (default: camera 0)")
        # what only tracking a sequence reads: absent here, so that the live demo never ignores a flag
        parser.set_defaults(video=None, output=None, output_csv=None, display=False, summary_json=None,
                            max_frames=None, quiet=False)
    else:
        parser = ArgumentParser(description="MDNet-style tracker with BP / DFA / BDFA online learning.",
                                epilog=f"--webcam {LIVE_KEYS}")
        parser.add_argument("--video", help="OTB folder (img/ + groundtruth_rect.txt; Seq.2 = second target), "
                                            "folder of frames or video file (default: the built-in synthetic demo)")
        parser.add_argument("--webcam", metavar="SOURCE",
                            help="live demo instead (as bdfa-live): camera index (0, 1, ...), video file or stream "
                                 "URL (default: off)")
    parser.add_argument("--realtime", action="store_true",
                        help="live demo on a file: play it at its own frame rate, dropping the frames the tracker "
                             "has no time for, as a camera would (default: every frame, at the tracker's pace)")
    parser.add_argument("--snapshots", default=".", help="folder for live-demo snapshots, key s (default: .)")
    parser.add_argument("--init", action="append", metavar="X,Y,W,H",
                        help="initial box x,y,w,h; repeat it for several targets, numbered 1, 2, ... in that order "
                             "(default: the first ground-truth box; live: drawn with the mouse)")
    parser.add_argument("--tracker", choices=["ours", *PEERS], default="ours",
                        help="ours (default), or an OpenCV peer on the same frames: nano (NanoTrack), vit "
                             "(VitTrack), mil, csrt / kcf (need opencv-contrib-python)")
    parser.add_argument("--peer-models", default=str(DEFAULT_MODELS),
                        help="folder of the NanoTrack and VitTrack ONNX files (default: ../shared/anchors/models)")
    parser.add_argument("--updater", choices=sorted(UPDATERS), help="online learning rule (default: bdfa)")
    parser.add_argument("--backbone", choices=sorted(BACKBONES),
                        help="efficientnet_lite0 (default: ImageNet EfficientNet-Lite0 trunk) or mdnet (conv1-3)")
    parser.add_argument("--feedback-init", choices=("random", "eq7"),
                        help="fixed feedback for fa/dfa/bdfa: seeded random (default) or from the first frame's "
                             "forward weights (Eq. 7; Eq. 9 for bdfa)")
    parser.add_argument("--diagnostics", action="store_true",
                        help="record the angle between each feedback update and the BP gradient (default: off)")
    parser.add_argument("--batch-size", type=int, help="online minibatch, positives:negatives 1:3 (default 128)")
    parser.add_argument("--feature-mode", choices=("shared", "exact"),
                        help="how the classifier reads candidates and training samples: one shared conv pass per "
                             "frame (default) or one pass per box crop (sets candidate_features and sample_features)")
    parser.add_argument("--box-estimator", choices=sorted(BOX_ESTIMATORS),
                        help="the box stage after the classifier (default: siamese_head; "
                             "results/box_estimation/README.md)")
    parser.add_argument("--config", help="YAML file overriding any subset of the defaults (default: none)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key (YAML value; repeatable), e.g. --set lr_update=0.002; "
                             "applied after --config (default: none)")
    parser.add_argument("--weights", help="backbone weights file; 'imagenet' for the ImageNet trunk with fresh "
                                          "fc4/fc5; 'none' for a seeded random MDNet-layout backbone (default: "
                                          "the shipped tracker/pretrained/default.pt; mdnet.pt with --backbone mdnet)")
    parser.add_argument("--seed", type=int, help="random seed: same seed, same boxes (default 0)")
    parser.add_argument("--save", help="write a video with the boxes drawn, e.g. out.mp4 (default: none)")
    if not live:
        parser.add_argument("--targets", choices=("one", "all"), default="one",
                            help="all: every target of an OTB folder with several ground-truth files "
                                 "(groundtruth_rect.1.txt, .2.txt, ...), tracked together, each scored against its "
                                 "own (default: one, the first)")
        parser.add_argument("--output", help="write boxes here, one x,y,w,h line per frame, OTB format; with several "
                                             "targets one file each, boxes.txt -> boxes.1.txt, boxes.2.txt, ... "
                                             "(default: none)")
        parser.add_argument("--output-csv", help="write one row per frame and target here: frame,target,x,y,w,h,"
                                                 "score,lost (frame and target from 1; score: the target score, "
                                                 "empty where none; lost: 0 or 1) (default: none)")
        parser.add_argument("--display", action="store_true", help="show the tracking in a window (default: off)")
        parser.add_argument("--summary-json", help="write frames, fps and (with ground truth) accuracy here "
                                                   "(default: none)")
        parser.add_argument("--max-frames", type=int, help="stop after this many frames (default: all)")
        parser.add_argument("--quiet", action="store_true", help="no progress bar (default: off)")
    return parser


# flags that set up our tracker; given with --tracker <peer> they would silently do nothing
OURS_ONLY = ("updater", "backbone", "feedback_init", "diagnostics", "batch_size", "feature_mode", "box_estimator",
             "config", "weights", "set")


def make_peer(args: argparse.Namespace) -> OpenCVTracker:
    given = [f"--{name.replace('_', '-')}" for name in OURS_ONLY if getattr(args, name) not in (None, False, [])]
    if given:
        raise TrackerError(f"{' '.join(given)}: only for our tracker, not for --tracker {args.tracker}")
    return OpenCVTracker(args.tracker, Path(args.peer_models), seed=0 if args.seed is None else args.seed)


def parse_sets(pairs: list[str]) -> dict[str, object]:
    """``--set section.key=value`` pairs as config overrides (``learning.updater=bp``); each value is read as YAML
    (2, 0.5, true, [1, 2])."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TrackerError(f"--set takes KEY=VALUE, got {quoted(pair)}")
        if not value.strip():
            raise TrackerError(f"--set {quoted(key)}: the value is empty (give KEY=VALUE)")
        overrides[key] = load_yaml_text(value, f"--set {quoted(key)}")
        if overrides[key] is None:
            raise TrackerError(f"--set {quoted(key)}: {quoted(value)} is null, not a value")
    return overrides


def make_config(args: argparse.Namespace) -> TrackerConfig:
    """Defaults < ``--config`` < ``--set`` < the dedicated flags; validated once, by the config."""
    flags = {"seed": args.seed,
             "learning.updater": args.updater, "learning.feedback_init": args.feedback_init,
             "learning.alignment_diagnostics": True if args.diagnostics else None,
             "network.backbone": args.backbone, "updates.batch_size": args.batch_size,
             "network.candidate_features": args.feature_mode, "network.sample_features": args.feature_mode,
             "box.box_estimator": args.box_estimator}
    return load_config(args.config, **dotted({**parse_sets(args.set), **{k: v for k, v in flags.items()
                                                                          if v is not None}}))


def open_sequence(args: argparse.Namespace) -> tuple[Sequence, list[np.ndarray], list[np.ndarray | None]]:
    """The frames, each target's first box and each target's ground truth (None: not scored)."""
    if args.targets == "all" and args.init:
        raise TrackerError("--targets all takes the targets' first boxes from their ground truth: drop --init")
    if args.targets == "all":
        sequences = open_targets(args.video)
        frames = sequences[0]
        frames.name = frames.name.rsplit(".", 1)[0]  # the folder's: the run is of all its targets
        return frames, [s.ground_truth[0] for s in sequences], [s.ground_truth for s in sequences]
    sequence = synthetic_sequence() if args.video is None else open_source(args.video)
    if args.init:
        return sequence, [parse_box(text) for text in args.init], [None] * len(args.init)
    if sequence.ground_truth is None:
        raise TrackerError(f"{args.video} has no ground truth: give the initial box with --init x,y,w,h")
    return sequence, [sequence.ground_truth[0]], [sequence.ground_truth]


def numbered(path: str, target: int) -> str:
    """``boxes.txt`` -> ``boxes.2.txt``: target ``target``'s file, numbered as OTB numbers its ground truth."""
    name = Path(path)
    return str(name.with_name(f"{name.stem}.{target}{name.suffix}"))


def run_inputs(args: argparse.Namespace, sequence: Sequence) -> list[tuple[str, Path]]:
    """Every file the run reads, which no output may replace."""
    inputs = sequence.input_files()
    if args.config:
        inputs.append(("the config", Path(args.config)))
    if args.weights and args.weights.lower() not in ("none", "imagenet"):
        inputs.append(("the weights", Path(args.weights)))
    return inputs + [("shipped weights", path) for path in SHIPPED.values()]


class Outputs:
    """Boxes file, summary JSON and annotated video, each written beside its path and moved there only when the
    run succeeds; the display window. Every path is checked before the run starts."""

    def __init__(self, args: argparse.Namespace, inputs: list[tuple[str, Path]], fps: float | None = None,
                 targets: int = 1) -> None:
        # several targets: one boxes file each (boxes.txt -> boxes.1.txt, ...), as OTB numbers its ground truth
        paths = [] if not args.output else [args.output] if targets == 1 else [
            numbered(args.output, i) for i in range(1, targets + 1)]
        self.boxes = [Output(path, "--output") for path in paths]
        self.rows = Output(args.output_csv, "--output-csv") if args.output_csv else None
        self.summary = Output(args.summary_json, "--summary-json") if args.summary_json else None
        self.recorder = VideoRecorder(args.save, fps or VIDEO_FPS) if args.save else None  # the source's rate
        self.several = targets > 1
        refuse_clobbering([o for o in (*self.boxes, self.rows, self.summary, self.recorder and self.recorder.output)
                           if o], inputs)
        self.display = args.display
        if self.display:
            check_display("--display")

    def frame(self, number: int, image: np.ndarray, box: np.ndarray, truth: np.ndarray | None,
              score: float = float("nan"), lost: bool = False) -> None:
        """Frame ``number`` (from 1) of the one target to every output."""
        self.frame_targets(number, image, {1: (box, score, lost)}, {1: truth})

    def frame_targets(self, number: int, image: np.ndarray, rows: dict[int, tuple[np.ndarray, float, bool]],
                      truths: dict[int, np.ndarray | None]) -> None:
        """Frame ``number`` (from 1): each target's (box, score, lost), by id (from 1), to every output. Nothing is
        written before the first frame: no temporary file exists until the run's ``try`` is there to remove it."""
        if self.rows and number == 1:
            self.rows.write("frame,target,x,y,w,h,score,lost\n")
        for target, (box, score, lost) in rows.items():
            if self.boxes:
                self.boxes[target - 1].write(",".join(f"{v:.2f}" for v in box) + "\n")
            if self.rows:  # frame from 1; no score (the first frame, an OpenCV peer) is an empty cell
                cells = [str(number), str(target), *(f"{v:.2f}" for v in box), "" if np.isnan(score) else
                         f"{score:.4f}"]
                self.rows.write(",".join(cells) + f",{int(lost)}\n")
        if not (self.recorder or self.display):
            return
        canvas = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        for truth in truths.values():
            if truth is not None:
                draw_box(canvas, truth, (0, 255, 0))
        for target, (box, _, lost) in rows.items():
            if self.several:  # each target in its colour, with its id
                draw_target(canvas, box, target, lost)
            else:
                draw_box(canvas, box, (0, 0, 255))
        if self.recorder:
            self.recorder.write(canvas)
        if self.display:
            cv2.imshow("tracker", canvas)
            cv2.waitKey(1)

    def close(self, summary: dict | None) -> None:
        """Move every output into place (``summary``: the run succeeded), or leave every path as it was. A video
        that did not write whole fails the run here, and the other outputs are left as they were too. A stop
        (SIGTERM, Ctrl-C) meanwhile takes effect once every output is in place or discarded."""
        if self.display:
            cv2.destroyAllWindows()
        outputs = [output for output in (*self.boxes, self.rows, self.summary) if output is not None]
        with signals_deferred():
            try:
                if self.recorder:
                    self.recorder.close(keep=summary is not None)
                if summary is not None:
                    if self.summary:
                        self.summary.write(json_text(summary))
                    for output in outputs:
                        output.commit()
            finally:
                for output in outputs:
                    output.discard()  # those not moved into place (a failed run, a failed commit)


def run(args: argparse.Namespace) -> dict:
    if args.max_frames is not None and args.max_frames < 1:
        raise TrackerError(f"--max-frames must be at least 1, got {args.max_frames}")
    config = make_config(args) if args.tracker == "ours" else None
    tracker = make_peer(args) if config is None else None
    sequence, init_boxes, truths = open_sequence(args)
    if len(init_boxes) > 1:
        return run_targets(args, config, sequence, init_boxes, truths)
    outputs = Outputs(args, run_inputs(args, sequence), sequence.fps)
    summary = None
    try:
        if args.tracker == "ours":
            tracker = build_tracker(config, args.weights)
        summary = track_sequence(args, tracker, sequence, init_boxes[0], outputs)
        if args.tracker == "ours":
            stats = tracker.sequence_stats()
            summary.update({
                "tracker": f"ours ({config.learning.updater})", "updater": config.learning.updater,
                "backbone": tracker.config.network.backbone,
                "weights": weights_loaded(args.weights, tracker.config.network.backbone),
                "batch_size": config.updates.batch_size, "seed": config.seed,
                "learning_dtype": str(tracker.updater.dtype).removeprefix("torch."),
                "candidate_features": config.network.candidate_features,
                "sample_features": config.network.sample_features,
                "box_estimator": config.box.box_estimator, "skipped_steps": tracker.state.skipped_steps,
                "phase_seconds": stats.phase_seconds, "updater_diagnostics": tracker.updater.diagnostics()})
        else:
            summary["tracker"] = tracker.name
        json_text(summary)  # a summary that cannot be written fails the run before anything is moved into place
    finally:
        outputs.close(summary)
    return summary


def run_targets(args: argparse.Namespace, config: TrackerConfig | None, sequence: Sequence,
                init_boxes: list[np.ndarray], truths: list[np.ndarray | None]) -> dict:
    """Several targets in one run (tracker/multi.py): the summary, with each target's scores where it has a
    ground truth."""
    if args.tracker != "ours":
        raise TrackerError(f"several targets are tracked by ours only, not --tracker {args.tracker}")
    refuse_crowds(init_boxes)  # before anything is built
    outputs = Outputs(args, run_inputs(args, sequence), sequence.fps, targets=len(init_boxes))
    summary = None
    try:
        tracker = build_multi_tracker(config, args.weights)
        summary = track_several(args, tracker, sequence, init_boxes, truths, outputs)
        summary.update({"tracker": f"ours ({config.learning.updater})", "updater": config.learning.updater,
                        "seed": config.seed, "weights": weights_loaded(args.weights, config.network.backbone)})
        json_text(summary)  # a summary that cannot be written fails the run before anything is moved into place
    finally:
        outputs.close(summary)
    return summary


def track_several(args: argparse.Namespace, tracker: MultiTargetTracker, sequence: Sequence,
                  init_boxes: list[np.ndarray], truths: list[np.ndarray | None], outputs: Outputs) -> dict:
    """The frame loop of several targets: every target's box to the outputs each frame; the summary."""
    known = sequence.announced_length
    n_total = min((n for n in (known, args.max_frames) if n is not None), default=None)
    boxes: dict[int, list[np.ndarray]] = {}
    seconds, lost = [], []
    start = time.perf_counter()
    with tqdm(total=n_total, desc=sequence.name, unit="frame", disable=args.quiet, leave=False) as progress:
        for index, frame in enumerate(track_targets(tracker, sequence, init_boxes, n_total)):
            rows = {i: (r.box, r.score, r.lost) for i, r in frame.results.items()}
            seconds.append(frame.seconds)
            lost.append(any(flag for _, _, flag in rows.values()))  # a frame where any target is lost
            for i, (box, _, _) in rows.items():
                boxes.setdefault(i, []).append(box)
            at = {i: truth[index] if truth is not None and index < len(truth) else None
                  for i, truth in zip(range(1, len(truths) + 1), truths)}
            outputs.frame_targets(index + 1, as_rgb(frame.image), rows, at)
            progress.update()
    if not seconds:
        raise TrackerError(f"no frames could be read from {args.video}")
    elapsed = time.perf_counter() - start
    targets = {}
    for i, truth in zip(range(1, len(truths) + 1), truths):
        stats = tracker.targets[i].tracker.sequence_stats()
        targets[str(i)] = {"failed_frames": stats.failed_frames, **(
            scores(np.array(boxes[i]), truth[:len(boxes[i])]) if truth is not None else {})}
    return {"sequence": sequence.name, "frames": len(seconds), "seconds": elapsed, "fps": len(seconds) / elapsed,
            "latency": latency_report(np.array(seconds), np.array(lost)), "targets": targets}


def track_sequence(args: argparse.Namespace, tracker: Tracker, sequence: Sequence, init_box: np.ndarray,
                   outputs: Outputs) -> dict:
    """The frame loop, with boxes going to the outputs; the summary of what it measured."""
    known = sequence.announced_length  # None: a video that does not say, read until it ends
    n_total = min((n for n in (known, args.max_frames) if n is not None), default=None)
    truth = sequence.ground_truth
    boxes, seconds, lost = [], [], []
    start = time.perf_counter()
    # closing the bar (also when a frame fails) clears its line, so an error prints on a line of its own
    with tqdm(total=n_total, desc=sequence.name, unit="frame", disable=args.quiet, leave=False) as progress:
        for index, frame in enumerate(track(tracker, sequence, init_box, n_total)):
            boxes.append(frame.box)
            seconds.append(frame.seconds)
            lost.append(frame.lost)
            outputs.frame(index + 1, frame.image, frame.box,
                          truth[index] if truth is not None and index < len(truth) else None, frame.score, frame.lost)
            progress.update()
    if not boxes:
        raise TrackerError(f"no frames could be read from {args.video}")
    elapsed = time.perf_counter() - start
    summary = {"sequence": sequence.name, "frames": len(boxes), "seconds": elapsed, "fps": len(boxes) / elapsed,
               "failed_frames": tracker.sequence_stats().failed_frames,
               "latency": latency_report(np.array(seconds), np.array(lost))}
    if truth is not None and not args.init:
        summary.update(scores(np.array(boxes), truth[:len(boxes)]))
    return summary


def run_webcam(args: argparse.Namespace) -> None:
    from tracker.live import LatestFrameReader, OneTarget, OpenCVWindow, Targets, open_capture, run_live

    given = {"--output": args.output, "--output-csv": args.output_csv, "--summary-json": args.summary_json,
             "--max-frames": args.max_frames, "--video": args.video}
    ignored = [flag for flag, value in given.items() if value is not None]
    if ignored:
        raise TrackerError(f"{', '.join(ignored)}: not for the live demo (--webcam); it records with --save "
                           "and snapshots with the s key")
    peer = make_peer(args) if args.tracker != "ours" else None
    config = make_config(args)
    init_boxes = [parse_box(text) for text in args.init or []]
    if peer is not None and len(init_boxes) > 1:
        raise TrackerError(f"several targets are tracked by ours only, not --tracker {args.tracker}")
    refuse_crowds(init_boxes)
    capture, is_camera = open_capture(args.webcam)
    window = OpenCVWindow()
    # a file plays at the tracker's pace, every frame tracked; --realtime plays it as a camera would deliver it
    pace = (capture.get(cv2.CAP_PROP_FPS) or 25.0) if args.realtime and not is_camera else None
    reader = LatestFrameReader(capture, is_camera, pace, every_frame=not is_camera and not args.realtime).start()

    def make_tracker(cfg: TrackerConfig) -> Targets:
        return OneTarget(peer) if peer is not None else build_multi_tracker(cfg, args.weights, warn=False)

    stats = run_live(reader, window, config, make_tracker, init_boxes, args.save, args.snapshots,
                     fixed_name=peer.name if peer is not None else None)
    if reader.decoder_said:
        frame, words = reader.decoder_said
        warnings.warn(f"video {args.webcam} is damaged from frame {frame} on (the decoder says: {clipped(words)}); "
                      "what it decoded was tracked", CorruptFrameWarning, stacklevel=1)
    print(f"live: {stats.frames} frames tracked, {stats.skipped} skipped, {stats.fps:.1f} fps at the end")


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    argv = box_values_as_values(list(sys.argv[1:] if argv is None else argv))
    args = (parser or build_parser()).parse_args(argv)
    with warnings.catch_warnings():  # restores the default display afterwards (main is also called in-process)
        warnings.showwarning = print_warning
        return run_main(args)


def live_main(argv: list[str] | None = None) -> int:
    """``bdfa-live``: the live demo, on camera 0 unless ``--webcam`` names another source."""
    return main(argv, build_parser(live=True))


def run_main(args: argparse.Namespace) -> int:
    def body() -> None:
        if args.webcam is not None:
            run_webcam(args)
        elif args.realtime:
            raise TrackerError("--realtime is for the live demo on a file (--webcam clip.mp4)")
        else:
            summary = run(args)
            # a run writing its rows or boxes to standard output keeps the summary line out of them
            print_summary(summary, sys.stderr if writes_to_stdout(args) else sys.stdout)

    return run_command(body)


def writes_to_stdout(args: argparse.Namespace) -> bool:
    """Whether an output of the run is this process's standard output (``/dev/stdout``, ``/proc/self/fd/1``)."""
    try:
        ours = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    for path in (args.output, args.output_csv, args.summary_json):
        try:
            if path and os.path.samestat(os.stat(path), ours):
                return True
        except OSError:
            continue
    return False


def print_summary(summary: dict, stream: TextIO = sys.stdout) -> None:
    line = f"{summary['sequence']}: {summary['frames']} frames at {summary['fps']:.1f} fps ({summary['tracker']})"
    latency = summary["latency"]["all"]
    if latency["frames"]:
        line += f", p95 frame {latency['p95_ms']:.0f} ms (first {summary['latency']['first_frame_ms']:.0f} ms)"
    if summary.get("success_auc") is not None:
        line += (f", mean IoU {summary['mean_iou']:.3f}, success AUC {summary['success_auc']:.3f},"
                 f" precision@20 {summary['precision_20']:.3f}")
        if summary["scored_frames"] < summary["frames"]:
            line += f" (on the {summary['scored_frames']} frames with ground truth)"
    print(line, file=stream)
