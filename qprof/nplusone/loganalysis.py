"""N+1s in a stream of logged statements: split into units, detect per unit, aggregate.

A unit is a session's transaction when the log carries the virtual transaction id (``%v`` in
the prefix, always in csvlog/jsonlog), otherwise the session itself (split at idle gaps longer
than ``gap_ms``): a loop is then a burst consecutive in its session that ends at the session's
next different statement shape (see :class:`qprof.nplusone.detector.LoopTracker`), so the
interleaved transactions of a fixed script (pgbench) are not one. Units are closed as soon as
they are over (next transaction, idle gap, session idle for a long time) and only the aggregate
of their findings is kept; an open unit holds its last SELECT and open bursts, never its
history, so memory stays bounded however long a session runs without a gap.

:func:`analyze_logs` uses every core for big inputs, with the same result as in-process: big
plain files are parsed in byte ranges by worker processes while this one stitches the ranges
together and analyzes (see :mod:`qprof.collectors.logs.ranges`); for other big inputs
(gzip) a forked worker analyzes while this process parses.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from operator import attrgetter
from typing import TYPE_CHECKING

from qprof.nplusone.detector import (
    DEFAULT_MAX_BODY,
    DEFAULT_MIN_MS,
    DEFAULT_THRESHOLD,
    Aggregate,
    LoopTracker,
    NPlusOne,
    params_key,
)
from qprof.fingerprint import pg_fingerprint as fingerprint
from qprof.collectors.logs.interpret import LoggedStatement, parse_parameters

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from qprof.collectors.logs import LogReader

UNIT_MODES = ("auto", "transaction", "gap", "session")
# What the analyzer reads of a statement, as one tuple (cheap to build, pickle and unpack)
statement_row = attrgetter("sql", "params", "duration_ms", "session", "vxid", "timestamp", "file", "line")
SWEEP_EVERY = 8192
PARALLEL_MIN_BYTES = 32 * 1024 * 1024  # smaller inputs: a worker process would not pay off
IDLE_CLOSE_S = 300.0


class _Unit:
    """An open unit: where it started and its loop tracker (the last SELECT and open bursts only)."""

    __slots__ = ("last_ts", "session", "tracker", "vxid")

    def __init__(self, session: str, vxid: str | None, last_ts: float | None, tracker: LoopTracker) -> None:
        self.session = session
        self.vxid = vxid
        self.last_ts = last_ts
        self.tracker = tracker


class LogAnalyzer:
    """Feed :class:`LoggedStatement` objects in log order; ``results()`` gives aggregated N+1s.

    A unit holds no statement history: its :class:`LoopTracker` keeps the last SELECT and the
    bursts still open, so memory does not grow with how long a session runs.
    """

    def __init__(
        self,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        min_ms: float = DEFAULT_MIN_MS,
        gap_ms: float = 1000.0,
        unit_mode: str = "auto",
        max_open: int = 10_000,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if unit_mode not in UNIT_MODES:
            raise ValueError(f"unit mode must be one of {', '.join(UNIT_MODES)}")
        self.threshold, self.min_ms, self.gap_s = threshold, min_ms, gap_ms / 1000.0
        self.unit_mode, self.max_open, self.max_body = unit_mode, max_open, max_body
        self.open: dict[str, _Unit] = {}
        self.aggregate = Aggregate()
        self.units_closed = 0
        self.statements = 0
        self.by_transaction = False
        self._now: float | None = None

    @property
    def unit_kind(self) -> str:
        """Which units were used, and how to get better ones — for the output."""
        if self.by_transaction:
            return "transactions (from the virtual transaction id)"
        if self.unit_mode == "session":
            return "sessions (bursts of one statement within a session)"
        return (
            f"session bursts (no transaction id in the log; idle gaps > {self.gap_s * 1000:g} ms also split) — add %v to log_line_prefix for transaction units"
        )

    def feed(self, statement: LoggedStatement) -> None:
        self.feed_all((statement,))

    def feed_all(self, statements: Iterable[LoggedStatement]) -> LogAnalyzer:
        """Feed statements in log order."""
        return self.feed_rows(map(statement_row, statements))

    def feed_rows(self, rows: Iterable[tuple], raw_parameters: bool = False, line_offset: int = 0) -> LogAnalyzer:
        """Feed statements given as :data:`statement_row` tuples, in log order.

        ``raw_parameters``: a ``str`` ``params`` is the DETAIL text, still to be parsed (see
        :class:`qprof.collectors.logs.LogReader`). This is the per-statement hot path of
        ``qprof nplusone --log`` (millions of statements): the analyzer's settings and
        counters live in local variables for the loop and go back to the object before
        anything else can look at them. ``line_offset`` is added to the rows' line numbers.
        """
        open_units = self.open
        by_transaction_mode = self.unit_mode == "transaction"
        auto_mode = self.unit_mode == "auto"
        session_mode = self.unit_mode == "session"
        gap_s, max_open, threshold, max_body = self.gap_s, self.max_open, self.threshold, self.max_body
        count, now, by_transaction = self.statements, self._now, self.by_transaction
        try:
            for sql, params, duration_ms, session, vxid, ts, file, line in rows:
                count += 1
                if ts is not None:
                    now = ts
                by_txn = by_transaction_mode or (auto_mode and bool(vxid))
                if by_txn:
                    by_transaction = True
                unit = open_units.get(session)
                if unit is not None:
                    if by_txn:
                        new = vxid != unit.vxid
                    elif session_mode:
                        new = False
                    else:
                        new = ts is not None and unit.last_ts is not None and ts - unit.last_ts > gap_s
                    if new:
                        self._close(session)
                        unit = None
                if unit is None:
                    unit = open_units[session] = _Unit(session, vxid if by_txn else None, ts, LoopTracker(threshold, max_body))
                    if len(open_units) > max_open:
                        self._close(next(iter(open_units)))
                fp = fingerprint(sql)
                if raw_parameters and type(params) is str:
                    params = parse_parameters(params)
                if params and type(params) is tuple:
                    try:
                        key = hash(params)  # what params_key gives for a hashable tuple
                    except TypeError:
                        key = params_key(params, sql)
                else:
                    key = params_key(params, sql)
                tracker = unit.tracker
                tracker.add(fp, key, duration_ms or 0.0, None, sql, params, None, None, None, (file, line + line_offset))
                if tracker.done:  # a loop ended: aggregate it now, a session may never end
                    self._found(unit, tracker.close_finished())
                if ts is not None:
                    unit.last_ts = ts
                if count % SWEEP_EVERY == 0:
                    self._now = now
                    self._sweep()
        finally:
            self.statements, self._now, self.by_transaction = count, now, by_transaction
        return self

    def _sweep(self) -> None:
        """Close units idle for long (log time): their session ended or went quiet."""
        if self._now is None:
            return
        limit = self._now - max(self.gap_s, IDLE_CLOSE_S)
        for session in [s for s, u in self.open.items() if u.last_ts is not None and u.last_ts < limit]:
            self._close(session)

    def _close(self, session: str) -> None:
        unit = self.open.pop(session)
        self.units_closed += 1
        self._found(unit, unit.tracker.close())

    def _found(self, unit: _Unit, bursts: list) -> None:
        for burst in bursts:
            file, line = burst.where
            label = f"session {unit.session or '?'}"
            if unit.vxid:
                label += f" transaction {unit.vxid}"
            finding = burst.finding(f"{label} ({file}:{line})", self.min_ms)
            if finding.sample_params and finding.sample_params[0] is not None:
                finding.sample_params = [list(finding.sample_params[0])]
            self.aggregate.add(finding)

    def results(self) -> list[NPlusOne]:
        for session in list(self.open):
            self._close(session)
        return self.aggregate.results()


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def analyze_logs(
    analyzer: LogAnalyzer,
    reader: LogReader,
    *,
    parallel: bool | None = None,
    display: AbstractContextManager | None = None,
) -> LogAnalyzer:
    """Feed every statement of ``reader`` to ``analyzer``; the same as ``analyzer.feed_all(reader)``.

    Parsing the log takes about three quarters of the time and analyzing the rest, so with a
    second CPU and a big input (``parallel=None``: at least two usable CPUs and
    ``PARALLEL_MIN_BYTES``) the work is spread. When most of the input is in big plain files,
    worker processes parse them in byte ranges (:mod:`qprof.collectors.logs.ranges`) and
    this process stitches the ranges in file order and analyzes. Otherwise (gzip cannot be
    read from the middle) a forked worker process analyzes the statements while this one
    parses: blocks of statements go to it as pickled tuples through a pipe, which blocks when
    the worker is behind (memory stays bounded), and the analyzer's state comes back at the
    end. The worker also parses the bind parameters (``raw_parameters``). Reader errors,
    progress and file statistics stay in this process. ``display`` (a progress bar) is entered
    once the worker has started, so no thread of it runs at the fork.
    """
    if parallel is None:
        size = sum(path.stat().st_size for path in reader.paths if path.is_file())
        parallel = usable_cpus() >= 2 and size >= PARALLEL_MIN_BYTES
    if parallel and _mostly_splittable(reader):
        from qprof.collectors.logs.ranges import RangePool

        try:
            pool = RangePool(max(2, min(usable_cpus(), 4)))
        except (OSError, ValueError):  # no worker process: the other way
            pool = None
        if pool is not None:
            try:
                with display or nullcontext():
                    for rows, offset in reader.row_blocks(pool):
                        analyzer.feed_rows(rows, False, offset)
                    return analyzer
            finally:
                pool.close()
    context = None
    if parallel:
        import multiprocessing

        try:
            context = multiprocessing.get_context("fork")
        except ValueError:  # no fork on this platform
            context = None
    if context is None:
        with display or nullcontext():
            return analyzer.feed_all(reader)

    receive, send = context.Pipe(duplex=False)
    result_receive, result_send = context.Pipe(duplex=False)
    worker = context.Process(target=_worker, args=(analyzer, receive, result_send), name="qprof-log-analysis", daemon=True)
    worker.start()
    receive.close()
    result_send.close()
    raw, reader.raw_parameters = reader.raw_parameters, True
    finished = False
    try:
        with display or nullcontext():
            dumps, send_bytes, protocol = pickle.dumps, send.send_bytes, pickle.HIGHEST_PROTOCOL
            try:
                for batch in reader.batches():
                    send_bytes(dumps(list(map(statement_row, batch)), protocol))
                send_bytes(b"")  # the end
            except BrokenPipeError:
                pass  # the worker stopped: its report says why
        try:
            status, state = pickle.loads(result_receive.recv_bytes())
        except EOFError:
            worker.join()
            raise RuntimeError(f"the log analysis worker process stopped (exit code {worker.exitcode})") from None
        if status != "ok":
            raise RuntimeError(f"the log analysis worker process failed:\n{state}")
        analyzer.__dict__.update(state)
        finished = True
    finally:
        reader.raw_parameters = raw
        send.close()
        result_receive.close()
        if not finished:
            worker.terminate()
        worker.join()
    return analyzer


def _mostly_splittable(reader: LogReader) -> bool:
    """Most of the input is in files that can be parsed in ranges (big, not gzip)."""
    from qprof.collectors.logs.ranges import splittable

    total = split = 0
    for path in reader.paths:
        size = path.stat().st_size if path.is_file() else 0
        total += size
        split += size if splittable(path) else 0
    return split > 0 and split * 2 >= total


def _worker(analyzer: LogAnalyzer, batches: Connection, results: Connection) -> None:
    """The forked process of :func:`analyze_logs`: feed what comes, send the state back."""
    try:
        receive, loads, feed = batches.recv_bytes, pickle.loads, analyzer.feed_rows
        while True:
            data = receive()
            if not data:
                break
            feed(loads(data), True)
        report = pickle.dumps(("ok", analyzer.__dict__), pickle.HIGHEST_PROTOCOL)
    except EOFError:  # the parent gave up (an error while reading): nothing to report
        return
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        import traceback

        report = pickle.dumps(("error", traceback.format_exc()))
    results.send_bytes(report)
