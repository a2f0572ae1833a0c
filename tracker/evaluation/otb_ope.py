"""OTB one-pass evaluation across updaters, online batch sizes and seeds, beside published trackers.

    python -m tracker.evaluation.otb_ope --otb ../shared/datasets/otb --updaters bp,dfa,bdfa \\
        --batch-sizes 128,64,32,16,8 --seeds 3 --jobs 2 --out runs/ope

Every (tracker, sequence) run is written atomically in the got10k / OTB result layout under
``--out``/results as soon as it finishes, and skipped on a re-run unless ``--fresh``: Ctrl-C loses
nothing finished. The report (plots, ``report.md``, ``results.json``) is drawn from what is on disk.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from tqdm import tqdm

from tracker.build import backbone_of
from tracker.config import load_config
from tracker.data.layouts import LAYOUTS
from tracker.errors import ArgumentParser, TrackerError, quoted
from tracker.evaluation.harness import (
    DEFAULT_OTB,
    MAX_SEEDS,
    check_out,
    cli_main,
    guard_resume,
    held,
    read_json,
    require_data,
    run_setup,
    warm_up,
    write_json,
)
from tracker.evaluation.ope import has_result, run_name, write_result
from tracker.evaluation.ope_report import write_report
from tracker.evaluation.peers import DEFAULT_MODELS, PEERS
from tracker.evaluation.run import list_sequences, open_sequences, run_sequence

DEFAULT_ANCHORS_ROOT = Path(DEFAULT_OTB).parent.parent / "anchors" / "otb100"
FAILED_RUNS = "failed_runs.json"  # {"<run>/<sequence>": why} for runs that failed, kept until retried


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(LAYOUTS), default="otb",
                        help="the benchmark whose folder layout --root has (tracker/data/layouts.py); each is "
                             "scored by its own convention beside the OTB curves")
    parser.add_argument("--root", help="the benchmark's folder (default: ../shared/datasets/otb for otb)")
    parser.add_argument("--otb", help="= --dataset otb --root OTB")
    parser.add_argument("--sequences", help="comma-separated names (default: every sequence found)")
    parser.add_argument("--updaters", default="bp,dfa,bdfa",
                        help="comma-separated learning rules to run (bp, fa, dfa, bdfa; default: %(default)s)")
    parser.add_argument("--batch-sizes", default="128,64,32,16,8",
                        help="comma-separated online batch sizes, each run per rule and seed (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per (updater, batch size)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="parallel worker processes, each single-threaded (default: %(default)s)")
    parser.add_argument("--out", default="runs/ope", help="results folder, resumed where it stopped (default: "
                        "%(default)s, git-ignored; results/<study> publishes)")
    parser.add_argument("--anchors", help="published trackers to score and draw ('' for none; default MDNet,SiamFC "
                                           "on OTB, none elsewhere)")
    parser.add_argument("--anchors-root", default=str(DEFAULT_ANCHORS_ROOT),
                        help="the folder of published raw results, one folder per tracker (default: ../shared's "
                             "anchors/otb100 beside a checkout)")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"OpenCV trackers from {','.join(PEERS)} ('' for none); those that cannot run here "
                             "are skipped, with the reason in the report")
    parser.add_argument("--peer-models", default=str(DEFAULT_MODELS),
                        help="folder of the NanoTrack and VitTrack ONNX files")
    parser.add_argument("--weights", help="backbone weights: a file, 'imagenet' or 'none' (random MDNet layout); "
                                          "default: tracker/pretrained/default.pt")
    parser.add_argument("--config", help="YAML overrides for every MDNet run")
    parser.add_argument("--fresh", action="store_true", help="re-run finished (tracker, sequence) pairs")
    parser.add_argument("--report-only", action="store_true", help="no runs: report what has finished")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="where runs execute: local worker processes, or a Ray cluster (--address; "
                             "default: %(default)s)")
    parser.add_argument("--address", help="Ray cluster HOST:PORT ('local' starts Ray in this process)")
    args = parser.parse_args(argv)
    if args.otb is not None:
        if args.root is not None or args.dataset != "otb":
            parser.error("--otb is --dataset otb --root; give one or the other")
        args.root = args.otb
    args.root = args.root or (require_data(DEFAULT_OTB) if args.dataset == "otb" else None)
    if args.root is None:
        parser.error(f"--dataset {args.dataset} needs --root")
    args.otb = args.root  # the settings' name for the root, as reports read it
    if args.anchors is None:
        args.anchors = "MDNet,SiamFC" if args.dataset == "otb" else ""
    return args


def split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def required_list(text: str, flag: str) -> list[str]:
    items = split(text)
    if not items:
        raise TrackerError(f"{flag} names nothing to run (got {quoted(text)})")
    return items


def plan(args: argparse.Namespace) -> tuple[list[dict], dict]:
    """The runs to do, and the settings the report needs. Every bad input fails here, before any run."""
    updaters = required_list(args.updaters, "--updaters")
    try:
        batch_sizes = [int(b) for b in required_list(args.batch_sizes, "--batch-sizes")]
    except ValueError:
        raise TrackerError(f"--batch-sizes must be integers, got {quoted(args.batch_sizes)}") from None
    if args.seeds < 1 or args.jobs < 1:
        raise TrackerError("--seeds and --jobs must be at least 1")
    if args.seeds > MAX_SEEDS:
        raise TrackerError(f"--seeds must be at most {MAX_SEEDS}, got {args.seeds}")
    anchors = split(args.anchors)
    missing = [a for a in anchors if not (Path(args.anchors_root) / a).is_dir()]
    if missing:
        where = (": the default, beside a checkout; give --anchors-root FOLDER or --anchors ''"
                 if args.anchors_root == str(DEFAULT_ANCHORS_ROOT) else "")
        raise TrackerError(f"unknown anchor tracker(s) {', '.join(missing)} (no folder in {args.anchors_root}{where})")
    peers = split(args.peers)
    bad_peers = [p for p in peers if p not in PEERS]
    if bad_peers:
        raise TrackerError(f"unknown peer(s) {', '.join(bad_peers)}; choose from {', '.join(PEERS)}")
    models = Path(args.peer_models)
    skipped = {PEERS[p].label: reason for p in peers if (reason := PEERS[p].unavailable(models)) is not None}
    peers = [p for p in peers if PEERS[p].label not in skipped]
    # names only: a sequence that cannot be read fails its own runs, not the sweep
    sequences = list(list_sequences(args.root, split(args.sequences) if args.sequences else None, args.dataset))
    out = Path(args.out)
    try:
        (out / "results").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrackerError(f"output folder {out} is not writable: {exc.strerror}") from None
    check_out(out, ("results.json", "report.md", FAILED_RUNS))
    config = load_config(args.config)  # fail now, not inside a worker
    for u in updaters:  # the config's validation (updater names, batch size) is the only one
        for b in batch_sizes:
            config.replace(learning={"updater": u}, updates={"batch_size": b})
    config = config.replace(network={"backbone": backbone_of(args.weights,
                                                             config.network.backbone)})  # the weights say which
    # seed outermost: an interrupted sweep has whole updater x batch-size grids for its first seeds
    runs = [{"name": run_name(u, b, s), "updater": u, "batch_size": b, "seed": s}
            for s in range(args.seeds) for b in batch_sizes for u in updaters]
    peer_runs = {PEERS[p].label: PEERS[p].run_names(args.seeds) for p in peers}
    runs += [{"name": name, "peer": p, "seed": s} for p in peers for s, name in enumerate(peer_runs[PEERS[p].label])]
    jobs = [{**run, "sequence": name, "otb": args.root, "dataset": args.dataset, "results": str(out / "results"),
             "weights": args.weights, "config": args.config, "backbone": config.network.backbone,
             "peer_models": str(models)}
            for run in runs for name in sequences]
    settings = {"updaters": updaters, "batch_sizes": batch_sizes, "seeds": args.seeds, "anchors": anchors,
                "anchors_root": args.anchors_root, "peers": [PEERS[p].label for p in peers], "peer_runs": peer_runs,
                "peers_skipped": skipped,
                "sequences": sequences, "otb": args.root, "dataset": args.dataset,
                "config_file": args.config, "setup": run_setup(config, args.weights)}
    return jobs, settings


_warm = False


def warm_up_once() -> None:
    """Our tracker's one-time costs, once per worker process (it runs many sequences)."""
    global _warm
    if not _warm:
        warm_up()
        _warm = True


