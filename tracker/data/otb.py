"""OTB folders (``img/`` + ``groundtruth_rect*.txt``), plain frame folders and video files."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from tracker.data.sequence import ImageSequence, Sequence, VideoSequence
from tracker.errors import TrackerError, quoted
from tracker.files import read_text

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg"}
# OTB-2015's evaluated frames where they are not "every frame in img/", by the frame numbers in the
# file names (the benchmark's configSeqs, as got10k's and pytracking's loaders apply them). BlurCar1/3/4
# folders start at 0247/0003/0018.jpg; David's, Diving's, Football1's and Freeman3/4's hold frames
# past the annotated ones; Tiger1's ground truth covers frames 1-354 but the benchmark starts at 6.
OTB_FRAME_RANGES = {
    "BlurCar1": (247, 988), "BlurCar3": (3, 359), "BlurCar4": (18, 397), "David": (300, 770),
    "Diving": (1, 215), "Football1": (1, 74), "Freeman3": (1, 460), "Freeman4": (1, 283), "Tiger1": (6, 354),
}


def frame_number(path: Path) -> int | None:
    """The number a frame's file name ends in (``img0042.jpg`` -> 42), or None."""
    match = re.search(r"(\d+)$", path.stem)
    return int(match.group(1)) if match else None


def frames_in_range(folder: Path, frames: list[Path], first: int, last: int) -> list[Path]:
    """The frames numbered ``first``-``last`` by the digits ending their file names (by position if unnumbered)."""
    numbers = [frame_number(f) for f in frames]
    if None in numbers:
        return frames[first - 1:last]
    by_number = dict(zip(numbers, frames))
    missing = [n for n in range(first, last + 1) if n not in by_number]
    if missing:
        raise TrackerError(f"{folder}: frame {missing[0]} of OTB-2015's range {first}-{last} is missing "
                           f"({len(missing)} missing in all)")
    return [by_number[n] for n in range(first, last + 1)]


def boxes_in_range(path: Path, boxes: np.ndarray, first: int, last: int) -> np.ndarray:
    """Ground truth for frames ``first``-``last``: it lists either exactly those or frames 1-``last``."""
    if len(boxes) == last - first + 1:
        return boxes
    if len(boxes) == last:
        return boxes[first - 1:]
    raise TrackerError(f"{path}: {len(boxes)} boxes fit neither OTB-2015's frames {first}-{last} "
                       f"({last - first + 1} boxes) nor frames 1-{last}")


def parse_boxes(path: Path) -> np.ndarray:
    """Boxes from a ground-truth file: one x,y,w,h per line, comma / tab / space delimited."""
    if not path.is_file():
        raise TrackerError(f"ground truth file not found: {path}")
    rows = []
    for number, line in enumerate(read_text(path, 'ground truth file').splitlines(), 1):
        if not line.strip():
            continue
        fields = [f for f in re.split(r"[,\s]+", line.strip()) if f]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            values = []
        finite = np.isfinite(values)
        # a line of NaN marks a frame without the target (UAV123 style): kept, and not scored
        if len(values) != 4 or not (finite.all() or np.isnan(values).all()):
            raise TrackerError(f"malformed ground truth at {path}:{number}: {quoted(line.strip())} (expected x,y,w,h)")
        if finite.all() and (values[2] < 0 or values[3] < 0):
            raise TrackerError(f"ground truth at {path}:{number} has a negative size: {quoted(line.strip())}")
        rows.append(values)
    if not rows:
        raise TrackerError(f"ground truth file is empty: {path}")
    return np.array(rows, dtype=np.float64)


def image_files(folder: Path) -> list[Path]:
    """The frames in ``folder``, in the order of the numbers in their names (``2.jpg`` before ``10.jpg``); by
    name where none is numbered. Names that mix the two, or two frames with one number, have no order."""
    try:
        frames = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    except OSError as exc:
        raise TrackerError(f"cannot list the frames in {folder}: {exc.strerror}") from None
    numbers = {p: frame_number(p) for p in frames}
    unnumbered = sorted(p.name for p, n in numbers.items() if n is None)
    if not unnumbered:
        frames.sort(key=lambda p: (numbers[p], p.name))
        for before, after in zip(frames, frames[1:]):
            if numbers[before] == numbers[after]:
                raise TrackerError(f"frames {before.name} and {after.name} in {folder} have the same number: "
                                   "their order is unknown")
        return frames
    if len(unnumbered) < len(frames):
        raise TrackerError(f"{folder} mixes numbered frames with unnumbered ones ({unnumbered[0]}): their order "
                           "is unknown")
    return sorted(frames, key=lambda p: p.name)


