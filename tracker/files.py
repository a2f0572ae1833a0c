"""Small text files: reading what users hand us (ground truth, configs, attribute lists) with one clear
error, and writing JSON atomically and strictly; and the names we may hand OpenCV."""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path

from tracker.errors import TrackerError, quoted
from tracker.outputs import write_text


def read_text(path: Path, what: str) -> str:
    """``path`` decoded as UTF-8 (a UTF-8 BOM is dropped), or as UTF-16 when it starts with a UTF-16 BOM,
    as Windows tools write it. Anything else is refused in one line naming the file and the first bad byte."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TrackerError(f"cannot read {what} {path}: {exc.strerror}") from None
    encoding = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise TrackerError(f"{what} {path} is not {encoding.upper().removesuffix('-SIG')} text "
                           f"(byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def opencv_name(path: str | Path, what: str) -> str:
    """``path`` as OpenCV takes it. OpenCV (5.1) dies with SIGSEGV, past any handler, on a name that is not
    valid UTF-8 (a byte from another encoding in a folder's name), so such a name is refused here."""
    name = os.fspath(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise TrackerError(f"{what} {quoted(name)} is not valid UTF-8, and OpenCV cannot open such a name: "
                           "rename it") from None
    return name


def one_line_name(name: str, what: str) -> str:
    """``name`` for a line-based file (a list, an ini): valid UTF-8 and without line breaks or control
    characters, which would split or corrupt its line."""
    opencv_name(name, what)
    if any(ord(c) < 32 or c in "\x7f\u2028\u2029\x85" for c in name):
        raise TrackerError(f"{what} {quoted(name)} has a line break or a control character: rename it")
    return name


def json_text(data: object) -> str:
    """Strict JSON: a NaN is a bug to surface, not to write."""
    try:
        return json.dumps(data, indent=2, allow_nan=False)
    except ValueError as exc:
        raise TrackerError(f"cannot write JSON: {exc}") from None


def write_json(path: str | Path, data: object, flag: str = "output") -> None:
    """Atomically: a reader never sees half a file, and a failure leaves the file as it was."""
    write_text(path, json_text(data), flag)
