"""Read one snapshot's worth of cumulative statistics from a PostgreSQL target.

Everything is read first, then written to the store in one short transaction, so the store's
writer lock is never held while the target is slow. Nothing here resets any statistics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qprof.collectors.pg_catalog import collect_indexes, collect_stats_reset, collect_tables
from qprof.collectors.pg_statements import _version_tuple, collect_statements
from qprof.errors import BadInput, QprofError
from qprof.sqlfiles import load_sql
from qprof.history.store import naive_utc, utcnow
from qprof.model import StatementStats
from qprof.targets import Target

KEY_SETTINGS = [
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "random_page_cost",
    "seq_page_cost",
    "max_connections",
    "max_parallel_workers_per_gather",
    "jit",
    "track_io_timing",
    "pg_stat_statements.max",
    "pg_stat_statements.track",
    "default_statistics_target",
]


@dataclass
class TargetIdentity:
    """How the store recognises a database across runs: cluster system identifier + database name."""

    identity: str
    name: str
    database: str
    description: str
    server_version: str = ""
    server_started: datetime | None = None


@dataclass
class SnapshotData:
    identity: str
    name: str
    database: str
    description: str
    taken_at: datetime
    server_version: str
    server_started: datetime | None
    pss_stats_reset: datetime | None
    pss_dealloc: int | None
    db_stats_reset: datetime | None
    settings: dict[str, Any]
    statements: list[dict[str, Any]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0


def identify(target: Target, name: str | None = None) -> TargetIdentity:
    """The store identity of ``target``; ``name`` overrides the label reports show."""
    if target.engine != "postgresql":
        raise BadInput(
            "history snapshots need PostgreSQL: SQLite keeps no cumulative statement statistics",
            hint="for SQLite, time a workload with: qprof bench queries/… --db app.sqlite",
        )
    row = target.fetch_all(load_sql("qprof.history", "server_identity.sql"), what="reading the server identity")[0]
    try:
        system_id = target.fetch_value(load_sql("qprof.history", "system_identifier.sql"), what="reading pg_control_system()")
    except QprofError:  # not granted: fall back to where the server listens
        system_id = None
    where = system_id or f"{row['server_addr'] or 'local'}:{row['server_port'] or ''}"
    return TargetIdentity(
        identity=f"{where}/{row['database']}",
        name=name or row["database"],
        database=row["database"],
        description=target.describe(),
        server_version=row["server_version"],
        server_started=naive_utc(row["server_started"]),
    )


def _statement_rows(rows: list[StatementStats]) -> list[dict[str, Any]]:
    """Store rows; the collector already merged top-level and nested entries per (queryid, user)."""
    return [
        {
            "queryid": st.queryid,
            "user_name": st.user or "",
            "query": st.query,
            "counters": {
                "calls": st.calls,
                "total_ms": st.total_ms,
                "mean_ms": st.mean_ms,
                "stddev_ms": st.stddev_ms,
                "max_ms": st.max_ms,
                "rows": st.rows,
                "shared_blks_hit": st.shared_blks_hit,
                "shared_blks_read": st.shared_blks_read,
                "temp_blks": st.temp_blks,
                "io_ms": st.io_ms,
            },
        }
        for st in rows
    ]


def _table_row(t: Any) -> dict[str, Any]:
    return {
        "schema_name": t.schema,
        "table_name": t.name,
        "total_bytes": t.total_bytes,
        "table_bytes": t.table_bytes,
        "n_live_tup": t.n_live_tup,
        "n_dead_tup": t.n_dead_tup,
        "seq_scan": t.seq_scan,
        "seq_tup_read": t.seq_tup_read,
        "idx_scan": t.idx_scan,
        "n_tup_ins": t.n_tup_ins,
        "n_tup_upd": t.n_tup_upd,
        "n_tup_del": t.n_tup_del,
        "last_vacuum": t.last_vacuum,
        "last_autovacuum": t.last_autovacuum,
    }


def _index_row(i: Any) -> dict[str, Any]:
    return {
        "schema_name": i.schema,
        "index_name": i.name,
        "table_name": i.table,
        "idx_scan": i.idx_scan,
        "size_bytes": i.size_bytes,
        "is_unique": i.is_unique,
        "is_primary": i.is_primary,
        "valid": i.valid,
        "definition": i.definition,
    }


def collect_snapshot(target: Target, name: str | None = None) -> SnapshotData:
    """Everything one snapshot records, read from ``target`` (current database only)."""
    started = time.perf_counter()
    who = identify(target, name)
    taken_at = utcnow()
    statements = collect_statements(target)  # raises ExtensionMissing with the fix when absent
    pss_version = target.extension_version("pg_stat_statements") or "0"
    pss_reset, dealloc = None, None
    if _version_tuple(pss_version) >= (1, 9):
        info = target.fetch_all(load_sql("qprof.history", "pss_info.sql"), what="reading pg_stat_statements_info")
        if info:
            pss_reset, dealloc = naive_utc(info[0]["stats_reset"]), info[0]["dealloc"]
    settings_rows = target.fetch_all(load_sql("qprof.history", "settings.sql"), {"names": KEY_SETTINGS}, what="reading settings")
    settings = {r["name"]: (r["setting"] + (r["unit"] or "") if r["unit"] not in (None, "") else r["setting"]) for r in settings_rows}
    settings["server_version"] = who.server_version
    db_reset = collect_stats_reset(target)["stats_reset"]
    return SnapshotData(
        identity=who.identity,
        name=who.name,
        database=who.database,
        description=who.description,
        taken_at=taken_at,
        server_version=who.server_version,
        server_started=who.server_started,
        pss_stats_reset=pss_reset,
        pss_dealloc=dealloc,
        db_stats_reset=naive_utc(datetime.fromisoformat(db_reset)) if db_reset else None,
        settings=settings,
        statements=_statement_rows(statements),
        tables=[_table_row(t) for t in collect_tables(target)],
        indexes=[_index_row(i) for i in collect_indexes(target)],
        duration_ms=(time.perf_counter() - started) * 1000.0,
    )
