"""``qprof top``: the statements that cost the most."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from qprof.cli.options import (
    AllowFunctionOption,
    DbOption,
    DebugOption,
    MetricsFormat,
    MetricsFormatOption,
    ProfileOption,
    StatementTimeoutOption,
    connect,
    connection_options,
    emit_metrics,
    handle_errors,
)
from qprof.errors import BadInput, QprofError
from qprof.history.cli import (
    BetweenOption,
    SinceOption,
    StoreOption,
    TargetOption,
    windowed_source,
)
from qprof.model import StatementStats
from qprof.output import Column, OutputFormat, console, emit_listing, ms, num, pct, warn
from qprof.ranking import rank_statements
from qprof.runner import Skipped, time_workload
from qprof.sqltext import one_line
from qprof.targets import Target
from qprof.workload import load_workload


class RankBy(str, Enum):
    total = "total"
    mean = "mean"
    calls = "calls"
    rows = "rows"
    io = "io"
    stddev = "stddev"
    max = "max"
    temp = "temp"


def columns(width: int) -> list[Column]:
    return [
        Column("queryid", "queryid"),
        Column("calls", "calls", num),
        Column("total_ms", "total ms", ms),
        Column("mean_ms", "mean ms", ms),
        Column("stddev_ms", "stddev ms", ms),
        Column("max_ms", "max ms", ms),
        Column("rows_per_call", "rows/call", num),
        Column("pct_total_time", "% time", pct),
        Column("shared_hit_pct", "hit %", pct),
        Column("temp_blks", "temp blks", num),
        Column("query", "query", lambda q: one_line(q, width), "left"),
    ]


def _from_server(target: Target, all_databases: bool) -> tuple[list[StatementStats], float]:
    """The scope's statements and the top-level time that shares are computed against."""
    if target.engine != "postgresql":
        raise BadInput(
            "SQLite keeps no statement statistics",
            hint="time a workload instead: qprof top --db app.sqlite --workload queries/shop.sql",
        )
    from qprof.collectors.pg_statements import collect_statement_scope

    scope = collect_statement_scope(target, all_databases=all_databases)
    return scope.statements, scope.total_ms


def _from_workload(target: Target, workload: Path, runs: int) -> tuple[list[StatementStats], list[Skipped]]:
    statements = load_workload(workload)
    with console.status("timing workload…") as status:
        return time_workload(
            target, statements, runs, on_progress=lambda s: status.update(f"timing {s.name} ×{runs}")
        )


@connection_options
def top(
    by: Annotated[RankBy, typer.Option("--by", "-b", help="Rank by total, mean, calls, rows, io, stddev, max or temp.")] = RankBy.total,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many statements to show.")] = 20,
    min_calls: Annotated[int, typer.Option("--min-calls", min=1, help="Ignore statements called fewer times.")] = 1,
    all_databases: Annotated[bool, typer.Option("--all-databases", help="Include every database, not only the current one.")] = False,
    role: Annotated[str | None, typer.Option("--role", help="Only statements run by this role (-U is the role qprof logs in as).")] = None,
    workload: Annotated[
        Path | None,
        typer.Option("--workload", "-w", help="Time this workload (file, folder or file.sql:name) instead of reading pg_stat_statements; required on SQLite."),
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="With --workload: executions per statement.")] = 5,
    width: Annotated[int, typer.Option("--width", min=10, help="Cut the query column to this many characters (table/markdown).")] = 60,
    allow_function: AllowFunctionOption = None,
    since: SinceOption = None,
    between: BetweenOption = None,
    store: StoreOption = None,
    target: TargetOption = None,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: MetricsFormatOption = MetricsFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Show the statements that cost the most, from pg_stat_statements (or timed from a workload).

    \b
    Examples:
      qprof top --by mean --limit 10
      qprof top --since 1h          (what happened in the last hour, from qprof snapshot history)
      qprof top --db sqlite:///app.sqlite --workload queries/shop.sql --runs 10
      qprof top --format json | jq '.statements[0]'
    """
    skipped: list[Skipped] = []
    total_ms: float | None = None
    if since is not None or between is not None:
        if workload is not None:
            raise BadInput("--since/--between rank stored history; they cannot be combined with --workload")
        statements, description = windowed_source(store, target, db, profile, statement_timeout, since, between)
        source = "history"
    else:
        with connect(db, profile, statement_timeout, allow_functions=allow_function) as live:
            if workload is not None:
                statements, skipped = _from_workload(live, workload, runs)
                source = "workload"
            else:
                statements, total_ms = _from_server(live, all_databases)
                source = "pg_stat_statements"
            description = live.describe()
    for item in skipped:
        warn(f"skipped {item.statement}: {item.reason}")
    if role is not None:  # shares stay relative to everybody's time
        total_ms = sum(s.total_ms for s in statements) if total_ms is None else total_ms
        statements = [s for s in statements if s.user == role]
    if not any(s.calls >= min_calls for s in statements):
        scope = ("any database" if all_databases else "this database") + (f" run by role {role!r}" if role is not None else "")
        raise QprofError(
            f"no statement statistics yet for {scope}" + (f" with at least {min_calls} calls" if min_calls > 1 else ""),
            hint="run the application's workload first, or lower --min-calls",
        )
    ranked = rank_statements(statements, by.value, limit, min_calls, total_ms=total_ms)
    hidden = [s for s in ranked if not s.text_visible]
    if hidden:
        warn(
            f"{len(hidden)} statement(s) belong to other roles and their text is hidden; "
            "grant the monitoring role: GRANT pg_read_all_stats TO <your role>;"
        )
    document = {
        "target": description,
        "source": source,
        "by": by.value,
        "statements": [s.to_dict() for s in ranked],
        "skipped": [s.to_dict() for s in skipped],
    }
    if fmt is MetricsFormat.prometheus:
        emit_metrics(document["statements"], "top")
        return
    emit_listing(document, "statements", columns(width), OutputFormat(fmt.value))


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(top))
