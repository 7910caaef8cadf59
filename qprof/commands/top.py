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
    connection_options,
    emit_metrics,
    handle_errors,
)
from qprof.history.cli import (
    BetweenOption,
    SinceOption,
    StoreOption,
    TargetOption,
)
from qprof.output import Column, OutputFormat, console, emit_listing, ms, num, pct, warn
from qprof.sqltext import one_line


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
    from qprof.api.top import NoStatements
    from qprof.api.top import top as rank

    try:
        with console.status("reading statistics…") as status:
            result = rank(
                db,
                by=by.value,
                limit=limit,
                min_calls=min_calls,
                all_databases=all_databases,
                role=role,
                workload=workload,
                runs=runs,
                since=since,
                between=between,
                store=store,
                target=target,
                profile=profile,
                statement_timeout=statement_timeout,
                allow_functions=allow_function,
                on_progress=lambda name: status.update(f"timing {name} ×{runs}"),
            )
    except NoStatements as exc:
        if fmt is not MetricsFormat.prometheus:
            raise
        # a textfile-collector cron must replace yesterday's file: an empty exposition, not a failure
        warn(exc.message)
        emit_metrics([], "top")
        return
    for item in result.skipped:
        warn(f"skipped {item.statement}: {item.reason}")
    if result.hidden:
        warn(
            f"{len(result.hidden)} statement(s) belong to other roles and their text is hidden; "
            "grant the monitoring role: GRANT pg_read_all_stats TO <your role>;"
        )
    document = result.to_dict()
    if fmt is MetricsFormat.prometheus:
        emit_metrics(document["statements"], "top")
        return
    emit_listing(document, "statements", columns(width), OutputFormat(fmt.value))


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(top))
