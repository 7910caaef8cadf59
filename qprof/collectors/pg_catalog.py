"""Tables and indexes of a PostgreSQL database: sizes, activity counters, index definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qprof.collectors import load_sql
from qprof.model import IndexInfo, IndexKey, TableStats
from qprof.targets.postgres import PostgresTarget


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def collect_tables(target: PostgresTarget) -> list[TableStats]:
    rows = target.fetch_all(load_sql("tables.sql"), what="reading pg_stat_user_tables")
    tables = []
    for row in rows:
        for key in ("last_vacuum", "last_autovacuum", "last_analyze", "last_autoanalyze"):
            row[key] = _iso(row[key])
        tables.append(TableStats(**row))
    return tables


def collect_indexes(target: PostgresTarget) -> list[IndexInfo]:
    rows = target.fetch_all(load_sql("indexes.sql"), what="reading the index catalog")
    return [_index(row) for row in rows]


def _index(row: dict[str, Any]) -> IndexInfo:
    columns = row.pop("columns") or []
    keys = [
        IndexKey(c["expression"], c["descending"], c["nulls_first"], c["opclass"], c["collation"])
        for c in columns
        if c["is_key"]
    ]
    include = [c["expression"] for c in columns if not c["is_key"]]
    return IndexInfo(keys=keys, include=include, **row)


def collect_stats_reset(target: PostgresTarget) -> dict[str, Any]:
    """When usage counters began: ``unused`` means "no scans since then"."""
    rows = target.fetch_all(load_sql("stats_reset.sql"), what="reading pg_stat_database")
    if not rows:
        return {"stats_reset": None, "age_seconds": None, "server_started": None}
    row = rows[0]
    return {
        "stats_reset": _iso(row["stats_reset"]),
        "age_seconds": row["age"].total_seconds() if row["age"] is not None else None,
        "server_started": _iso(row["server_started"]),
    }
