"""The model: plain dataclasses that collectors fill and advisors read. No I/O here.

Field names are the JSON keys of ``--format json``; changing one is a breaking change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StatementStats:
    """Cumulative cost of one normalized statement (a pg_stat_statements entry or a timed workload item)."""

    queryid: str
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    stddev_ms: float
    max_ms: float
    rows: int
    shared_blks_hit: int | None = None
    shared_blks_read: int | None = None
    temp_blks: int | None = None
    io_ms: float | None = None  # time spent reading/writing blocks (track_io_timing)
    database: str | None = None
    user: str | None = None
    text_visible: bool = True  # False when the role may not see another role's query text
    name: str | None = None  # workload statement name, when it came from a file
    pct_total_time: float = 0.0  # filled by ranking: share of all statement time in scope
    # Of total_ms, the time spent as a top-level statement (None: all of it). With
    # pg_stat_statements.track = all a statement run inside a function is inside its caller's
    # time too, so only top-level time counts towards % time (shares then add up to 100 %).
    toplevel_ms: float | None = None

    @property
    def rows_per_call(self) -> float:
        return self.rows / self.calls if self.calls else 0.0

    @property
    def shared_hit_pct(self) -> float | None:
        if self.shared_blks_hit is None or self.shared_blks_read is None:
            return None
        touched = self.shared_blks_hit + self.shared_blks_read
        return 100.0 * self.shared_blks_hit / touched if touched else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows_per_call"] = self.rows_per_call
        data["shared_hit_pct"] = self.shared_hit_pct
        return data


@dataclass
class TableStats:
    """Activity and size of one table (pg_stat_user_tables, or SQLite's catalog and dbstat)."""

    schema: str
    name: str
    total_bytes: int | None = None
    table_bytes: int | None = None
    n_live_tup: int | None = None
    n_dead_tup: int | None = None
    seq_scan: int | None = None
    seq_tup_read: int | None = None
    idx_scan: int | None = None
    n_tup_ins: int | None = None
    n_tup_upd: int | None = None
    n_tup_del: int | None = None
    n_tup_hot_upd: int | None = None
    last_vacuum: str | None = None
    last_autovacuum: str | None = None
    last_analyze: str | None = None
    last_autoanalyze: str | None = None
    has_stat1: bool | None = None  # SQLite: whether ANALYZE left rows in sqlite_stat1

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @property
    def rows_per_seq_scan(self) -> float | None:
        if not self.seq_scan or self.seq_tup_read is None:
            return None
        return self.seq_tup_read / self.seq_scan

    @property
    def idx_scan_pct(self) -> float | None:
        """Share of scans that used an index; QP301's "index usage"."""
        if self.seq_scan is None or self.idx_scan is None:
            return None
        scans = self.seq_scan + self.idx_scan
        return 100.0 * self.idx_scan / scans if scans else None

    @property
    def dead_pct(self) -> float | None:
        if self.n_dead_tup is None or self.n_live_tup is None:
            return None
        total = self.n_dead_tup + self.n_live_tup
        return 100.0 * self.n_dead_tup / total if total else 0.0

    @property
    def table_reads(self) -> float | None:
        """Whole-table passes the sequential scans add up to: rows they read ÷ live rows.

        ``seq_scan`` counts every process that scanned — a parallel scan with two workers
        counts three — so it overstates how often statements scanned the table; the rows
        read are shared out among the processes and add up to the true volume.
        """
        if not self.n_live_tup or self.seq_tup_read is None:
            return None
        return self.seq_tup_read / self.n_live_tup

    @property
    def seq_scan_volume_bytes(self) -> int | None:
        """Estimated bytes read by sequential scans (the default ranking): whole-table reads ×
        table size; seq_scan × table size when the table has no live-row estimate yet."""
        if self.table_bytes is None:
            return None
        if self.table_reads is not None:
            return round(self.table_reads * self.table_bytes)
        return None if self.seq_scan is None else self.seq_scan * self.table_bytes

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["table"] = self.qualified_name
        data["rows_per_seq_scan"] = self.rows_per_seq_scan
        data["idx_scan_pct"] = self.idx_scan_pct
        data["dead_pct"] = self.dead_pct
        data["seq_scan_volume_bytes"] = self.seq_scan_volume_bytes
        data["table_reads"] = self.table_reads
        return data


@dataclass(frozen=True)
class IndexKey:
    """One key column of an index, with everything that decides whether another index covers it."""

    expression: str  # a column name, or the expression's text
    descending: bool = False
    nulls_first: bool = False
    opclass: str | None = None  # non-default operator class, if any
    collation: str | None = None  # non-default collation, if any


@dataclass
class IndexInfo:
    """One index with its usage, and the classification ``qprof indexes`` shows."""

    schema: str
    table: str
    name: str
    method: str
    keys: list[IndexKey]
    include: list[str] = field(default_factory=list)
    predicate: str | None = None
    definition: str = ""
    is_unique: bool = False
    is_primary: bool = False
    constraint: str | None = None  # name of the constraint it backs (PK, UNIQUE, EXCLUDE)
    valid: bool = True
    size_bytes: int | None = None
    idx_scan: int | None = None  # None: the engine keeps no usage statistics (SQLite)
    classes: list[str] = field(default_factory=list)  # unused, duplicate, redundant, invalid
    covered_by: str | None = None  # the index that makes this one duplicate/redundant

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table

    @property
    def columns(self) -> list[str]:
        return [key.expression + (" DESC" if key.descending else "") for key in self.keys]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "table": self.qualified_table,
            "index": self.name,
            "method": self.method,
            "columns": self.columns,
            "include": self.include,
            "predicate": self.predicate,
            "definition": self.definition,
            "unique": self.is_unique,
            "primary": self.is_primary,
            "constraint": self.constraint,
            "valid": self.valid,
            "size_bytes": self.size_bytes,
            "idx_scan": self.idx_scan,
            "classes": self.classes,
            "covered_by": self.covered_by,
        }
