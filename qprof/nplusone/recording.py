"""What every in-process capture shares: the recorded statements, their N+1s and the report.

No ORM is imported here, so SQLAlchemy, sqlite3 and Django captures can all build on it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from qprof.nplusone.detector import (
    DEFAULT_MIN_MS,
    DEFAULT_THRESHOLD,
    Executed,
    NPlusOne,
    detect,
)

# the unit (a request, a test) the statements run in this context belong to
_unit: ContextVar[str | None] = ContextVar("qprof_unit", default=None)


@contextmanager
def unit(label: str) -> Iterator[None]:
    """Statements run inside belong to the unit ``label`` (a request, a test)."""
    token = _unit.set(label)
    try:
        yield
    finally:
        _unit.reset(token)


class NPlusOneError(AssertionError):
    """Raised at the end of ``capture(…, raise_on_nplusone=True)`` when an N+1 ran in the block."""

    def __init__(self, findings: list[NPlusOne]) -> None:
        self.findings = findings
        super().__init__("\n\n".join(f.describe() for f in findings))


class Recording:
    """Statements recorded in one block (``statements``), judged by :meth:`findings`.

    Statements from another process (a test that forked) are not this block's and are dropped;
    statements from several threads are kept as separate streams of the same unit.
    """

    def __init__(self, *, threshold: int = DEFAULT_THRESHOLD, min_ms: float = DEFAULT_MIN_MS, raise_on_nplusone: bool = False, label: str = "capture") -> None:
        self.threshold = threshold
        self.min_ms = min_ms
        self.raise_on_nplusone = raise_on_nplusone
        self.label = label
        self.statements: list[Executed] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _record(self, executed: Executed) -> None:
        if os.getpid() != self._pid:
            return
        if not executed.unit:
            executed.unit = self.label
        with self._lock:
            self.statements.append(executed)

    def _judge(self, exc_type: type | None) -> None:
        """At the end of the block: raise when asked to and an N+1 ran (unless the block raised)."""
        if self.raise_on_nplusone and exc_type is None and os.getpid() == self._pid:
            found = self.findings()
            if found:
                raise NPlusOneError(found)

    @property
    def total_ms(self) -> float:
        return sum(s.duration_ms for s in self.statements)

    def findings(self, *, threshold: int | None = None, min_ms: float | None = None) -> list[NPlusOne]:
        with self._lock:
            recorded = list(self.statements)
        return detect(
            recorded,
            threshold=self.threshold if threshold is None else threshold,
            min_ms=self.min_ms if min_ms is None else min_ms,
        )

    def report(self) -> str:
        found = self.findings()
        head = f"{len(self.statements)} statements, {self.total_ms:.1f} ms; "
        if not found:
            return head + "no N+1 found"
        return head + f"{len(found)} N+1 found\n\n" + "\n\n".join(f.describe() for f in found)
