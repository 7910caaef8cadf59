"""The part of a server log written during a window: from the byte offset where it began.

The file is opened when the window starts and kept open, so a rotation (the file renamed and a
new one started) still leaves the old part readable through the open descriptor
(``/proc/self/fd/N`` is the same file whatever its name now). At the end the name is looked up
again: same file → read ``[start, end)``; a new file → the rest of the old one plus the new
one from its beginning; a truncation (copytruncate) → only what was written after it is left.
A truncation is seen three ways, because the file may have grown past the window's start
again by the end: the size at the end below the start; the bytes just before the start no
longer what they were (read through the open descriptor); a shrink seen by a watcher that
checks the size every quarter second. Each case is said in ``notes``, with which part of the
window the percentiles cover.

Statements come through the N+1 package's public log readers (:func:`inspect_file`,
:func:`stream_range`, :class:`Interpreter`), so every log format it reads works here too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qprof.errors import BadInput
from qprof.owntag import OWN_TAG

SIGNATURE = 4096  # bytes before the window's start remembered to notice a truncate-and-refill
WATCH_EVERY_S = 0.25


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
    signature: bytes = b""
    began: float = field(default_factory=time.monotonic)
    truncated_at: float | None = None  # monotonic time of the last shrink the watcher saw
    _stop: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None

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
        start = info.st_size
        signature = os.pread(fd, min(SIGNATURE, start), start - min(SIGNATURE, start))
        window = cls(path=path, start=start, inode=(info.st_dev, info.st_ino), fd=fd, signature=signature)
        window._watcher = threading.Thread(target=window._watch, name="qprof-log-watch", daemon=True)
        window._watcher.start()
        return window

    def _watch(self) -> None:
        last = self.start
        while not self._stop.wait(WATCH_EVERY_S):
            try:
                size = os.fstat(self.fd).st_size
            except OSError:
                return
            if size < last:
                self.truncated_at = time.monotonic()
            last = size

    def _stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2 * WATCH_EVERY_S)
            self._watcher = None

    def _refilled(self, size: int) -> bool:
        """Whether the bytes before the window's start changed (truncated, then written past it)."""
        if not self.signature or size < self.start:
            return False
        return os.pread(self.fd, len(self.signature), self.start - len(self.signature)) != self.signature

    def _truncation_note(self) -> str:
        when = ""
        if self.truncated_at is not None:
            when = f" (seen {self.truncated_at - self.began:.1f} s into the window)"
        return f"the log {self.path} was truncated during the window{when}: percentiles cover only what was logged after the truncation" + (
            "" if when else ", from an unknown point of the window"
        )

    @property
    def _held(self) -> str:
        return f"/proc/self/fd/{self.fd}"

    def finish(self) -> list[Segment]:
        """Where the window's log lines are now; also fills ``notes`` and ``end``."""
        self._stop_watching()
        held_size = os.fstat(self.fd).st_size
        try:
            now = os.stat(self.path)
            current: tuple[int, int] | None = (now.st_dev, now.st_ino)
        except OSError:
            now, current = None, None
        if current == self.inode:
            if held_size >= self.start and self.truncated_at is None and not self._refilled(held_size):
                self.segments = [Segment(self._held, self.start, held_size, str(self.path))]
            else:
                self.notes.append(self._truncation_note())
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
        self._stop_watching()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def iter_batches(segments: list[Segment], prefix: str | None = None, stats_out: list | None = None) -> Iterator[list]:
    """The logged statements of ``segments`` in log order, a list per block read (none empty);
    qprof's own left out. ``stats_out`` receives the readers' FileStats per segment."""
    from qprof.collectors.logs.interpret import Interpreter
    from qprof.collectors.logs.readers import (
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
            raise BadInput(
                f"cannot read a window out of {segment.label}: a compressed log has no byte offsets", hint="give --log the plain file the server is writing"
            )
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
