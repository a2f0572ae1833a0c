from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import yaml

from tracker.backbones import MDNetBackbone as Backbone
from tracker.config import TrackerConfig, merged
from tracker.data.synthetic import synthetic_sequence

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
OTB = SHARED / "datasets" / "otb"
needs_otb = pytest.mark.skipif(not OTB.is_dir(), reason="../shared/datasets/otb is absent")

# Fewer samples and iterations: the same code paths, a fraction of the time.
FAST = {"samples": {"n_pos_init": 100, "n_neg_init": 600, "n_pos_update": 20, "n_neg_update": 60},
        "updates": {"maxiter_init": 8, "maxiter_update": 3, "batch_neg_cand": 256}, "box": {"n_bbreg": 150}}
NARROW = merged(FAST, {"network": {"backbone_channels": [16, 32, 32]}})  # and a narrow random trunk: a YAML file's

torch.set_num_threads(2)


@pytest.fixture
def fast_config() -> TrackerConfig:
    return TrackerConfig().replace(**FAST)


@pytest.fixture
def fast_yaml(tmp_path: Path) -> str:
    """A config file of the FAST settings on a narrow random trunk, for the command line."""
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(NARROW))
    return str(path)


@pytest.fixture
def backbone() -> Backbone:
    net = Backbone((16, 32, 32))
    net.init_random(torch.Generator().manual_seed(0))
    return net.eval()


def write_otb(folder: Path, n_frames: int = 8, boxes: list[str] | None = None, gt_name: str = "groundtruth_rect.txt",
              size: tuple[int, int] = (160, 120)) -> Path:
    """A small OTB-layout sequence folder made from the synthetic video."""
    sequence = synthetic_sequence(n_frames=n_frames, size=size)
    (folder / "img").mkdir(parents=True)
    for i, frame in enumerate(sequence.frames, 1):
        cv2.imwrite(str(folder / "img" / f"{i:04d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    lines = boxes if boxes is not None else [",".join(str(int(v)) for v in b) for b in sequence.ground_truth]
    (folder / gt_name).write_text("\n".join(lines) + "\n")
    return folder


def damaged_video(path: Path, n_frames: int = 40) -> Path:
    """The synthetic video (320x240) as an mp4 with a byte flipped every 97 through its middle half: FFmpeg opens
    it and decodes every frame, complaining on many (with frame threads, some complaints came after the read)."""
    sequence = synthetic_sequence(n_frames=n_frames, size=(320, 240))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    for frame in sequence.frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    data = bytearray(path.read_bytes())
    for k in range(len(data) // 4, len(data) * 3 // 4, 97):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def otb_folder(tmp_path: Path) -> Path:
    return write_otb(tmp_path / "Toy")


def static_box_iou(ground_truth: np.ndarray) -> float:
    """What a tracker that never moves from the first box scores: the floor a real tracker must beat."""
    from tracker.boxes import iou

    return float(iou(np.tile(ground_truth[0], (len(ground_truth), 1)), ground_truth).mean())


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def started(args: list[str], **kwargs: object) -> Iterator[subprocess.Popen]:
    """A child in its own process group, as a terminal would start it: it takes Ctrl-C (``interrupt``) even where
    the suite's own parent ignores SIGINT, and it and its workers never outlive the test."""
    proc = subprocess.Popen(args, preexec_fn=_default_sigint, start_new_session=True, **kwargs)
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()


def interrupt(proc: subprocess.Popen) -> None:
    """Ctrl-C as a terminal sends it: to the whole process group."""
    os.killpg(proc.pid, signal.SIGINT)


def without_file_permission_override(args: list[str]) -> list[str]:
    """``args`` run without CAP_DAC_OVERRIDE, so that root too is refused what the file modes refuse."""
    if os.geteuid() != 0:
        return args
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be made to hold")
    return ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", *args]


def stopped_at_each_write(run: Callable[[], int], folder: Path, signum: int,
                          monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """``run()`` once per point where a file is being put in place (just after each temporary file is made, and
    just after each is moved into place), with ``signum`` raised there, as a signal arriving at that instant
    would be; yields each run's exit code, ending with the first run that reached no such point (its code 0)."""
    make, move = tempfile.mkstemp, os.replace
    for stop_at in itertools.count(1):
        reached = 0

        def signal_after(real: Callable[..., Any], stop_at: int = stop_at) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                nonlocal reached
                answer = real(*args, **kwargs)
                if Path(args[1] if real is move else kwargs.get("dir", "")).resolve().is_relative_to(folder):
                    reached += 1
                    if reached == stop_at:
                        signal.raise_signal(signum)
                return answer
            return call

        monkeypatch.setattr(tempfile, "mkstemp", signal_after(make))
        monkeypatch.setattr(os, "replace", signal_after(move))
        try:
            code = run()
        finally:
            monkeypatch.setattr(tempfile, "mkstemp", make)
            monkeypatch.setattr(os, "replace", move)
        yield code
        if reached < stop_at:
            return


def leftovers(folder: Path) -> list[str]:
    """Temporary files a run left under ``folder``."""
    return sorted(str(p) for p in folder.rglob("*") if p.name.startswith((".tmp-", ".probe-")))
