"""SQLite through the standard library: the file opened read-only, DML timed and rolled back."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from qprof import sqltext
from qprof.conninfo import TargetSpec
from qprof.errors import BadInput, PermissionDenied, QprofError, StatementFailed
from qprof.targets.base import Target, Timing, elapsed_ms


def _uri(path: Path, mode: str) -> str:
    return f"file:{quote(str(path.resolve()))}?mode={mode}"


def translate_error(exc: sqlite3.Error, *, what: str, timeout: float | None = None) -> QprofError:
    message = str(exc)
    if message == "interrupted":
        return StatementFailed(f"{what}: cancelled after the {timeout:g} s statement timeout")
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in message:
        return BadInput(f"{what}: the file is not a SQLite database ({message})")
    if "no such table" in message or "no such column" in message or "syntax error" in message:
        return BadInput(f"{what}: {message}")
    if "readonly" in message or "attempt to write" in message:
        return PermissionDenied(f"{what}: {message}")
    return StatementFailed(f"{what}: {message}")


@contextmanager
def statement_deadline(conn: sqlite3.Connection, seconds: float) -> Iterator[None]:
    """SQLite has no statement_timeout: a progress handler stops a statement past the deadline.

    A timeout surfaces as sqlite's "interrupted" error. Ctrl-C (or SIGTERM turned into
    KeyboardInterrupt) arriving while SQLite runs lands inside the handler, where sqlite3 would
    swallow it into the same error: it is noted there and raised again as KeyboardInterrupt.
    """
    stop_at = time.monotonic() + seconds
    interrupted: list[bool] = []

    def progress() -> int:
        try:
            return 1 if time.monotonic() > stop_at else 0
        except BaseException:  # noqa: BLE001 - the interrupt itself
            interrupted.append(True)
            return 1

    conn.set_progress_handler(progress, 10_000)
    try:
        yield
    except sqlite3.Error as exc:
        # the interrupt can also land before the handler's try: then only the clock tells
        if interrupted or (str(exc) == "interrupted" and time.monotonic() <= stop_at):
            raise KeyboardInterrupt from None
        raise
    finally:
        conn.set_progress_handler(None, 0)


class SqliteTarget(Target):
    """A ``mode=ro`` connection; a second ``mode=rw`` one is opened only to time DML, then rolled back."""

    engine = "sqlite"

    def __init__(self, spec: TargetSpec, *, statement_timeout: float = 30.0) -> None:
        super().__init__(spec, statement_timeout=statement_timeout)
        assert spec.path is not None
        self.path = spec.path
        self.conn = self._open("ro")
        self._writer: sqlite3.Connection | None = None
        try:
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            journal = self.path.with_name(self.path.name + "-journal")
            if "readonly" in str(exc) and journal.exists():
                # A hot journal: a write was interrupted (a killed --verify/--apply, or another program).
                # Only a read-write open rolls it back, and qprof opens read-only: say so, write nothing.
                raise BadInput(
                    f"{self.path} has an interrupted write's rollback journal ({journal.name}); a read-only open cannot roll it back",
                    hint=f"open it once read-write to roll it back (sqlite3 {self.path} 'PRAGMA quick_check'), then run: qprof advise -d {self.path} --cleanup",
                ) from None
            raise BadInput(f"{self.path} is not a usable SQLite database: {exc}") from None

    def _open(self, mode: str) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(_uri(self.path, mode), uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise BadInput(f"cannot open {self.path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        return conn

    @property
    def database_name(self) -> str:
        return self.path.stem

    def _deadline(self, conn: sqlite3.Connection):
        return statement_deadline(conn, self.statement_timeout)

    def fetch_all(self, query: str, params: Any = (), *, what: str = "query") -> list[dict[str, Any]]:
        try:
            with self._deadline(self.conn):
                return [dict(row) for row in self.conn.execute(query, params or ())]
        except sqlite3.Error as exc:
            raise translate_error(exc, what=what, timeout=self.statement_timeout) from None

    def fetch_value(self, query: str, params: Any = (), *, what: str = "query") -> Any:
        rows = self.fetch_all(query, params, what=what)
        return next(iter(rows[0].values())) if rows else None

    def has_table(self, name: str) -> bool:
        return bool(self.fetch_value("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))

    @contextmanager
    def rolled_back_transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on a separate read-write connection, always rolled back."""
        if self._writer is None:
            self._writer = self._open("rw")
        writer = self._writer
        writer.execute("BEGIN IMMEDIATE")
        try:
            yield writer
        finally:
            writer.execute("ROLLBACK")

    def execute_timed(self, query_text: str, params: Sequence[Any], *, modifying: bool) -> Timing:
        from qprof.safety import require_executable

        require_executable(self, query_text, params)
        query = sqltext.to_sqlite(query_text)
        try:
            if modifying:
                with self.rolled_back_transaction() as writer, self._deadline(writer):
                    return self._timed(writer, query, params)
            with self._deadline(self.conn):
                return self._timed(self.conn, query, params)
        except sqlite3.Error as exc:
            raise translate_error(exc, what="statement", timeout=self.statement_timeout) from None

    @staticmethod
    def _timed(conn: sqlite3.Connection, query: str, params: Sequence[Any]) -> Timing:
        started = time.perf_counter()
        cursor = conn.execute(query, tuple(params))
        rows = len(cursor.fetchall()) if cursor.description else max(cursor.rowcount, 0)
        return Timing(elapsed_ms(started), rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.conn.close()
