"""``qprof bench``: run a workload N times and report P50/P95/P99 per statement."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qprof.cli.options import (
    AllowFunctionOption,
    DbOption,
    DebugOption,
    FormatOption,
    ProfileOption,
    StatementTimeoutOption,
    connection_options,
    handle_errors,
)
from qprof.history.cli import QuietOption, StoreOption, store_location
from qprof.output import (
    Column,
    OutputFormat,
    console,
    emit_listing,
    ms,
    note,
    num,
    warn,
)
from qprof.sqltext import one_line

if TYPE_CHECKING:
    from qprof.api.bench import BenchResult

COLUMNS = [
    Column("name", "statement", align="left"),
    Column("runs", "runs", num),
    Column("mean_ms", "mean ms", ms),
    Column("p50_ms", "p50 ms", ms),
    Column("p95_ms", "p95 ms", ms),
    Column("p99_ms", "p99 ms", ms),
    Column("min_ms", "min ms", ms),
    Column("max_ms", "max ms", ms),
    Column("query", "query", lambda q: one_line(q, 50), "left"),
]


def run_bench(
    db: str | None,
    profile: str | None,
    statement_timeout: str,
    workload: Path,
    runs: int,
    warmup: int,
    quiet: bool,
    allow_functions: list[str] | None = None,
) -> BenchResult:
    """:func:`qprof.api.bench.bench` with a spinner unless ``quiet``, skipped statements warned."""
    from qprof.api.bench import bench as time_it

    if quiet:
        return time_it(
            db, workload=workload, runs=runs, warmup=warmup, profile=profile, statement_timeout=statement_timeout, allow_functions=allow_functions, warn=warn
        )
    with console.status("benchmarking…") as status:
        return time_it(
            db,
            workload=workload,
            runs=runs,
            warmup=warmup,
            profile=profile,
            statement_timeout=statement_timeout,
            allow_functions=allow_functions,
            warn=warn,
            on_progress=lambda name: status.update(f"timing {name} ×{runs}"),
        )


@connection_options
def bench(
    workload: Annotated[Path, typer.Argument(help="Workload: a .sql file, a folder of them, or file.sql:name.", show_default=False)],
    runs: Annotated[int, typer.Option("--runs", "-r", min=1, help="Measured executions per statement.")] = 20,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Unmeasured executions first (warm caches and plans).")] = 1,
    save_baseline: Annotated[str | None, typer.Option("--save-baseline", help="Also store the figures as this baseline in the history store.")] = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
    allow_function: AllowFunctionOption = None,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: FormatOption = OutputFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Run each statement of a workload N times and report mean and P50/P95/P99 latency.

    Data-modifying statements run in transactions that are rolled back. A statement that calls
    a function which could act outside that transaction (setval, dblink, lo_*, admin or unknown
    volatile functions) is not run: it is skipped with the reason, unless --allow-function names it.

    \b
    Examples:
      qprof bench queries/shop.sql --runs 50 --db postgresql://app@staging/shop
      qprof bench queries/shop.sql --db app.sqlite --save-baseline before-upgrade
    """
    result = run_bench(db, profile, statement_timeout, workload, runs, warmup, quiet, allow_function)
    if save_baseline:
        from qprof.history.store import Store

        with Store(store_location(store)) as history:
            history.save_baseline(
                save_baseline,
                None,
                "bench",
                f"workload {workload} ×{runs} on {result.target}",
                [r.baseline_row() for r in result.statements],
            )
        if not quiet:
            note(f"saved baseline {save_baseline!r} ({len(result.statements)} statements)")
    emit_listing(result.to_dict(), "statements", COLUMNS, fmt)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(bench))
