"""The folder layouts of the benchmarks got10k's toolkit knows, read in place and never downloaded.

Each layout lists its sequences by name, and opens one by name into an :class:`ImageSequence` with its
ground truth. Frames a benchmark marks as not visible (GOT-10k's ``cover.label``, LaSOT's
``full_occlusion.txt`` / ``out_of_view.txt``) get NaN ground truth after the first frame, which every
score leaves out, as those benchmarks' own evaluations do.

- ``otb``, ``dtb70``: ``NAME/img/0001.jpg`` + ``NAME/groundtruth_rect.txt`` (OTB's two-target folders too)
- ``got10k``: ``NAME/00000001.jpg`` + ``NAME/groundtruth.txt`` (+ ``cover.label``, ``meta_info.ini``), in the
  subset folder (``val/``) or below it; ``list.txt`` orders them where present
- ``lasot``: ``CLASS/CLASS-N/img/00000001.jpg`` + ``groundtruth.txt``, ``full_occlusion.txt``, ``out_of_view.txt``
- ``uav123``: ``data_seq/UAV123/FOLDER/000001.jpg`` + ``anno/UAV123/NAME.txt``, split into got10k's sequences
- ``nfs``: ``NAME/30/NAME/00001.jpg`` + ``NAME/30/NAME.txt`` (NfS's 30 fps version)
- ``tcolor128``: ``NAME/img/0001.jpg`` + ``NAME/NAME_gt.txt`` + ``NAME/NAME_frames.txt`` (first,last frame)
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tracker.data.otb import frames_in_range, image_files, list_otb, open_otb, parse_boxes
from tracker.data.sequence import ImageSequence, Sequence
from tracker.errors import TrackerError, quoted
from tracker.files import read_text

Opener = Callable[[], Sequence]


def _folders(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir())
    except OSError as exc:
        raise TrackerError(f"cannot list the sequences in {root}: {exc.strerror}") from None


def _flags(path: Path, n: int) -> np.ndarray:
    """A per-frame 0/1 (or count) file, one value per frame, on one line or one per line."""
    values = [v for v in re.split(r"[,\s]+", read_text(path, "attribute file").strip()) if v]
    try:
        flags = np.array([float(v) for v in values])
    except ValueError:
        raise TrackerError(f"malformed attribute file {path}: expected one number per frame") from None
    if len(flags) != n:
        raise TrackerError(f"{path} has {len(flags)} values for {n} frames")
    return flags


def _sequence(name: str, frames: list[Path], gt_path: Path, boxes: np.ndarray | None = None,
              hidden: np.ndarray | None = None, bound: tuple[int, int] | None = None) -> ImageSequence:
    """Frames and ground truth of one sequence; frames in ``hidden`` (after the first) are not scored."""
    boxes = parse_boxes(gt_path) if boxes is None else boxes
    if not frames:
        raise TrackerError(f"no frames for {name} (ground truth {gt_path})")
    if len(frames) != len(boxes):
        raise TrackerError(f"{name}: {len(frames)} frames but {len(boxes)} ground-truth boxes in {gt_path}")
    if hidden is not None:
        boxes = boxes.copy()
        boxes[1:][hidden[1:]] = np.nan
    sequence = ImageSequence(name, frames, boxes, gt_path)
    sequence.bound = bound
    return sequence


def list_got10k(root: Path) -> dict[str, Opener]:
    listed = root / "list.txt"
    if listed.is_file():
        folders = [root / n.strip() for n in read_text(listed, "sequence list").splitlines() if n.strip()]
        _require(root, tuple(f.name for f in folders), "GOT-10k (list.txt)")
    else:
        folders = [f for f in _folders(root) if (f / "groundtruth.txt").is_file()]
        if not folders:  # the dataset root: its subset folders hold the sequences
            folders = [f for sub in _folders(root) for f in _folders(sub) if (f / "groundtruth.txt").is_file()]
    return {f.name: (lambda f=f: _open_got10k(f)) for f in folders}


def _open_got10k(folder: Path) -> Sequence:
    frames = image_files(folder)
    boxes = parse_boxes(folder / "groundtruth.txt")
    hidden = None
    if (folder / "cover.label").is_file():
        hidden = _flags(folder / "cover.label", len(frames)) == 0
    elif (folder / "absence.label").is_file():
        hidden = _flags(folder / "absence.label", len(frames)) == 1
    bound = None
    meta = folder / "meta_info.ini"
    if meta.is_file():
        found = re.search(r"^resolution:\s*(\(.*\))\s*$", read_text(meta, "meta file"), flags=re.M)
        try:
            bound = tuple(int(v) for v in ast.literal_eval(found.group(1))) if found else None
        except (ValueError, SyntaxError, TypeError):
            raise TrackerError(f"malformed resolution in {meta}: {quoted(found.group(1))}") from None
    return _sequence(folder.name, frames, folder / "groundtruth.txt", boxes, hidden, bound)


def _require(folder: Path, names: tuple[str, ...], layout: str) -> None:
    """Fail the listing, naming the file, where a sequence lacks one its layout always has."""
    for name in names:
        if not (folder / name).exists():
            raise TrackerError(f"{layout} sequence {folder} has no {name}")


def list_lasot(root: Path) -> dict[str, Opener]:
    folders = [seq for cls in _folders(root) for seq in _folders(cls) if (seq / "groundtruth.txt").is_file()]
    for folder in folders:
        _require(folder, ("img", "full_occlusion.txt", "out_of_view.txt"), "LaSOT")
    return {f.name: (lambda f=f: _open_lasot(f)) for f in folders}


def _open_lasot(folder: Path) -> Sequence:
    frames = image_files(folder / "img")
    hidden = np.zeros(len(frames), dtype=bool)
    for name in ("full_occlusion.txt", "out_of_view.txt"):
        hidden |= _flags(folder / name, len(frames)) > 0
    return _sequence(folder.name, frames, folder / "groundtruth.txt", hidden=hidden)


def list_uav123(root: Path) -> dict[str, Opener]:
    import got10k.datasets

    ranges = json.loads((Path(got10k.datasets.__file__).parent / "uav123.json").read_text())["UAV123"]
    if not (root / "anno" / "UAV123").is_dir():
        raise TrackerError(f"{root} has no anno/UAV123 folder (UAV123's layout: data_seq/UAV123 + anno/UAV123)")
    found = {name: r for name, r in ranges.items() if (root / "anno" / "UAV123" / f"{name}.txt").is_file()}
    for name, frame_range in found.items():
        _require(root / "data_seq" / "UAV123", (frame_range["folder_name"],), f"UAV123 ({name})")
    return {name: (lambda name=name, r=r: _open_uav123(root, name, r)) for name, r in found.items()}


def _open_uav123(root: Path, name: str, frame_range: dict) -> Sequence:
    folder = root / "data_seq" / "UAV123" / frame_range["folder_name"]
    frames = frames_in_range(folder, image_files(folder), frame_range["start_frame"], frame_range["end_frame"])
    return _sequence(name, frames, root / "anno" / "UAV123" / f"{name}.txt")


def list_nfs(root: Path) -> dict[str, Opener]:
    found = {}
    for folder in _folders(root):
        anno = folder / "30" / f"{folder.name}.txt"
        if anno.is_file():
            _require(folder / "30", (folder.name,), "NfS")
            found[folder.name] = lambda folder=folder, anno=anno: _open_nfs(folder, anno)
    return found


def _open_nfs(folder: Path, anno: Path) -> Sequence:
    """NfS rows: ``id xmin ymin xmax ymax ...``; a 30 fps folder with 240 fps rows takes every 8th row."""
    frames = image_files(folder / "30" / folder.name)
    rows = []
    for number, line in enumerate(read_text(anno, "ground truth file").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            rows.append([float(v) for v in fields[1:5]])
        except ValueError:
            rows.append([])
        if len(rows[-1]) != 4:
            raise TrackerError(f"malformed ground truth at {anno}:{number}: {quoted(line.strip())} "
                               "(expected id xmin ymin xmax ymax ...)")
    boxes = np.array(rows, dtype=float).reshape(-1, 4)
    boxes[:, 2:] -= boxes[:, :2]
    if frames and abs(len(boxes) / len(frames) - 8) < 1:
        boxes = boxes[0::8]
    n = min(len(frames), len(boxes))
    if abs(len(frames) - len(boxes)) <= 1:  # NfS's 30 fps folders differ from their rows by one frame
        frames, boxes = frames[:n], boxes[:n]
    return _sequence(folder.name, frames, anno, boxes)


def list_tcolor128(root: Path) -> dict[str, Opener]:
    folders = [f for f in _folders(root) if (f / f"{f.name}_gt.txt").is_file()]
    for folder in folders:
        _require(folder, ("img", f"{folder.name}_frames.txt"), "TColor-128")
    return {f.name: (lambda f=f: _open_tcolor128(f)) for f in folders}


def _open_tcolor128(folder: Path) -> Sequence:
    range_file = folder / f"{folder.name}_frames.txt"
    try:
        first, last = (int(v) for v in read_text(range_file, "frame range file").strip().split(","))
    except ValueError:
        raise TrackerError(f"malformed frame range in {range_file}: expected first,last") from None
    frames = frames_in_range(folder, image_files(folder / "img"), first, last)
    return _sequence(folder.name, frames, folder / f"{folder.name}_gt.txt")


def list_otb_layout(root: Path) -> dict[str, Opener]:
    return {name: (lambda f=folder, t=target, n=name: open_otb(f, t, n))
            for name, (folder, target) in list_otb(root).items()}


LAYOUTS: dict[str, Callable[[Path], dict[str, Opener]]] = {
    "otb": list_otb_layout, "dtb70": list_otb_layout, "got10k": list_got10k, "lasot": list_lasot,
    "uav123": list_uav123, "nfs": list_nfs, "tcolor128": list_tcolor128,
}


TITLES = {"otb": "OTB", "dtb70": "DTB70", "got10k": "GOT-10k", "lasot": "LaSOT", "uav123": "UAV123", "nfs": "NfS",
          "tcolor128": "TColor-128"}


def list_dataset(dataset: str, root: str | Path) -> dict[str, Opener]:
    """The sequences of ``dataset`` under ``root``: name -> opener."""
    if dataset not in LAYOUTS:
        raise TrackerError(f"unknown dataset {dataset!r}; choose from {', '.join(LAYOUTS)}")
    root = Path(root)
    if not root.is_dir():
        raise TrackerError(f"no such folder: {root}")
    return LAYOUTS[dataset](root)
