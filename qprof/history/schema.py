"""The store's tables (SQLAlchemy Core) and their versioned upgrades.

Rows are flat and numeric so a query loads straight into a DataFrame: one row per statement per
snapshot, one per table, one per index. Statement text is kept once per target, not per snapshot.
All timestamps are naive UTC.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Connection

SCHEMA_VERSION = 2

metadata = MetaData()

meta = Table(
    "qprof_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

targets = Table(
    "qprof_targets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity", String(400), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("database", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

snapshots = Table(
    "qprof_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target_id", Integer, ForeignKey("qprof_targets.id"), nullable=False),
    Column("taken_at", DateTime, nullable=False),
    Column("server_started", DateTime),
    Column("pss_stats_reset", DateTime),  # pg_stat_statements_info.stats_reset (PG14+)
    Column("pss_dealloc", BigInteger),  # entries evicted since that reset
    Column("db_stats_reset", DateTime),  # pg_stat_database.stats_reset: table/index counters
    Column("server_version", String(64)),
    Column("settings", JSON),
    Column("statement_count", Integer, nullable=False),
    Column("duration_ms", Float),
    Index("ix_qprof_snapshots_target_time", "target_id", "taken_at"),
)

statements = Table(
    "qprof_statements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target_id", Integer, ForeignKey("qprof_targets.id"), nullable=False),
    Column("queryid", String(40), nullable=False),
    Column("user_name", String(200), nullable=False),
    Column("query", Text, nullable=False),
    Column("first_snapshot_id", Integer, nullable=False),
    UniqueConstraint("target_id", "queryid", "user_name", name="uq_qprof_statements_key"),
)

statement_stats = Table(
    "qprof_statement_stats",
    metadata,
    Column("snapshot_id", Integer, ForeignKey("qprof_snapshots.id", ondelete="CASCADE"), primary_key=True),
    Column("statement_id", Integer, ForeignKey("qprof_statements.id"), primary_key=True),
    Column("calls", BigInteger, nullable=False),
    Column("total_ms", Float, nullable=False),
    Column("mean_ms", Float, nullable=False),
    Column("stddev_ms", Float, nullable=False),
    Column("max_ms", Float, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("shared_blks_hit", BigInteger),
    Column("shared_blks_read", BigInteger),
    Column("temp_blks", BigInteger),
    Column("io_ms", Float),
    Index("ix_qprof_statement_stats_statement", "statement_id"),
    sqlite_with_rowid=False,  # clustered by (snapshot_id, statement_id): windows are range scans
)

table_stats = Table(
    "qprof_table_stats",
    metadata,
    Column("snapshot_id", Integer, ForeignKey("qprof_snapshots.id", ondelete="CASCADE"), primary_key=True),
    Column("schema_name", String(200), primary_key=True),
    Column("table_name", String(200), primary_key=True),
    Column("total_bytes", BigInteger),
    Column("table_bytes", BigInteger),
    Column("n_live_tup", BigInteger),
    Column("n_dead_tup", BigInteger),
    Column("seq_scan", BigInteger),
    Column("seq_tup_read", BigInteger),
    Column("idx_scan", BigInteger),
    Column("n_tup_ins", BigInteger),
    Column("n_tup_upd", BigInteger),
    Column("n_tup_del", BigInteger),
    Column("last_vacuum", String(40)),
    Column("last_autovacuum", String(40)),
    sqlite_with_rowid=False,
)

index_stats = Table(
    "qprof_index_stats",
    metadata,
    Column("snapshot_id", Integer, ForeignKey("qprof_snapshots.id", ondelete="CASCADE"), primary_key=True),
    Column("schema_name", String(200), primary_key=True),
    Column("index_name", String(200), primary_key=True),
    Column("table_name", String(200), nullable=False),
    Column("idx_scan", BigInteger),
    Column("size_bytes", BigInteger),
    Column("is_unique", Boolean, nullable=False),
    Column("is_primary", Boolean, nullable=False),
    Column("valid", Boolean, nullable=False),
    Column("definition", Text, nullable=False),
    sqlite_with_rowid=False,
)

baselines = Table(
    "qprof_baselines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("target_id", Integer, ForeignKey("qprof_targets.id")),
    Column("created_at", DateTime, nullable=False),
    Column("source", String(20), nullable=False),  # "window" or "bench"
    Column("description", Text, nullable=False),
)

baseline_statements = Table(
    "qprof_baseline_statements",
    metadata,
    Column("baseline_id", Integer, ForeignKey("qprof_baselines.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(200), primary_key=True),  # queryid (window) or statement name (bench)
    Column("query", Text, nullable=False),
    Column("calls", BigInteger, nullable=False),
    Column("mean_ms", Float, nullable=False),
    Column("p50_ms", Float),
    Column("p95_ms", Float),
    Column("p99_ms", Float),
)

reports = Table(
    "qprof_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target_id", Integer, ForeignKey("qprof_targets.id"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("window_start", DateTime, nullable=False),
    Column("window_end", DateTime, nullable=False),
)


# -- version 2: recorded runs (qprof record) -------------------------------------------------
runs = Table(
    "qprof_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("target_id", Integer, ForeignKey("qprof_targets.id"), nullable=False),
    Column("start_snapshot_id", Integer, ForeignKey("qprof_snapshots.id"), nullable=False),
    Column("end_snapshot_id", Integer, ForeignKey("qprof_snapshots.id")),  # NULL while running
    Column("status", String(20), nullable=False),  # running, complete, interrupted, failed
    Column("command", JSON),  # argv, or NULL for a --duration window
    Column("exit_code", Integer),
    Column("started_at", DateTime, nullable=False),
    Column("ended_at", DateTime),
    Column("pid", Integer),  # of the recording qprof: a "running" run whose pid is gone was killed
    Column("log_path", Text),
    Column("log_start", BigInteger),  # byte offset where the window began in log_path
    Column("log_end", BigInteger),
    Column("percentile_source", String(40)),  # "server log", or NULL: no measurements
    Column("notes", JSON),  # what the window's data lacks (rotation, reset, eviction …)
)

run_statements = Table(
    "qprof_run_statements",
    metadata,
    Column("run_id", Integer, ForeignKey("qprof_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("queryid", String(40), primary_key=True),
    Column("user_name", String(200), primary_key=True),
    Column("samples", BigInteger, nullable=False),  # durations measured for this statement
    Column("p50_ms", Float),
    Column("p95_ms", Float),
    Column("p99_ms", Float),
    Column("max_ms", Float),
    sqlite_with_rowid=False,
)

V1_TABLES = [meta, targets, snapshots, statements, statement_stats, table_stats, index_stats, baselines, baseline_statements, reports]


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=V1_TABLES, checkfirst=True)


def _add_runs(conn: Connection) -> None:
    metadata.create_all(conn, tables=[runs, run_statements], checkfirst=True)


# Upgrades: UPGRADES[n] takes a store at version n-1 to version n. Append, never edit.
UPGRADES: dict[int, Callable[[Connection], None]] = {1: _create_v1, 2: _add_runs}
