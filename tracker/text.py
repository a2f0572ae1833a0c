"""Reading the small text files users hand us (ground truth, configs, attribute lists) with one clear error."""

from __future__ import annotations

import codecs
from pathlib import Path

from tracker.errors import TrackerError


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
