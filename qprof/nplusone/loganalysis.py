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
from dataclasses import dataclass, field
from typing import Any

from qprof.nplusone.detector import DEFAULT_MIN_MS, DEFAULT_THRESHOLD, Aggregate, Event, NPlusOne, detect_events, params_key
from qprof.nplusone.fingerprint import fingerprint
from qprof.nplusone.logparse.interpret import LoggedStatement

UNIT_MODES = ("auto", "transaction", "gap", "session")
SWEEP_EVERY = 8192
IDLE_CLOSE_S = 300.0


@dataclass
class _Unit:
    label: str
    vxid: str | None
    last_ts: float | None
    events: list[Event] = field(default_factory=list)
    samples: dict[str, tuple[str, Any]] = field(default_factory=dict)


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
        self.statements += 1
        session = statement.session
        ts = statement.timestamp
        if ts is not None:
            self._now = ts
        by_txn = self.unit_mode == "transaction" or (self.unit_mode == "auto" and bool(statement.vxid))
        if by_txn:
            self.by_transaction = True
        unit = self.open.get(session)
        if unit is not None:
            if by_txn:
                new = statement.vxid != unit.vxid
            elif self.unit_mode == "session":
                new = False
            else:
                new = ts is not None and unit.last_ts is not None and ts - unit.last_ts > self.gap_s
            if new or len(unit.events) >= self.max_unit:
                self._close(session)
                unit = None
        if unit is None:
            label = f"session {session or '?'}"
            if by_txn and statement.vxid:
                label += f" transaction {statement.vxid}"
            label += f" ({statement.file}:{statement.line})"
            unit = self.open[session] = _Unit(label, statement.vxid, ts)
            if len(self.open) > self.max_open:
                self._close(next(iter(self.open)))
        sql = statement.sql
        fp = fingerprint(sql)
        unit.events.append(Event(fp, params_key(statement.params, sql), statement.duration_ms or 0.0))
        if fp not in unit.samples:
            unit.samples[fp] = (sql, list(statement.params) if statement.params else None)
        unit.last_ts = ts if ts is not None else unit.last_ts
        if self.statements % SWEEP_EVERY == 0:
            self._sweep()

    def feed_all(self, statements: Iterable[LoggedStatement]) -> LogAnalyzer:
        for statement in statements:
            self.feed(statement)
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
