"""Small text files: reading what users hand us (ground truth, configs, attribute lists) with one clear
error, and writing JSON atomically and strictly."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

from tracker.errors import TrackerError
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


def json_text(data: object) -> str:
    """Strict JSON: a NaN is a bug to surface, not to write."""
    try:
        return json.dumps(data, indent=2, allow_nan=False)
    except ValueError as exc:
        raise TrackerError(f"cannot write JSON: {exc}") from None


def write_json(path: str | Path, data: object, flag: str = "output") -> None:
    """Atomically: a reader never sees half a file, and a failure leaves the file as it was."""
    write_text(path, json_text(data), flag)
