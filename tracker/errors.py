"""The one exception type that user-facing entry points turn into a one-line error, and the guard that does it."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MAX_QUOTE = 200  # characters of any value an error line quotes
MAX_LINE = 1000  # and of the whole line: a path can be long, an error line is still one line


class TrackerError(Exception):
    """Bad input from the user (paths, boxes, config, weights): reported in one line, exit 2."""


def quoted(value: object, limit: int = MAX_QUOTE) -> str:
    """``repr(value)``, cut to ``limit`` characters: an error line never echoes a whole file."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def clipped(text: str, limit: int = MAX_QUOTE) -> str:
    """What another program said (a decoder, OpenCV, FFmpeg), stripped and cut to ``limit`` characters."""
    text = text.strip()
    return text if len(text) <= limit else f"{text[:limit]}..."


def os_error_message(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def print_error(message: str) -> None:
    line = " ".join(message.split())
    if len(line) > MAX_LINE:
        line = line[:MAX_LINE] + "..."
    print(f"error: {line}", file=sys.stderr)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a usage mistake (an unknown flag, a missing value, a bad choice) as one ``error:`` line
    and exit 2, like every other bad input; ``--help`` still prints the usage. A benchmark or study run as
    ``python -m tracker.evaluation.speed`` is named so (argparse would say ``speed.py``, which cannot be run)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if "prog" not in kwargs and spec is not None and spec.name.startswith(("tracker.", "studies.")):
            kwargs["prog"] = f"python -m {spec.name}"
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        print_error(f"{message} (see {self.prog} --help)")
        raise SystemExit(2)


def print_warning(message: Warning | str, *_: object, **__: object) -> None:
    """``warnings.showwarning`` for the programs: one ``warning:`` line on stderr, above any progress bar."""
    from tqdm import tqdm

    tqdm.write(f"warning: {message}", file=sys.stderr)


def is_closed_pipe(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.EPIPE


def quiet_closed_pipe() -> int:
    """A reader that went away (``| head -1``): stop without a word, as Unix tools do (128 + SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing is flushed into the closed pipe at exit
    except (OSError, ValueError):
        pass
    return 141


class Terminated(BaseException):
    """SIGTERM, raised where the process is: every output being written is discarded on the way out, as on
    Ctrl-C, where the signal's default action would leave its temporary file behind."""


STOPS = {signal.SIGTERM: Terminated, signal.SIGINT: KeyboardInterrupt}
_deferring = 0  # how many signals_deferred blocks the main thread is in
_deferred: type[BaseException] | None = None  # the stop that arrived meanwhile


def _stop(signum: int, frame: object) -> None:
    global _deferred
    if _deferring:
        _deferred = _deferred or STOPS[signum]
        return
    raise STOPS[signum]


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM (under :func:`run_command`) take effect when the block ends, not inside it: between a
    temporary file's creation and its name being kept, a stop would leave it behind, unknown to anyone."""
    global _deferring, _deferred
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _deferred is not None:
            stop, _deferred = _deferred, None
            raise stop


def _install_stops() -> dict[int, object]:
    """Our handler for SIGTERM, and for SIGINT where Python's own stands (an ignored Ctrl-C stays ignored)."""
    previous: dict[int, object] = {}
    for signum in STOPS:
        try:
            if signum == signal.SIGINT and signal.getsignal(signum) is not signal.default_int_handler:
                continue
            previous[signum] = signal.signal(signum, _stop)
        except ValueError:  # not the main thread: the caller's own handling stands
            break
    return previous


def run_command(body: Callable[[], int | None]) -> int:
    """An entry point's body: bad input or an OS refusal -> one ``error:`` line and exit 2, Ctrl-C -> 130,
    SIGTERM -> 143 (both leaving every existing file as it was), a closed stdout -> a quiet stop."""
    previous = _install_stops()
    try:
        code = body() or 0
        sys.stdout.flush()
        return code
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except TrackerError as exc:
        print_error(str(exc))
    except OSError as exc:
        if is_closed_pipe(exc):
            return quiet_closed_pipe()
        print_error(os_error_message(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
    return 2