def split_target(path: Path) -> tuple[Path, int | None]:
    """``.../Jogging.2`` names target 2 of the two-target folder ``.../Jogging`` (got10k naming)."""
    match = re.fullmatch(r"(.+)\.(\d+)", path.name)
    if not path.exists() and match and (path.parent / match.group(1)).is_dir():
        return path.parent / match.group(1), int(match.group(2))
    return path, None


def ground_truth_files(folder: Path) -> list[Path]:
    single = folder / "groundtruth_rect.txt"
    numbered = sorted(folder.glob("groundtruth_rect.[0-9]*.txt"))
    return numbered or ([single] if single.is_file() else [])


def open_otb(folder: Path, target: int | None = None, name: str | None = None) -> Sequence:
    """An OTB sequence folder, restricted to OTB-2015's evaluated frames."""
    frames = image_files(folder / "img")
    if not frames:
        raise TrackerError(f"no frames in {folder / 'img'}")
    files = ground_truth_files(folder)
    if target is not None:
        gt_path = folder / f"groundtruth_rect.{target}.txt"
        if not gt_path.is_file():
            raise TrackerError(f"{folder} has no target {target} ({gt_path.name} not found)")
    elif files:
        gt_path = files[0]
        if len(files) > 1:
            target = 1
            warnings.warn(f"{folder.name} has {len(files)} targets: tracking target 1 ({folder.name}.2 names the "
                          "second)", stacklevel=2)
    else:
        return ImageSequence(name or folder.name, frames)  # no ground truth: needs --init
    boxes = parse_boxes(gt_path)
    label = name or (f"{folder.name}.{target}" if target is not None else folder.name)
    if folder.name in OTB_FRAME_RANGES:
        first, last = OTB_FRAME_RANGES[folder.name]
        frames = frames_in_range(folder, frames, first, last)
        boxes = boxes_in_range(gt_path, boxes, first, last)
    if len(frames) < len(boxes):
        raise TrackerError(f"{folder}: fewer frames ({len(frames)}) than ground-truth boxes ({len(boxes)})")
    if len(frames) > len(boxes):
        raise TrackerError(f"{folder}: fewer ground-truth boxes ({len(boxes)}) than frames ({len(frames)})")
    return ImageSequence(label, frames, boxes, gt_path)


def open_targets(path: str | Path | None) -> list[Sequence]:
    """Every target of an OTB folder with several ground-truth files (``groundtruth_rect.1.txt``, ...), one
    sequence each, in their numbers' order (their frames are the same)."""
    if path is None:
        raise TrackerError("--targets all needs --video: an OTB folder with several ground-truth files")
    folder, target = split_target(Path(path))
    if target is not None:
        raise TrackerError(f"--targets all takes the folder ({folder.name}), not one target ({Path(path).name})")
    if not (folder / "img").is_dir():
        raise TrackerError(f"--targets all takes an OTB folder (img/ and groundtruth_rect.N.txt files): {path}")
    numbered = sorted((f for f in ground_truth_files(folder) if f.name != "groundtruth_rect.txt"),
                      key=lambda f: int(f.name.split(".")[1]))
    if len(numbered) < 2:
        raise TrackerError(f"{folder} has one target: --targets all is for a folder with several ground-truth files")
    return [open_otb(folder, int(f.name.split(".")[1])) for f in numbered]


def open_source(path: str | Path) -> Sequence:
    """An OTB folder, a folder of frames or a video file."""
    path, target = split_target(Path(path))
    if path.is_file():
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise TrackerError(f"not a video file or sequence folder: {path}")
        return VideoSequence(path.stem, path)
    if not path.is_dir():
        raise TrackerError(f"no such file or folder: {path}")
    if (path / "img").is_dir() or target is not None:
        return open_otb(path, target)
    frames = image_files(path)
    if not frames:
        raise TrackerError(f"no frames in {path}")
    return ImageSequence(path.name, frames)


def list_otb(root: str | Path) -> dict[str, tuple[Path, int | None]]:
    """OTB sequence names under ``root`` -> (folder, target); two-target folders give two names."""
    root = Path(root)
    if not root.is_dir():
        raise TrackerError(f"no such folder: {root}")
    found: dict[str, tuple[Path, int | None]] = {}
    try:
        folders = sorted(p for p in root.iterdir() if (p / "img").is_dir())
    except OSError as exc:
        raise TrackerError(f"cannot list the sequences in {root}: {exc.strerror}") from None
    for folder in folders:
        files = ground_truth_files(folder)
        numbered = [f for f in files if f.name != "groundtruth_rect.txt"]
        if numbered:
            for f in numbered:
                target = int(f.name.split(".")[1])
                found[f"{folder.name}.{target}"] = (folder, target)
        elif files:
            found[folder.name] = (folder, None)
    return found
