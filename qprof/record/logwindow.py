"""The part of a server log written during a window: from the byte offset where it began.

The file is opened when the window starts and kept open, so a rotation (the file renamed and a
new one started) still leaves the old part readable through the open descriptor
(``/proc/self/fd/N`` is the same file whatever its name now). At the end the name is looked up
again: same file → read ``[start, end)``; a new file → the rest of the old one plus the new
one from its beginning; a shorter file → it was truncated (copytruncate), and only what was
written after that is left. Each case is said in ``notes``.

Statements come through the N+1 package's public log readers (:func:`inspect_file`,
:func:`stream_range`, :class:`Interpreter`), so every log format it reads works here too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qprof.errors import BadInput

OWN_TAG = "/* qprof */"


@dataclass
class Segment:
    """Bytes ``start`` to ``end`` of one file, opened as ``path`` (possibly /proc/self/fd/N)."""

    path: str
    start: int
    end: int
    label: str


@dataclass
class LogWindow:
    """A log file as it was when the window began (kept open until :meth:`close`)."""

    path: Path
    start: int
    inode: tuple[int, int]
    fd: int
    segments: list[Segment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    end: int | None = None

    @classmethod
    def begin(cls, path: str | Path) -> LogWindow:
        """Mark the end of ``path`` as the window's start; an unreadable file is a usage error."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise BadInput(
                f"cannot read the server log {path}: {exc.strerror or exc}",
                hint="give --log a PostgreSQL log file you can read (or leave --log out: no percentiles)",
            ) from None
        info = os.fstat(fd)
        if not os.path.isfile(f"/proc/self/fd/{fd}") or (info.st_mode & 0o170000) != 0o100000:
            os.close(fd)
            raise BadInput(f"the server log {path} is not a regular file", hint="give --log the log file itself")
        return cls(path=path, start=info.st_size, inode=(info.st_dev, info.st_ino), fd=fd)

    @property
    def _held(self) -> str:
        return f"/proc/self/fd/{self.fd}"

    def finish(self) -> list[Segment]:
        """Where the window's log lines are now; also fills ``notes`` and ``end``."""
        held_size = os.fstat(self.fd).st_size
        try:
            now = os.stat(self.path)
            current: tuple[int, int] | None = (now.st_dev, now.st_ino)
        except OSError:
            now, current = None, None
        if current == self.inode:
            if held_size >= self.start:
                self.segments = [Segment(self._held, self.start, held_size, str(self.path))]
            else:
                self.notes.append(
                    f"the log {self.path} was truncated during the window: percentiles cover only what was "
                    "logged after the truncation"
                )
                self.segments = [Segment(self._held, 0, held_size, str(self.path))]
            self.end = held_size
            return self.segments
        old = Segment(self._held, self.start, max(held_size, self.start), f"{self.path} (before rotation)")
        if now is None:
            self.notes.append(f"the log {self.path} was removed or renamed during the window: read the old file only")
            self.segments = [old]
            self.end = held_size
            return self.segments
        self.notes.append(f"the log {self.path} was rotated during the window: read the old file and the new one")
        self.segments = [old, Segment(str(self.path), 0, now.st_size, str(self.path))]
        self.end = now.st_size
        return self.segments

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def iter_batches(segments: list[Segment], prefix: str | None = None, stats_out: list | None = None) -> Iterator[list]:
    """The logged statements of ``segments`` in log order, a list per block read (none empty);
    qprof's own left out. ``stats_out`` receives the readers' FileStats per segment."""
    from qprof.nplusone.logparse.interpret import Interpreter
    from qprof.nplusone.logparse.readers import (
        FileStats,
        inspect_file,
        is_gzip,
        stream_range,
    )

    for segment in segments:
        if segment.end <= segment.start:
            continue
        stats = FileStats(segment.label)
        if stats_out is not None:
            stats_out.append(stats)
        if is_gzip(Path(segment.path)):
            raise BadInput(f"cannot read a window out of {segment.label}: a compressed log has no byte offsets",
                           hint="give --log the plain file the server is writing")
        compiled = inspect_file(Path(segment.path), stats, prefix)
        if stats.format == "empty":
            continue
        buffer: list = []
        interpreter = Interpreter(buffer.append, segment.label)
        for _ in stream_range(Path(segment.path), interpreter, stats, compiled, start=segment.start, end=segment.end):
            if len(buffer) >= BATCH:
                yield _drain(buffer)
        interpreter.finish()
        if buffer:
            yield _drain(buffer)


BATCH = 2048


def _drain(buffer: list) -> list:
    kept = [statement for statement in buffer if not statement.sql.startswith(OWN_TAG)]
    buffer.clear()
    return kept