def run_job(job: dict) -> str | None:
    """One (tracker, sequence) run, written to disk; runs in a worker process. Returns why it failed, or None.

    A broken sequence (an unreadable frame, a tracker error) fails that run alone: the sweep goes on.
    """
    try:
        track_job(job)
    except TrackerError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any other failure is recorded too, by type, not lost in a worker
        return f"{type(exc).__name__}: {exc}"
    return None


def track_job(job: dict) -> None:
    import cv2
    import torch

    from tracker.build import build_tracker
    from tracker.evaluation.peers import OpenCVTracker

    # ours and the OpenCV peers get the same cores, so the fps columns of one run compare
    threads = int(os.environ.get("OPE_THREADS", "1"))
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    sequence = open_sequences(job["otb"], [job["sequence"]], dataset=job["dataset"])[0]
    if "peer" in job:
        tracker = OpenCVTracker(job["peer"], Path(job["peer_models"]), seed=job["seed"])
        warm_up(OpenCVTracker(job["peer"], Path(job["peer_models"])))
    else:
        config = load_config(job["config"], seed=job["seed"], learning={"updater": job["updater"]},
                             updates={"batch_size": job["batch_size"]}, network={"backbone": job["backbone"]})
        tracker = build_tracker(config, job["weights"], warn=False)
        warm_up_once()
    result = run_sequence(tracker, sequence)
    write_result(Path(job["results"]), job["name"], sequence.name, result.boxes, result.seconds)


