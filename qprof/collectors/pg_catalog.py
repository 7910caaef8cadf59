"""Tables and indexes of a PostgreSQL database: sizes, activity counters, index definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qprof.sqlfiles import load_sql
from qprof.errors import StatementFailed
from qprof.model import IndexInfo, IndexKey, TableStats
from qprof.targets.postgres import PostgresTarget


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _fetch_skipping_locks(target: PostgresTarget, name: str, what: str) -> list[dict[str, Any]]:
    """The query's rows; a relation another session holds ACCESS EXCLUSIVE comes back with
    ``locked_by`` set and no size (the .sql files check pg_locks). A lock taken between that
    check and the size call still waits for lock_timeout: then the query runs once more, and
    sees the lock."""
    try:
        return target.fetch_all(load_sql("qprof.collectors", name), what=what)
    except StatementFailed as exc:
        if "lock_timeout" not in exc.message:
            raise
        return target.fetch_all(load_sql("qprof.collectors", name), what=what)


def _say_skipped(kind: str, locked: list[tuple[str, int]], *, what: str = "the size of ") -> None:
    from qprof.output import warn

    if locked:
        names = ", ".join(f"{name} (pid {pid})" for name, pid in locked[:5]) + (" …" if len(locked) > 5 else "")
        warn(f"skipped {what}{len(locked)} {kind}(s) locked ACCESS EXCLUSIVE by another session: {names}")


def collect_tables(target: PostgresTarget) -> list[TableStats]:
    rows = _fetch_skipping_locks(target, "tables.sql", "reading pg_stat_user_tables")
    tables, locked = [], []
    for row in rows:
        for key in ("last_vacuum", "last_autovacuum", "last_analyze", "last_autoanalyze"):
            row[key] = _iso(row[key])
        pid = row.pop("locked_by")
        if pid is not None:
            locked.append((f"{row['schema']}.{row['name']}", pid))
        tables.append(TableStats(**row))
    _say_skipped("table", locked)
    return tables


def collect_indexes(target: PostgresTarget) -> list[IndexInfo]:
    rows = _fetch_skipping_locks(target, "indexes.sql", "reading the index catalog")
    locked = [(f"{row['schema']}.{row['name']}", row["locked_by"]) for row in rows if row["locked_by"] is not None]
    _say_skipped("index", locked, what="")
    return [_index(row) for row in rows if row["locked_by"] is None]


def _index(row: dict[str, Any]) -> IndexInfo:
    del row["locked_by"]
    columns = row.pop("columns") or []
    keys = [IndexKey(c["expression"], c["descending"], c["nulls_first"], c["opclass"], c["collation"]) for c in columns if c["is_key"]]
    include = [c["expression"] for c in columns if not c["is_key"]]
    return IndexInfo(keys=keys, include=include, **row)


def collect_stats_reset(target: PostgresTarget) -> dict[str, Any]:
    """When usage counters began: ``unused`` means "no scans since then"."""
    rows = target.fetch_all(load_sql("qprof.collectors", "stats_reset.sql"), what="reading pg_stat_database")
    if not rows:
        return {"stats_reset": None, "age_seconds": None, "server_started": None}
    row = rows[0]
    return {
        "stats_reset": _iso(row["stats_reset"]),
        "age_seconds": row["age"].total_seconds() if row["age"] is not None else None,
        "server_started": _iso(row["server_started"]),
    }


def locked_tables(target: PostgresTarget) -> dict[tuple[str, str], int]:
    """(schema, table) → pid of every table another session holds or awaits ACCESS EXCLUSIVE on."""
    rows = target.fetch_all(load_sql("qprof.collectors", "locked_tables.sql"), what="reading pg_locks")
    return {(row["schema"], row["name"]): int(row["pid"]) for row in rows}
