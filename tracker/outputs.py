"""Files a run writes. Each is checked before anything is opened (never one of the run's inputs, never another
output, never a folder or a device to replace), written to a temporary file beside it and moved into place only
when the run succeeds: a run that fails leaves an existing file as it was.

A character device or a pipe (``/dev/stdout``, ``/dev/null``, a FIFO) is written in place, as a stream: there is
nothing to replace. A symlink to a file stays a symlink; the file it points to is replaced.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from tracker.errors import TrackerError, is_closed_pipe, signals_deferred


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class Output:
    """One output file of a run, named by the flag that chose it (for error lines)."""

    def __init__(self, path: str | Path, flag: str, streams: bool = True) -> None:
        self.path = Path(path)
        self.flag = flag
        self.temp: Path | None = None
        self.handle: TextIO | None = None
        try:
            info = os.stat(self.path)  # follows symlinks: what would be written is what they point to
        except FileNotFoundError:
            if self.path.is_symlink():
                raise TrackerError(f"{flag} {self.path} is a symlink to nothing") from None
            info = None
        except OSError as exc:
            raise TrackerError(f"cannot write {flag} {self.path}: {exc.strerror}") from None
        self.stream = info is not None and (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode))
        if self.stream and not streams:
            raise TrackerError(f"{flag} {self.path} must be a file, not a device or a pipe")
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise TrackerError(f"{flag} {self.path} is a folder, not a file")
        if info is not None and not self.stream and not stat.S_ISREG(info.st_mode):
            raise TrackerError(f"{flag} {self.path} exists and is not a regular file: it is not replaced")
        self.identity = (info.st_dev, info.st_ino) if info is not None else None
        self.target = self.path if self.stream else Path(os.path.realpath(self.path))
        self.mode = stat.S_IMODE(info.st_mode) if info is not None and not self.stream else None
        if not self.stream:
            self._probe()

    def _fail(self, exc: OSError) -> TrackerError:
        return TrackerError(f"cannot write {self.flag} {self.path}: {exc.strerror}")

    def _probe(self) -> None:
        """Fail now, before the run, where the folder cannot be made or written."""
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            with signals_deferred():
                fd, probe = tempfile.mkstemp(dir=self.target.parent, prefix=".probe-")
                os.close(fd)
                os.unlink(probe)
        except OSError as exc:
            raise self._fail(exc) from None

    def temp_path(self) -> Path:
        """The temporary file beside the target (same extension, for writers that go by it)."""
        if self.stream:
            return self.path
        if self.temp is None:
            with signals_deferred():  # a stop between the file's creation and its name kept would orphan it
                try:
                    fd, name = tempfile.mkstemp(dir=self.target.parent, prefix=".tmp-",
                                                suffix=self.target.suffix[:16])
                    os.close(fd)
                except OSError as exc:
                    raise self._fail(exc) from None
                self.temp = Path(name)
        return self.temp

    def open(self) -> TextIO:
        """A text handle on the temporary file (or on the stream itself)."""
        if self.handle is None:
            try:
                self.handle = open(self.temp_path(), "w")
            except OSError as exc:
                raise self._fail(exc) from None
        return self.handle

    def write(self, text: str) -> None:
        """Append ``text``; a stream is flushed at once (its reader sees each line as it comes), a file when it is
        committed. A closed pipe is passed on as it is: the command line ends quietly on it."""
        handle = self.open()
        try:
            handle.write(text)
            if self.stream:
                handle.flush()
        except OSError as exc:
            if is_closed_pipe(exc):
                raise
            raise self._fail(exc) from None

    def commit(self) -> None:
        """Move the written file into place (a stream is flushed). A stop meanwhile comes after it: the file is then
        either whole in place or discarded, never left as a temporary."""
        with signals_deferred():
            try:
                if self.handle is not None:
                    self.handle.close()
                    self.handle = None
                if self.temp is not None:
                    os.chmod(self.temp, self.mode if self.mode is not None else _new_file_mode())
                    os.replace(self.temp, self.target)
                    self.temp = None
            except OSError as exc:
                self.discard()
                raise self._fail(exc) from None

    def discard(self) -> None:
        """Forget what was written: the target stays as it was."""
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError:
                pass  # a full disk or a closed pipe: what was written is thrown away anyway
            self.handle = None
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None


@contextmanager
def writing(path: str | Path, flag: str = "output", streams: bool = True) -> Iterator[Output]:
    """An :class:`Output` that is committed when the block ends and discarded when it raises."""
    output = Output(path, flag, streams)
    try:
        yield output
    except BaseException:
        output.discard()
        raise
    output.commit()


def write_text(path: str | Path, text: str, flag: str = "output") -> None:
    with writing(path, flag) as output:
        output.write(text)


def refuse_clobbering(outputs: Iterable[Output], inputs: Iterable[tuple[str, Path]]) -> None:
    """Refuse an output that is one of the run's inputs (``(what, path)`` pairs) or another of its outputs."""
    outputs = list(outputs)
    files = [o for o in outputs if not o.stream]
    for i, first in enumerate(files):
        for second in files[i + 1:]:
            if first.target == second.target:
                raise TrackerError(f"{second.flag} {second.path} is also {first.flag}: give each output its own file")
    existing = {o.identity: o for o in files if o.identity is not None}
    if not existing:
        return
    for what, path in inputs:
        try:
            info = os.stat(path)
        except OSError:
            continue
        output = existing.get((info.st_dev, info.st_ino))
        if output is not None:
            raise TrackerError(f"{output.flag} {output.path} is {what} of this run: an output never replaces an "
                               "input")