def execute(jobs: list[dict], workers: int, executor: str, address: str | None) -> dict[str, str]:
    """Every job, whatever fails; returns ``{"<run>/<sequence>": why}`` for the runs that failed."""
    failed: dict[str, str] = {}

    def record(job: dict, reason: str | None) -> None:
        if reason is not None:
            failed[f"{job['name']}/{job['sequence']}"] = reason
            progress.write(f"failed: {job['name']}/{job['sequence']}: {reason}")
        progress.update()

    progress = tqdm(total=len(jobs), desc="runs", unit="run")
    try:
        if executor == "ray":
            run_on_ray(jobs, address, record)
            return failed
        os.environ["OPE_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
        if workers == 1:
            for job in jobs:
                record(job, run_job(job))
        else:
            run_in_pool(jobs, workers, record)
    finally:
        progress.close()
    return failed


def run_in_pool(jobs: list[dict], workers: int, record: Callable[[dict, str | None], None]) -> None:
    # spawn, not fork: the parent has OpenCV's and torch's thread pools running (the peers were loaded
    # to check them), and a forked child can inherit one of their locks held: it hangs
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=worker_started,
                             initargs=(signal.getsignal(signal.SIGINT) is signal.SIG_IGN,)) as pool:
        pending = {pool.submit(run_job, job): job for job in jobs}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    record(pending.pop(future), future.result())
        except BrokenProcessPool:
            time.sleep(1.0)  # workers stopped by Ctrl-C die first: let the parent's KeyboardInterrupt arrive
            raise TrackerError("a worker process died (out of memory?); every finished run is kept: run the "
                               "same command again to resume") from None
        except BaseException:
            # a run in flight is lost either way; waiting for it would hold Ctrl-C for minutes
            workers = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in workers:
                process.terminate()
            raise


def worker_started(interrupt_ignored: bool) -> None:
    """Ctrl-C reaches every worker too: each stops without a traceback; the parent says it once."""
    if not interrupt_ignored:
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))


def run_on_ray(jobs: list[dict], address: str | None, record: Callable[[dict, str | None], None]) -> None:
    try:
        import ray
    except ImportError:
        raise TrackerError("--executor ray needs Ray: pip install -e '.[ray]'") from None
    # workers import this module: put the checkout on their path (cluster nodes need the same checkout)
    runtime_env = {"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OPE_THREADS": "1"}}
    if address in (None, "local"):
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
    else:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(run_job)
    pending = {remote.remote(job): job for job in jobs}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                record(pending.pop(ref), ray.get(ref))
    finally:
        ray.shutdown()


def run(args: argparse.Namespace) -> int:
    """The sweep, then the report; 1 if any run failed (the report names each), else 0."""
    jobs, settings = plan(args)
    out = Path(args.out)
    if not args.report_only:
        guard_resume(out, settings["setup"], args.fresh)
    results = out / "results"
    todo = [j for j in jobs if args.fresh or not has_result(results, j["name"], j["sequence"])]
    workers = min(args.jobs, max(1, len(todo)), os.cpu_count() or 1)
    if workers < args.jobs:
        print(f"warning: --jobs {args.jobs} capped at {workers} (the runs to do and this machine's "
              f"{os.cpu_count()} CPUs)", file=sys.stderr)
    print(f"{len(jobs)} runs, {len(jobs) - len(todo)} already finished, {len(todo)} to do", file=sys.stderr)
    # failures of earlier sweeps stand until their run is retried: a re-run retries exactly those and the unfinished
    failed = read_json(out / FAILED_RUNS, "delete it and run the same command again: runs without results are "
                                         "redone either way")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in failed.items()):
        raise TrackerError(f"{out / FAILED_RUNS} is damaged (not run -> reason strings): delete it and run the "
                           "same command again")
    if not args.report_only:
        retried = {f"{j['name']}/{j['sequence']}" for j in todo}
        failed = {run: why for run, why in failed.items() if run not in retried}
    try:
        if not args.report_only:
            failed.update(execute(todo, workers, args.executor, args.address))
    except KeyboardInterrupt:
        print("interrupted: every finished run is kept; run the same command again to resume", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        if not args.report_only:
            write_json(out / FAILED_RUNS, failed)
    write_report(out, {**settings, "failed_runs": failed})
    if failed:
        print(f"{len(failed)} run(s) failed (listed in {out / 'report.md'}); run the same command again to retry "
              "them", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: held(run, parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
