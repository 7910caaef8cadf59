"""``qprof tables``: which tables are read sequentially, how big, how dead."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from qprof.cli.options import (
    DbOption,
    DebugOption,
    FormatOption,
    ProfileOption,
    StatementTimeoutOption,
    connect,
    connection_options,
    handle_errors,
)
from qprof.model import TableStats
from qprof.output import Column, OutputFormat, emit_listing, num, pct, size, text


class TableRank(str, Enum):
    seq_volume = "seq-volume"
    seq_scans = "seq-scans"
    size = "size"
    rows = "rows"
    dead = "dead"


_RANK_KEYS = {
    TableRank.seq_volume: lambda t: t.seq_scan_volume_bytes or 0,
    TableRank.seq_scans: lambda t: t.seq_scan or 0,
    TableRank.size: lambda t: t.total_bytes or 0,
    TableRank.rows: lambda t: t.n_live_tup or 0,
    TableRank.dead: lambda t: t.n_dead_tup or 0,
}

POSTGRES_COLUMNS = [
    Column("table", "table", align="left"),
    Column("seq_scan", "seq scans", num),  # one per process: parallel workers each count
    Column("seq_tup_read", "seq rows read", num),
    Column("table_reads", "table reads", num),
    Column("idx_scan", "idx scans", num),
    Column("idx_scan_pct", "idx %", pct),
    Column("n_live_tup", "live rows", num),
    Column("n_dead_tup", "dead rows", num),
    Column("dead_pct", "dead %", pct),
    Column("total_bytes", "total size", size),
    Column("seq_scan_volume_bytes", "seq volume", size),
    Column("last_vacuum_any", "last vacuum", text, "left"),
    Column("last_analyze_any", "last analyze", text, "left"),
]

SQLITE_COLUMNS = [
    Column("table", "table", align="left"),
    Column("n_live_tup", "rows", num),
    Column("table_bytes", "table size", size),
    Column("total_bytes", "with indexes", size),
    Column("has_stat1", "analyzed", lambda v: "yes" if v else "no", "left"),
]


def _latest(*stamps: str | None) -> str | None:
    present = [s for s in stamps if s]
    return max(present)[:19] if present else None


def _row(table: TableStats) -> dict:
    row = table.to_dict()
    row["last_vacuum_any"] = _latest(table.last_vacuum, table.last_autovacuum)
    row["last_analyze_any"] = _latest(table.last_analyze, table.last_autoanalyze)
    return row


@connection_options
def tables(
    by: Annotated[
        TableRank, typer.Option("--by", "-b", help="Rank by seq-volume (whole-table reads × size), seq-scans, size, rows or dead.")
    ] = TableRank.seq_volume,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many tables to show.")] = 50,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: FormatOption = OutputFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Show tables with their scan activity and size (pg_stat_user_tables; SQLite: rows and sizes).

    The default ranking is the estimated volume read by sequential scans (table reads × table
    size): the tables where a missing index costs the most I/O come first. "seq scans" is
    PostgreSQL's counter, which counts each process of a parallel scan (two workers and the
    leader: 3); "table reads" is rows read ÷ live rows, the whole-table passes they add up to.

    \b
    Examples:
      qprof tables --by dead
      qprof tables --db app.sqlite --format markdown
    """
    with connect(db, profile, statement_timeout) as target:
        if target.engine == "postgresql":
            from qprof.collectors.pg_catalog import collect_tables

            columns = POSTGRES_COLUMNS
            rank = by
        else:
            from qprof.collectors.sqlite_catalog import collect_tables

            columns = SQLITE_COLUMNS
            rank = by if by in (TableRank.size, TableRank.rows) else TableRank.rows
        found = collect_tables(target)
        description = target.describe()
    ordered = sorted(found, key=lambda t: (-_RANK_KEYS[rank](t), t.qualified_name))[:limit]
    document = {"target": description, "by": rank.value, "tables": [_row(t) for t in ordered]}
    emit_listing(document, "tables", columns, fmt)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(tables))
