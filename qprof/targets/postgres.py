"""PostgreSQL through psycopg 3: read-only sessions with timeouts, errors turned into advice."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from qprof import redact, sqltext
from qprof.conninfo import TargetSpec
from qprof.errors import BadInput, ConnectionFailed, PermissionDenied, QprofError, StatementFailed
from qprof.owntag import tagged
from qprof.targets.base import Target, Timing, elapsed_ms
from qprof.units import timeout_ms

DEFAULT_CONNECT_TIMEOUT = 5


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def translate_error(exc: psycopg.Error, *, what: str, timeout: float | None = None) -> QprofError:
    """A psycopg error as the QprofError a user can act on."""
    message = _first_line(exc)
    if isinstance(exc, pgerrors.QueryCanceled):
        limit = f" ({timeout:g} s)" if timeout else ""
        return StatementFailed(
            f"{what}: cancelled by statement_timeout{limit}",
            hint="raise it with --statement-timeout if the statement is expected to be slow",
        )
    if isinstance(exc, pgerrors.LockNotAvailable):
        return StatementFailed(f"{what}: lock_timeout reached while waiting for a lock")
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return PermissionDenied(f"{what}: permission denied: {message}")
    if isinstance(exc, (pgerrors.UndefinedTable, pgerrors.UndefinedColumn, pgerrors.UndefinedFunction, pgerrors.SyntaxError)):
        return BadInput(f"{what}: {message}")
    if isinstance(exc, pgerrors.ReadOnlySqlTransaction):
        return StatementFailed(f"{what}: refused in a read-only session: {message}")
    return StatementFailed(f"{what}: {message}")


class PostgresTarget(Target):
    """A psycopg connection in autocommit mode whose session defaults to read-only transactions."""

    engine = "postgresql"

    def __init__(self, spec: TargetSpec, *, statement_timeout: float = 30.0, lock_timeout: float = 5.0) -> None:
        super().__init__(spec, statement_timeout=statement_timeout)
        self.lock_timeout = lock_timeout
        self._can_silence: bool | None = None
        self.conn = self._connect()

    def _conninfo(self) -> str:
        """The user's conninfo plus qprof's session settings, sent as startup ``options``.

        Startup options cost no round trip and, unlike SET statements, never show up in
        pg_stat_statements as if the application had run them.
        """
        given = conninfo_to_dict(self.spec.conninfo) if self.spec.conninfo else {}
        session = {
            "default_transaction_read_only": "on",
            # never 0, which PostgreSQL reads as "no limit"
            "statement_timeout": timeout_ms(self.statement_timeout),
            "lock_timeout": timeout_ms(self.lock_timeout),
            "idle_in_transaction_session_timeout": 60000,
        }
        options = " ".join(f"-c {name}={value}" for name, value in session.items())
        extra: dict[str, Any] = {"options": f"{given['options']} {options}" if given.get("options") else options}
        if "application_name" not in given:
            extra["application_name"] = "qprof"
        if "connect_timeout" not in given and "PGCONNECT_TIMEOUT" not in os.environ:
            extra["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT
        return make_conninfo(self.spec.conninfo, **extra)

    def _connect(self) -> psycopg.Connection:
        try:
            conn = psycopg.connect(self._conninfo(), autocommit=True, row_factory=dict_row)
        except psycopg.OperationalError as exc:
            detail = redact.scrub(" ".join(str(exc).split()), redact.conninfo_secrets(self.spec.conninfo))
            raise ConnectionFailed(
                f"cannot connect to {redact.conninfo(self.spec.conninfo) or 'PostgreSQL (libpq defaults)'}: {detail}",
                hint="check --db, $QPROF_DB or the PG* variables, and that the server is running",
            ) from None
        return conn

    @property
    def database_name(self) -> str:
        return self.conn.info.dbname

    @property
    def server_version_num(self) -> int:
        return self.conn.info.server_version

    def fetch_all(self, query: Any, params: Any = None, *, what: str = "query") -> list[dict[str, Any]]:
        """Run one of qprof's own queries, tagged so that qprof never reports itself."""
        marked = tagged(query)
        try:
            with self.conn.cursor() as cur:
                cur.execute(marked, params)
                return cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            raise translate_error(exc, what=what, timeout=self.statement_timeout) from None

    def fetch_value(self, query: Any, params: Any = None, *, what: str = "query") -> Any:
        rows = self.fetch_all(query, params, what=what)
        return next(iter(rows[0].values())) if rows else None

    def extension_version(self, name: str) -> str | None:
        """Installed version of extension ``name`` in this database, or None when not created."""
        return self.fetch_value("SELECT extversion FROM pg_extension WHERE extname = %s", (name,))

    def setting(self, name: str) -> str | None:
        return self.fetch_value("SELECT current_setting(%s, true)", (name,))

    @contextmanager
    def rolled_back_transaction(self, *, read_only: bool = False, untracked: bool = False) -> Iterator[psycopg.Connection]:
        """The one rolled-back session of qprof on PostgreSQL: a transaction (a savepoint inside
        one) that is always rolled back, whatever happens in it, with database errors turned
        into QprofErrors.

        Read-write by default, for measuring DML or building an index to cost it; ``read_only``
        keeps the session's read-only default (EXPLAIN, PREPARE, settings that must not
        outlive the block). ``untracked``: what runs inside stays out of pg_stat_statements where
        this role may say so (:meth:`can_silence_tracking`).
        """
        try:
            with self.conn.transaction(force_rollback=True):
                if not read_only:
                    self.conn.execute(tagged("SET TRANSACTION READ WRITE"))
                if untracked:
                    self._untracked()
                yield self.conn
        except psycopg.Error as exc:
            raise translate_error(exc, what="statement", timeout=self.statement_timeout) from None

    def rollback_if_aborted(self) -> None:
        """After a failed statement inside one of qprof's transactions, end that transaction so the
        session is usable again (PostgreSQL refuses every command in an aborted transaction)."""
        if self.conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            self.conn.rollback()

    def can_silence_tracking(self) -> bool:
        """Whether this role may set ``pg_stat_statements.track`` (superuser, or PostgreSQL 15+'s
        ``GRANT SET ON PARAMETER pg_stat_statements.track``) and the library is loaded."""
        if self._can_silence is None:
            privilege = "has_parameter_privilege('pg_stat_statements.track', 'SET')" if self.server_version_num >= 150000 else "false"
            self._can_silence = bool(
                self.fetch_value(
                    f"SELECT current_setting('pg_stat_statements.track', true) IS NOT NULL AND (current_setting('is_superuser') = 'on' OR {privilege})"
                )
            )
        return self._can_silence

    def _untracked(self) -> None:
        """Statements qprof executes to measure them — and those nested inside them, which
        ``track = all`` records untagged — stay out of pg_stat_statements (until the rollback)."""
        if self.can_silence_tracking():
            self.fetch_all("SELECT set_config('pg_stat_statements.track', 'none', true)")

    def execute_timed(self, query_text: str, params: Sequence[Any], *, modifying: bool) -> Timing:
        from qprof.safety import require_executable

        require_executable(self, query_text, params)
        query = tagged(sqltext.to_psycopg(query_text) if params else query_text)
        bound = sqltext.psycopg_params(params) if params else None
        # rolled back even when only reading: nothing a measured statement does (even set_config) outlives it
        with self.rolled_back_transaction(read_only=not modifying, untracked=True) as conn:
            try:
                with conn.cursor() as cur:
                    return self._timed(cur, query, bound)
            except psycopg.Error as exc:
                raise translate_error(exc, what="statement", timeout=self.statement_timeout) from None

    @staticmethod
    def _timed(cur: psycopg.Cursor, query: str, params: Any) -> Timing:
        import time

        started = time.perf_counter()
        cur.execute(query, params)
        rows = len(cur.fetchall()) if cur.description else max(cur.rowcount, 0)
        return Timing(elapsed_ms(started), rows)

    def close(self) -> None:
        self.conn.close()


def qualified(schema: str, name: str) -> sql.Composed:
    """``"schema"."name"`` quoted by psycopg, never pasted."""
    return sql.Identifier(schema, name)
