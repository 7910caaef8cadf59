"""PostgreSQL server logs as a stream of executed statements.

``iter_log_statements(paths)`` yields every execution (simple or extended protocol, with its
parameters and duration when logged) from stderr logs (any ``log_line_prefix``), csvlog and
jsonlog files, gzip-compressed or not, in bounded memory. ``workload_from_logs(paths)`` turns
them into (normalized statement, executions) pairs — the workload ``qprof advise --log`` uses.

A collector, not part of N+1 detection: ``qprof nplusone --log`` (loop bursts),
``qprof advise --log`` (the workload and its parameter values) and ``qprof record --log``
(the window's percentiles) all read logs through it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from qprof.collectors.logs.interpret import Interpreter, LoggedStatement, defer_parameters, parse_parameters
from qprof.collectors.logs.prefix import COMMON_PREFIXES, DEFAULT_PREFIX, Prefix, compile_prefix
from qprof.collectors.logs.readers import FileStats, inspect_file, stream_file
from qprof.owntag import OWN_TAG

if TYPE_CHECKING:
    from qprof.collectors.logs.ranges import RangePool

__all__ = [
    "COMMON_PREFIXES",
    "DEFAULT_PREFIX",
    "FileStats",
    "LogReader",
    "LoggedStatement",
    "Prefix",
    "compile_prefix",
    "iter_log_statements",
    "parse_parameters",
    "workload_from_logs",
]


class LogReader:
    """Iterates the statements of several files, in order, and keeps per-file :class:`FileStats`.

    ``progress(path, bytes_read, file_size)`` is called every few thousand lines. Statements
    qprof itself ran (tagged ``/* qprof */``) are left out unless ``include_own``. With
    ``raw_parameters`` a statement's ``params`` is the DETAIL text itself (a ``str``) where it
    would be a tuple: for a consumer in another process, which calls :func:`parse_parameters`.
    """

    def __init__(
        self,
        paths: Iterable[str | Path],
        prefix: str | None = None,
        *,
        progress: Callable[[str, int, int], None] | None = None,
        include_own: bool = False,
        raw_parameters: bool = False,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.prefix = prefix
        self.progress = progress
        self.include_own = include_own
        self.raw_parameters = raw_parameters
        self.files: list[FileStats] = []

    def __iter__(self) -> Iterator[LoggedStatement]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[LoggedStatement]]:
        """The statements in log order, a list per block of the file (none of them empty)."""
        for path in self.paths:
            yield from self._file(path)

    def rows(self, pool: RangePool | None = None) -> Iterator[list[tuple]]:
        """The statements as ``(sql, params, duration_ms, session, vxid, timestamp, file, line)``
        tuples, a list per block, in log order — with ``pool``, big plain files are parsed by
        its worker processes (see :mod:`.ranges`), with the same result."""
        for rows, offset in self.row_blocks(pool):
            if offset:
                rows = [(a, b, c, d, e, f, g, h + offset) for a, b, c, d, e, f, g, h in rows]
            yield rows

    def row_blocks(self, pool: RangePool | None = None) -> Iterator[tuple[list[tuple], int]]:
        """:meth:`rows`, each list with the number to add to the line numbers of its rows."""
        from qprof.collectors.logs.ranges import _ROW, splittable

        for path in self.paths:
            if pool is not None and not pool.broken and splittable(path):
                yield from self._parallel_file(path, pool)
            else:
                for batch in self._file(path):
                    yield list(map(_ROW, batch)), 0

    def _parallel_file(self, path: Path, pool: RangePool) -> Iterator[tuple[list[tuple], int]]:
        from qprof.collectors.logs.ranges import parallel_rows

        stats = FileStats(str(path))
        self.files.append(stats)
        compiled = inspect_file(path, stats, self.prefix)
        if stats.format == "empty":
            return
        on_progress = None
        if self.progress is not None:
            report, size = self.progress, stats.bytes
            on_progress = lambda position: report(str(path), position, size)  # noqa: E731
        for rows, offset in parallel_rows(path, stats, compiled, pool, self.include_own, on_progress):
            if rows:
                stats.statements += len(rows)
                yield rows, offset

    def _file(self, path: Path) -> Iterator[list[LoggedStatement]]:
        buffer: list[LoggedStatement] = []
        interpreter = Interpreter(buffer.append, str(path))
        if self.raw_parameters:
            interpreter.parameters = defer_parameters
        stats = FileStats(str(path))
        self.files.append(stats)
        on_progress = None
        if self.progress is not None:
            report, size = self.progress, path.stat().st_size if path.exists() else 0
            on_progress = lambda position: report(str(path), position, size)  # noqa: E731
        for _ in stream_file(path, interpreter, stats, prefix=self.prefix, progress=on_progress):
            if buffer:  # the statements of one block of the file
                kept = self._keep(buffer, stats)
                if kept:
                    yield kept
        interpreter.finish()
        kept = self._keep(buffer, stats)
        if kept:
            yield kept

    def _keep(self, buffer: list[LoggedStatement], stats: FileStats) -> list[LoggedStatement]:
        """Empty ``buffer`` into a list of the statements to give (without qprof's own)."""
        if self.include_own:
            kept = buffer.copy()
        else:
            kept = [statement for statement in buffer if not statement.sql.startswith(OWN_TAG)]
        buffer.clear()
        stats.statements += len(kept)
        return kept

    @property
    def skipped_lines(self) -> int:
        return sum(f.skipped_lines for f in self.files)

    @property
    def statements(self) -> int:
        return sum(f.statements for f in self.files)


def iter_log_statements(paths: Iterable[str | Path], prefix: str | None = None) -> Iterator[LoggedStatement]:
    """Every statement execution in the given server logs, in file order.

    ``prefix`` is the server's ``log_line_prefix`` for stderr logs (default: detect among
    PostgreSQL's default ``'%m [%p] '`` and common forms). Unreadable input raises
    :class:`qprof.errors.BadInput`; malformed lines are skipped and counted (see :class:`LogReader`).
    """
    yield from LogReader(paths, prefix)


def workload_from_logs(paths: Iterable[str | Path], prefix: str | None = None) -> list[tuple[str, int]]:
    """(normalized SQL, executions) for every distinct statement in the logs, most executed first.

    The normalized text has ``?`` for every literal and placeholder and keeps quoted
    identifiers and type modifiers as written (see :func:`qprof.fingerprint.pg_fingerprint`);
    the first raw text of each is not kept.
    """
    from qprof.fingerprint import pg_fingerprint as fingerprint

    counts: Counter[str] = Counter()
    for statement in iter_log_statements(paths, prefix):
        counts[fingerprint(statement.sql)] += 1
    return counts.most_common()
