"""N+1 capture for plain ``sqlite3`` connections (no SQLAlchemy), through ``set_trace_callback``.

SQLite hands the callback each statement with its bound values already expanded into the text,
so different values show as different texts under one fingerprint. The callback runs before the
statement, so it carries no duration: the time between two callbacks is used as a stand-in
(it includes the application's own work).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any, Self

from qprof.nplusone.callsite import callsite
from qprof.nplusone.recording import NPlusOneError, Recording, _unit

__all__ = ["NPlusOneError", "Sqlite3Capture", "trace_sqlite3"]


class Sqlite3Capture(Recording):
    """``with trace_sqlite3(conn) as cap: …`` — the same surface as :class:`qprof.nplusone.sqlalchemy_capture.Capture`."""

    def __init__(self, connection: sqlite3.Connection, **options: Any) -> None:
        options.setdefault("label", "sqlite3")
        super().__init__(**options)
        self.connection = connection
        self._last: float | None = None

    def _trace(self, sql: str) -> None:
        from qprof.nplusone.detector import Executed

        now = time.perf_counter()
        if self.statements and self._last is not None:
            self.statements[-1].duration_ms = (now - self._last) * 1000
        self._last = now
        self._record(Executed(sql=sql, unit=_unit.get() or self.label, callsite=callsite(), thread=threading.get_ident()))

    def __enter__(self) -> Self:
        self.connection.set_trace_callback(self._trace)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.connection.set_trace_callback(None)
        self._judge(exc_type)


def trace_sqlite3(connection: sqlite3.Connection, **options: Any) -> Sqlite3Capture:
    """Capture a stdlib ``sqlite3`` connection; options as for ``qprof.capture``."""
    return Sqlite3Capture(connection, **options)
