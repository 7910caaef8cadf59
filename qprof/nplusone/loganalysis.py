"""N+1s in a stream of logged statements: split into units, detect per unit, aggregate.

A unit is a session's transaction when the log carries the virtual transaction id (``%v`` in
the prefix, always in csvlog/jsonlog), otherwise a session's burst of statements separated by
an idle gap (``gap_ms``). Units are closed as soon as they are over (next transaction, idle
gap, session idle for a long time) and only the aggregate of their findings is kept, so memory
stays bounded however long the log is. A unit that grows past ``max_unit`` statements is
analyzed and restarted (a connection-pool session can run for days without a gap).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qprof.nplusone.detector import DEFAULT_MIN_MS, DEFAULT_THRESHOLD, Aggregate, NPlusOne, detect_events, params_key
from qprof.nplusone.fingerprint import fingerprint
from qprof.nplusone.logparse.interpret import LoggedStatement

UNIT_MODES = ("auto", "transaction", "gap", "session")
SWEEP_EVERY = 8192
IDLE_CLOSE_S = 300.0


class _Unit:
    """An open unit: its events as plain ``(fingerprint, params key, ms, None, None)`` tuples."""

    __slots__ = ("label", "vxid", "last_ts", "events", "samples")

    def __init__(self, label: str, vxid: str | None, last_ts: float | None) -> None:
        self.label = label
        self.vxid = vxid
        self.last_ts = last_ts
        self.events: list[tuple] = []
        self.samples: dict[str, tuple[str, Any]] = {}


class LogAnalyzer:
    """Feed :class:`LoggedStatement` objects in log order; ``results()`` gives aggregated N+1s."""

    def __init__(
        self,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        min_ms: float = DEFAULT_MIN_MS,
        gap_ms: float = 1000.0,
        unit_mode: str = "auto",
        max_unit: int = 20_000,
        max_open: int = 10_000,
    ) -> None:
        if unit_mode not in UNIT_MODES:
            raise ValueError(f"unit mode must be one of {', '.join(UNIT_MODES)}")
        self.threshold, self.min_ms, self.gap_s = threshold, min_ms, gap_ms / 1000.0
        self.unit_mode, self.max_unit, self.max_open = unit_mode, max_unit, max_open
        self.open: dict[str, _Unit] = {}
        self.aggregate = Aggregate()
        self.units_closed = 0
        self.statements = 0
        self.by_transaction = False
        self._now: float | None = None

    def feed(self, statement: LoggedStatement) -> None:
        self.feed_all((statement,))

    def feed_all(self, statements: Iterable[LoggedStatement]) -> LogAnalyzer:
        """Feed statements in log order.

        This is the per-statement hot path of ``qprof nplusone --log`` (millions of statements):
        the analyzer's settings and counters live in local variables for the loop and go back
        to the object before anything else can look at them.
        """
        open_units = self.open
        by_transaction_mode = self.unit_mode == "transaction"
        auto_mode = self.unit_mode == "auto"
        session_mode = self.unit_mode == "session"
        gap_s, max_unit, max_open = self.gap_s, self.max_unit, self.max_open
        count, now, by_transaction = self.statements, self._now, self.by_transaction
        try:
            for statement in statements:
                count += 1
                session = statement.session
                ts = statement.timestamp
                if ts is not None:
                    now = ts
                vxid = statement.vxid
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
                    if new or len(unit.events) >= max_unit:
                        self._close(session)
                        unit = None
                if unit is None:
                    label = f"session {session or '?'}"
                    if by_txn and vxid:
                        label += f" transaction {vxid}"
                    label += f" ({statement.file}:{statement.line})"
                    unit = open_units[session] = _Unit(label, vxid, ts)
                    if len(open_units) > max_open:
                        self._close(next(iter(open_units)))
                sql = statement.sql
                fp = fingerprint(sql)
                params = statement.params
                if params and type(params) is tuple:
                    try:
                        key = hash(params)  # what params_key gives for a hashable tuple
                    except TypeError:
                        key = params_key(params, sql)
                else:
                    key = params_key(params, sql)
                unit.events.append((fp, key, statement.duration_ms or 0.0, None, None))
                samples = unit.samples
                if fp not in samples:
                    samples[fp] = (sql, list(params) if params else None)
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
        for finding in detect_events(unit.events, unit.samples, unit.label, threshold=self.threshold, min_ms=self.min_ms):
            self.aggregate.add(finding)

    def results(self) -> list[NPlusOne]:
        for session in list(self.open):
            self._close(session)
        return self.aggregate.results()
