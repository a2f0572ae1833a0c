"""A bounded reader in front of the TraX library: only whole, well-formed, bounded messages reach it.

vot-trax 4.0.2's C reader grows its buffer without limit while it looks for the end of a message: an
``@@TRAX:initialize`` whose quoted argument is never closed, followed by the end of input, made ``bdfa-vot``
allocate until the OOM killer stopped it (22.8 GB), and segfault under a memory cap. We cannot fix the
library, so the server reads the client's stream itself: a thread reads the real input in bounded
chunks, splits it into lines (a TraX message is one line; a newline inside an argument is written ``\\n``),
checks each message, and passes on only whole messages that pass, through a pipe the library reads instead
of the real input. At the first bad message, or input that ends inside a message, the thread stops and
closes the pipe: the library sees an ordinary end of input, and the server reports why in one line.

The checks: a message is at most :data:`MAX_MESSAGE` bytes, UTF-8 without NUL bytes, with its quotes
closed, and each argument at most :data:`MAX_ARGUMENT` bytes (an image path is further held to
``PATH_MAX`` by the server).
Lines that are not TraX messages are dropped, but bounded the same way.

Over a socket (``TRAX_SOCKET``) the library would read the socket itself, past this guard: a frame message of
20 MB or with bytes that are not UTF-8 grew the server to 3.2 GB and killed it with SIGSEGV. That transport is
refused with one line (:func:`guard_input`); the standard streams (the toolkit's default) are guarded.
"""

from __future__ import annotations

import os
import threading

from tracker.errors import TrackerError, quoted

PREFIX = b"@@TRAX:"
MAX_MESSAGE = 1 << 20  # 1 MiB: a polygon of ~50,000 points, or a path 250 times the longest Linux allows
MAX_ARGUMENT = 64 * 1024
CHUNK = 64 * 1024


def message_problem(line: bytes) -> str | None:
    """Why ``line`` (one TraX message, without its newline) is refused, or None when it may pass."""
    if len(line) > MAX_MESSAGE:
        return f"a TraX message of more than {MAX_MESSAGE} bytes"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "a TraX message that is not UTF-8"
    if "\0" in text:
        return "a TraX message with a NUL byte"
    arguments, current, quoted, escaped = [], [], False, False
    for char in text[len(PREFIX):]:
        if escaped:
            escaped = False
            current.append(char)
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            arguments.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted or escaped:
        return "a TraX message whose quoted argument is never closed"
    arguments.append("".join(current))
    if any(len(argument.encode("utf-8")) > MAX_ARGUMENT for argument in arguments):
        return f"a TraX message with an argument of more than {MAX_ARGUMENT} bytes"
    return None


class MessageGuard:
    """Copies whole, checked messages from ``source`` to ``sink`` (file descriptors) until either ends."""

    def __init__(self, source: int, sink: int) -> None:
        self.source, self.sink = source, sink
        self.problem: str | None = None  # why the guard stopped early; None after a clean end of input
        self.thread = threading.Thread(target=self._run, name="trax-guard", daemon=True)

    def start(self) -> MessageGuard:
        self.thread.start()
        return self

    def _run(self) -> None:
        pending = b""
        try:
            while True:
                chunk = os.read(self.source, CHUNK)
                if not chunk:
                    if pending.strip():
                        self.problem = "the client's input ended inside a TraX message"
                    return
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if not self._pass(line.rstrip(b"\r")):
                        return
                if len(pending) > MAX_MESSAGE:
                    self.problem = f"a TraX message of more than {MAX_MESSAGE} bytes"
                    return
        except OSError as exc:
            self.problem = f"reading the client's input failed: {exc.strerror or exc}"
        finally:
            os.close(self.sink)  # the library sees the end of input

    def _pass(self, line: bytes) -> bool:
        start = line.find(PREFIX)
        if start < 0:
            return True  # not a protocol line: the library would skip it too
        problem = message_problem(line[start:])
        if problem is not None:
            self.problem = problem
            return False
        data = line[start:] + b"\n"
        while data:
            data = data[os.write(self.sink, data):]
        return True


def guard_input() -> MessageGuard:
    """Put a :class:`MessageGuard` between the client's stream and the TraX library, which then reads a
    pipe at the same file descriptor (``TRAX_IN``, else standard input). A socket (``TRAX_SOCKET``) is
    refused: the library would read it unguarded."""
    if os.environ.get("TRAX_SOCKET"):
        raise TrackerError("bdfa-vot talks TraX over its standard input and output only, where every message is "
                           "checked: TRAX_SOCKET is set (the library would read a socket unchecked); run the "
                           "tracker without socket mode (the VOT toolkit's default)")
    try:
        fd = int(os.environ.get("TRAX_IN", "0"))
    except ValueError:
        raise TrackerError(f"TRAX_IN must be a file descriptor number, got {quoted(os.environ['TRAX_IN'])}") from None
    client = os.dup(fd)
    read_end, write_end = os.pipe()
    os.dup2(read_end, fd)
    os.close(read_end)
    return MessageGuard(client, write_end).start()
