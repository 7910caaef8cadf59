"""``--apply``: create the recommended indexes, one at a time, the way a careful DBA would.

Only this module and verification write to the database, and only under an explicit flag. Each
index is built ``CONCURRENTLY`` (no long write lock) on a dedicated autocommit connection with
``lock_timeout``; a session advisory lock keeps two qprof runs from building at once; afterwards
the index must be valid (a failed concurrent build leaves an INVALID index, which is dropped).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from qprof.advise.generator import Recommendation
from qprof.errors import QprofError, StatementFailed

# pg_try_advisory_lock key: "qprof" in ASCII, so other tools are unlikely to collide with it.
ADVISORY_KEY = 0x7170726F66


@contextmanager
def writable_connection(target: Any, *, lock_timeout: float) -> Iterator[Any]:
    """A second connection that may write: autocommit (CONCURRENTLY needs it), read-only off."""
    if target.engine == "sqlite":
        conn = sqlite3.connect(f"file:{target.path.resolve()}?mode=rw", uri=True, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()
        return
    import psycopg

    try:
        conn = psycopg.connect(target._conninfo(), autocommit=True)
    except psycopg.Error as exc:
        raise QprofError(f"cannot open a writable session: {exc}") from None
    try:
        conn.execute("SET SESSION default_transaction_read_only = off")
        conn.execute(f"SET lock_timeout = {int(lock_timeout * 1000)}")
        yield conn
    finally:
        conn.close()


@contextmanager
def advisory_lock(conn: Any, engine: str) -> Iterator[None]:
    if engine == "sqlite":
        yield
        return
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()[0]
    if not got:
        raise QprofError(
            "another qprof advise --apply/--verify is running against this database",
            hint="wait for it to finish, then run again",
        )
    try:
        yield
    finally:
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
        except Exception:  # noqa: BLE001 - closing the session releases it anyway
            pass


def qualified_index(rec: Recommendation) -> str:
    from psycopg import sql

    return sql.Identifier(rec.candidate.schema, rec.name).as_string(None)


def build(conn: Any, rec: Recommendation, engine: str) -> float:
    """Run the up step; milliseconds taken. Raises StatementFailed with the server's message."""
    started = time.perf_counter()
    try:
        conn.execute(rec.ddl)
    except Exception as exc:  # psycopg.Error or sqlite3.Error
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StatementFailed(f"creating {rec.name} failed: {first}") from None
    return (time.perf_counter() - started) * 1000.0


def is_valid(conn: Any, rec: Recommendation, engine: str) -> bool:
    if engine == "sqlite":
        row = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", (rec.name,)).fetchone()
        return bool(row[0])
    row = conn.execute(
        "SELECT x.indisvalid AND x.indisready FROM pg_index x WHERE x.indexrelid = to_regclass(%s)",
        (qualified_index(rec),),
    ).fetchone()
    return bool(row and row[0])


def real_size(conn: Any, rec: Recommendation, engine: str) -> int | None:
    if engine == "sqlite":
        try:
            row = conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = ?", (rec.name,)).fetchone()
            return int(row[0]) if row and row[0] else None
        except sqlite3.Error:
            return None
    row = conn.execute(
        "SELECT pg_total_relation_size(to_regclass(%s)) + COALESCE((SELECT sum(pg_relation_size(i.inhrelid)) "
        "FROM pg_inherits i WHERE i.inhparent = to_regclass(%s)), 0)",
        (qualified_index(rec), qualified_index(rec)),
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def drop(conn: Any, rec: Recommendation) -> None:
    """The down step; never raises (it runs in cleanup paths)."""
    try:
        conn.execute(rec.drop_ddl)
    except Exception:  # noqa: BLE001
        try:  # a partitioned parent's index cannot be dropped CONCURRENTLY
            conn.execute(rec.drop_ddl.replace(" CONCURRENTLY", ""))
        except Exception:  # noqa: BLE001
            pass


def apply_recommendations(target: Any, recs: Sequence[Recommendation], *, lock_timeout: float) -> list[dict[str, Any]]:
    """Create each index not already applied; report per index (created, valid, ms, size, error)."""
    report = []
    with writable_connection(target, lock_timeout=lock_timeout) as conn, advisory_lock(conn, target.engine):
        for rec in recs:
            if rec.applied:
                report.append({"index": rec.name, "created": True, "valid": rec.valid, "note": "kept from --verify"})
                continue
            entry: dict[str, Any] = {"index": rec.name, "created": False, "valid": False}
            try:
                ms = build(conn, _concurrent_ok(conn, rec, target.engine), target.engine)
                entry["ms"] = round(ms, 1)
                valid = is_valid(conn, rec, target.engine)
                entry["valid"] = valid
                if not valid:
                    drop(conn, rec)
                    entry["error"] = "the index was built INVALID and has been dropped again"
                else:
                    entry["created"] = True
                    rec.applied, rec.valid = True, True
                    rec.real_size_bytes = rec.real_size_bytes or real_size(conn, rec, target.engine)
                    entry["size_bytes"] = rec.real_size_bytes
            except StatementFailed as exc:
                drop(conn, rec) if "already exists" not in exc.message else None
                entry["error"] = exc.message
            report.append(entry)
    return report


def _concurrent_ok(conn: Any, rec: Recommendation, engine: str) -> Recommendation:
    """PostgreSQL cannot build an index on a partitioned parent CONCURRENTLY: build it plainly there."""
    if engine == "sqlite":
        return rec
    row = conn.execute(
        "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (rec.candidate.schema, rec.candidate.table),
    ).fetchone()
    if row and row[0] == "p":
        from dataclasses import replace

        return replace(rec, ddl=rec.ddl.replace(" CONCURRENTLY", ""))
    return rec
