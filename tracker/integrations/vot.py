"""``bdfa-vot``: the tracker as a TraX server, so that the VOT toolkit can drive it.

The toolkit starts this command once per sequence and talks TraX over its standard input and output
(a socket, ``TRAX_SOCKET``, is refused: tracker/integrations/trax_guard.py): an image path and a region to
start from, then an image path per frame, each answered with our box and, as ``confidence``, the target
score. A polygon is taken as its bounding rectangle. Everything else this process says goes to stderr: stdout is the
protocol's.

    bdfa-vot [--updater bp] [--config my.yaml] [--set KEY=VALUE] [--weights PATH] [--seed N]
    python -m tracker.integrations.vot ...

Needs ``vot-trax`` (``pip install -e '.[vot]'``), the package the VOT toolkit's own integration uses;
the PyPI package called ``trax`` is another project.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from tracker.data.sequence import read_image
from tracker.errors import ArgumentParser, TrackerError, clipped, print_error, print_warning, quoted, run_command
from tracker.integrations.trax_guard import MessageGuard, guard_input
from tracker.tracking import Tracker

INSTALL = "pip install -e '.[vot]'"
PATH_MAX = 4096  # Linux's limit on a path


def load_trax() -> object:
    """vot-trax's ``trax`` package, or one line saying how to get it."""
    try:
        import trax
        import trax.image
        import trax.region
        import trax.server
    except ImportError:
        raise TrackerError(f"bdfa-vot needs the TraX library of the VOT toolkit: {INSTALL}") from None
    if not hasattr(trax.server, "Server") or not hasattr(trax, "TraxStatus"):
        raise TrackerError(f"the installed 'trax' package is not vot-trax (PyPI's 'trax' is another project): "
                           f"pip uninstall trax && {INSTALL}")
    return trax


def region_box(region: object, trax: object) -> np.ndarray:
    """x, y, w, h of a TraX rectangle, or of a polygon's bounding rectangle."""
    if region.type == trax.region.Region.RECTANGLE:
        box = np.array(region.bounds(), dtype=float)
    elif region.type == trax.region.Region.POLYGON:
        points = np.array([region.get(i) for i in range(region.size())], dtype=float)
        low, high = points.min(axis=0), points.max(axis=0)
        box = np.array([low[0], low[1], high[0] - low[0], high[1] - low[1]])
    else:
        raise TrackerError(f"the initial region is a {region.type}: bdfa-vot takes rectangles and polygons")
    if not np.all(np.isfinite(box)):
        raise TrackerError(f"the initial region {quoted(box.tolist())} is not finite")
    return box


def frame_image(images: dict, trax: object) -> np.ndarray:
    """The colour channel's image, read from the path the client sent."""
    image = images.get(trax.image.ImageChannel.COLOR)
    if image is None:
        raise TrackerError("the client sent no colour image")
    if image.type() != trax.image.Image.PATH:
        raise TrackerError(f"the client sent a {image.type()} image: bdfa-vot reads image paths")
    name = image.path()
    if len(name.encode("utf-8")) > PATH_MAX:
        raise TrackerError(f"the client sent an image path of more than {PATH_MAX} bytes")
    path = Path(name)
    if not path.is_file():
        raise TrackerError(f"image not found: {quoted(str(path))}")
    return read_image(path)


def reply(server: object, trax: object, box: np.ndarray, score: float | None) -> None:
    properties = {} if score is None or not math.isfinite(score) else {"confidence": f"{score:.6f}"}
    server.status([(trax.region.Rectangle.create(*(float(v) for v in box)), properties)])


def serve(tracker: Tracker, trax: object, guard: MessageGuard | None = None) -> None:
    """Answer the client until it quits; each initialisation starts the tracker afresh on its sequence. A bad
    region or image ends the session with its reason, on both sides: one ``error:`` line here, a TraX
    termination there. A message the ``guard`` refused ends it the same way."""

    def refused() -> None:
        if guard is not None and guard.problem is not None:
            raise TrackerError(f"the client sent {guard.problem}" if guard.problem.startswith("a ")
                               else guard.problem)

    server = trax.server.Server([trax.region.Region.RECTANGLE, trax.region.Region.POLYGON],
                                [trax.image.Image.PATH], tracker_name="bdfa-tracker",
                                tracker_family="MDNet", tracker_description="MDNet-style tracker learning by BDFA")
    started = False
    try:
        while True:
            request = server.wait()
            if request.type == trax.TraxStatus.QUIT:
                refused()  # the guard ended the input: the library takes that for a quit
                return
            if request.type == trax.TraxStatus.INITIALIZE:
                if not request.objects:
                    raise TrackerError("the client sent no initial region")
                box = region_box(request.objects[0][0], trax)
                tracker.init(frame_image(request.image, trax), box)
                started = True
                reply(server, trax, box, None)
            else:
                if not started:
                    raise TrackerError("the client sent a frame before initialising the tracker")
                result = tracker.track_frame(frame_image(request.image, trax))
                reply(server, trax, result.box, result.score)
    except TrackerError as exc:
        print_error(str(exc))
        server.quit(reason=clipped(str(exc)))
        raise SystemExit(2) from None
    except trax.TraxException as exc:  # the client went away mid-session, or the guard ended its input
        refused()
        raise TrackerError(f"TraX session ended: {quoted(str(exc))}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from tracker.updaters import UPDATERS

    parser = ArgumentParser(description="TraX server for the VOT toolkit (protocol = trax / traxpython)")
    parser.add_argument("--updater", choices=sorted(UPDATERS), help="online learning rule (default: the config's)")
    parser.add_argument("--config", help="YAML file overriding any subset of the defaults")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    parser.add_argument("--weights", help="backbone weights (default: tracker/pretrained/default.pt)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``argv`` defaults to the command line, then to ``BDFA_VOT_ARGS`` (traxpython passes no arguments)."""
    if argv is None:
        argv = sys.argv[1:] or os.environ.get("BDFA_VOT_ARGS", "").split()
    args = parse_args(argv)

    def start() -> None:
        from tracker.build import build_tracker
        from tracker.cli import parse_sets
        from tracker.config import dotted, load_config

        trax = load_trax()
        config = load_config(args.config, **dotted({**parse_sets(args.set), **{
            k: v for k, v in (("learning.updater", args.updater), ("seed", args.seed)) if v is not None}}))
        guard = guard_input()  # a transport we cannot guard is refused before anything is built
        # built before the session: a bad config or weights file fails before the client waits on us
        tracker = build_tracker(config, args.weights)
        serve(tracker, trax, guard)

    with warnings.catch_warnings():
        warnings.showwarning = print_warning  # one warning: line each, on stderr (stdout is the protocol's)
        return run_command(start)


if __name__ == "__main__":
    sys.exit(main())
