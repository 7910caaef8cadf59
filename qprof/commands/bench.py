"""``qprof bench``: run a workload N times and report P50/P95/P99 per statement."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qprof.cli.options import (
    AllowFunctionOption,
    DbOption,
    DebugOption,
    FormatOption,
    ProfileOption,
    StatementTimeoutOption,
    connect,
    connection_options,
    handle_errors,
)
from qprof.errors import QprofError
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
from qprof.workload import load_workload

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
):
    """Time the workload on the target; shared by ``bench`` and ``baseline save/check --workload``.

    A statement qprof.safety does not clear is skipped with the reason (nothing of it runs)."""
    from qprof.history.baselines import bench_workload

    statements = load_workload(workload)
    with connect(db, profile, statement_timeout, allow_functions=allow_functions) as target:
        description = target.describe()
        if quiet:
            results, skipped = bench_workload(target, statements, runs, warmup=warmup)
        else:
            with console.status("benchmarking…") as status:
                results, skipped = bench_workload(
                    target, statements, runs, warmup=warmup,
                    on_progress=lambda s: status.update(f"timing {s.name} ×{runs}"),
                )
    for item in skipped:
        warn(f"skipped {item.statement}: {item.reason}")
    if not results:
        raise QprofError(f"no statement of {workload} could be timed", hint="see the warnings above")
    return results, skipped, description


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
    results, skipped, description = run_bench(db, profile, statement_timeout, workload, runs, warmup, quiet, allow_function)
    if save_baseline:
        from qprof.history.store import Store

        with Store(store_location(store)) as history:
            history.save_baseline(
                save_baseline, None, "bench", f"workload {workload} ×{runs} on {description}", [r.baseline_row() for r in results]
            )
        if not quiet:
            note(f"saved baseline {save_baseline!r} ({len(results)} statements)")
    document = {
        "target": description,
        "workload": str(workload),
        "runs": runs,
        "warmup": warmup,
        "statements": [r.to_dict() for r in results],
        "skipped": [s.to_dict() for s in skipped],
    }
    emit_listing(document, "statements", COLUMNS, fmt)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(bench))
