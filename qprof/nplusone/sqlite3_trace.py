"""N+1 capture for plain ``sqlite3`` connections (no SQLAlchemy), through ``set_trace_callback``.

SQLite hands the callback each statement with its bound values already expanded into the text,
so different values show as different texts under one fingerprint. The callback runs before the
statement, so it carries no duration: the time between two callbacks is used as a stand-in
(it includes the application's own work), and the default ``min_ms`` is 0 for this source.
"""

from __future__ import annotations

import sqlite3
import threading
import time

from qprof.nplusone.sqlalchemy_capture import NPlusOneError, _unit
from qprof.nplusone.detector import DEFAULT_THRESHOLD, Executed, NPlusOne, detect


class Sqlite3Capture:
    """``with trace_sqlite3(conn) as cap: …`` — the same surface as :class:`qprof.nplusone.sqlalchemy_capture.Capture`."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        min_ms: float = 0.0,
        raise_on_nplusone: bool = False,
        label: str = "sqlite3",
    ) -> None:
        self.connection = connection
        self.threshold = threshold
        self.min_ms = min_ms
        self.raise_on_nplusone = raise_on_nplusone
        self.label = label
        self.statements: list[Executed] = []
        self._last: float | None = None
        self._lock = threading.Lock()

    def _trace(self, sql: str) -> None:
        now = time.perf_counter()
        with self._lock:
            if self.statements and self._last is not None:
                self.statements[-1].duration_ms = (now - self._last) * 1000
            self._last = now
            self.statements.append(Executed(sql=sql, unit=_unit.get() or self.label))

    def __enter__(self) -> Sqlite3Capture:
        self.connection.set_trace_callback(self._trace)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        self.connection.set_trace_callback(None)
        if self.raise_on_nplusone and exc_type is None:
            found = self.findings()
            if found:
                raise NPlusOneError(found)

    def findings(self) -> list[NPlusOne]:
        with self._lock:
            recorded = list(self.statements)
        return detect(recorded, threshold=self.threshold, min_ms=self.min_ms)

    def report(self) -> str:
        found = self.findings()
        if not found:
            return f"{len(self.statements)} statements; no N+1 found"
        return f"{len(self.statements)} statements; {len(found)} N+1 found\n\n" + "\n\n".join(f.describe() for f in found)


def trace_sqlite3(connection: sqlite3.Connection, **options) -> Sqlite3Capture:  # noqa: ANN003
    """Capture a stdlib ``sqlite3`` connection; options as for ``qprof.capture``."""
    return Sqlite3Capture(connection, **options)
