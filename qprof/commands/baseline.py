"""``qprof baseline save|check|list``: regression gating in CI against stored per-statement timings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qprof.cli.options import DbOption, DebugOption, FormatOption, ProfileOption, StatementTimeoutOption, connection_options, handle_errors
from qprof.errors import EXIT_FINDINGS, BadInput
from qprof.history.cli import BetweenOption, QuietOption, SinceOption, StoreOption, TargetOption, history_target, store_location
from qprof.output import Column, OutputFormat, emit, emit_listing, ms, note, num, render_json, text, warn
from qprof.sqltext import one_line
from qprof.units import parse_duration, parse_percent

baseline_app = typer.Typer(help="Save per-statement timings as a named baseline, and check against it (exit 1 when slower).", no_args_is_help=True)

WorkloadOption = Annotated[
    Path | None,
    typer.Option("--workload", "-w", help="Measure this workload on --db (like qprof bench) instead of reading a window of the history."),
]
RunsOption = Annotated[int, typer.Option("--runs", "-r", min=1, help="With --workload: measured executions per statement.")]


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:+.1f}%"


CHECK_COLUMNS = [
    Column("key", "statement", align="left"),
    Column("status", "status", align="left"),
    Column("baseline_mean_ms", "baseline mean ms", ms),
    Column("mean_ms", "mean ms", ms),
    Column("mean_change_pct", "mean Δ", _pct),
    Column("baseline_p95_ms", "baseline p95 ms", ms),
    Column("p95_ms", "p95 ms", ms),
    Column("p95_change_pct", "p95 Δ", _pct),
    Column("query", "query", lambda q: one_line(q, 50), "left"),
]


def _current(
    history,
    workload: Path | None,
    runs: int,
    since: str | None,
    between,
    target: str | None,
    db: str | None,
    profile: str | None,
    statement_timeout: str,
    quiet: bool,
    from_run: str | None = None,
) -> tuple[list[dict], str, int | None, str]:
    """Rows to save or compare: from a workload run, a recorded run, or a window of the history."""
    if from_run is not None:
        from qprof.history.baselines import window_rows
        from qprof.history.window import statement_table
        from qprof.record.runs import measured_percentiles, run_window

        run, window = run_window(history, from_run)
        rows = window_rows(statement_table(history, window), measured_percentiles(run))
        return rows, "window", window.target.id, f"run {from_run} of {window.target.name}"
    if workload is not None:
        from qprof.api.bench import bench

        timed = bench(db, workload=workload, runs=runs, warmup=1, profile=profile, statement_timeout=statement_timeout, warn=warn)
        return [r.baseline_row() for r in timed.statements], "bench", None, f"workload {workload} ×{runs} on {timed.target}"
    from qprof.history.baselines import window_rows
    from qprof.history.window import select_window, statement_table

    chosen = history_target(history, target, db, profile, statement_timeout)
    window = select_window(history, chosen, since=since or (None if between else "1h"), between=between)
    rows = window_rows(statement_table(history, window))
    span = window.describe()
    return rows, "window", chosen.id, f"{chosen.name} {span['start']} → {span['end']}"


@baseline_app.command("save")
@handle_errors
@connection_options
def save(
    name: Annotated[str, typer.Argument(help="Baseline name (replaced if it exists).", show_default=False)],
    since: SinceOption = None,
    between: BetweenOption = None,
    workload: WorkloadOption = None,
    runs: RunsOption = 20,
    from_run: Annotated[str | None, typer.Option("--from-run", help="Save the window of this qprof record run (with its measured P50/P95/P99).")] = None,
    target: TargetOption = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: FormatOption = OutputFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Store per-statement mean (and P50/P95/P99 for workload runs) as baseline NAME.

    \b
    Examples:
      qprof baseline save main --workload queries/shop.sql --runs 30 --db $STAGING
      qprof baseline save last-week --between 1200 1400
    """
    from qprof.history.store import Store

    if sum(x is not None and x is not False for x in (workload, since or between or None, from_run)) > 1:
        raise BadInput("use one of --workload, --since/--between or --from-run")
    with Store(store_location(store)) as history:
        rows, source, target_id, description = _current(history, workload, runs, since, between, target, db, profile, statement_timeout, quiet, from_run)
        if not rows:
            raise BadInput("nothing to save: no statement ran in that window", hint="widen --since")
        replaced = history.save_baseline(name, target_id, source, description, rows)
    if fmt is OutputFormat.json:
        emit(render_json({"baseline": name, "source": source, "description": description, "statements": len(rows), "replaced": replaced}))
    elif not quiet:
        note(f"{'replaced' if replaced else 'saved'} baseline {name!r}: {len(rows)} statements from {description}")


@baseline_app.command("check")
@handle_errors
@connection_options
def check(
    name: Annotated[str, typer.Argument(help="Baseline to compare with.", show_default=False)],
    threshold: Annotated[str, typer.Option("--threshold", help="Slower by more than this fails (10 = 10%; 0.5 = 0.5%).")] = "10%",
    min_delta: Annotated[str, typer.Option("--min-delta", help="…and by at least this much time, so sub-millisecond noise does not fail CI.")] = "0ms",
    since: SinceOption = None,
    between: BetweenOption = None,
    workload: WorkloadOption = None,
    runs: RunsOption = 20,
    target: TargetOption = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: FormatOption = OutputFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Compare now with baseline NAME; exit 1 listing every statement slower beyond --threshold.

    A workload baseline is checked by running the workload again (--workload, --db); a window
    baseline against a window of the history (--since, default 1h, or --between).

    \b
    Examples:
      qprof baseline check main --workload queries/shop.sql --db $STAGING --threshold 10%
      qprof baseline check last-week --since 24h --threshold 20%
    """
    from qprof.history.baselines import compare
    from qprof.history.store import Store

    fraction = parse_percent(threshold)
    floor_ms = parse_duration(min_delta, default_unit="ms") * 1000.0
    with Store(store_location(store)) as history:
        head, base_rows = history.load_baseline(name)
        if head["source"] == "bench" and workload is None:
            raise BadInput(
                f"baseline {name!r} holds workload timings ({head['description']})",
                hint="check it by running the workload again: --workload FILE --db DATABASE",
            )
        if head["source"] == "window" and workload is not None:
            raise BadInput(f"baseline {name!r} was saved from a window of the history; check it with --since or --between")
        rows, _source, _target_id, description = _current(history, workload, runs, since, between, target, db, profile, statement_timeout, quiet)
    compared = compare(base_rows, rows, fraction, floor_ms)
    slower = [row for row in compared if row["status"] == "slower"]
    document = {
        "baseline": name,
        "baseline_description": head["description"],
        "current": description,
        "threshold_pct": 100.0 * fraction,
        "min_delta_ms": floor_ms,
        "slower": len(slower),
        "statements": compared,
    }
    if fmt is OutputFormat.json:
        emit(render_json(document))
    else:
        emit_listing(document, "statements", CHECK_COLUMNS, fmt)
    if slower:
        if not quiet:
            warn(f"{len(slower)} statement(s) slower than baseline {name!r} by more than {100 * fraction:g}%: " + ", ".join(_crossing(r) for r in slower))
        raise typer.Exit(EXIT_FINDINGS)
    if not quiet and fmt is not OutputFormat.json:
        note(f"no statement slower than baseline {name!r} by more than {100 * fraction:g}%")


LIST_COLUMNS = [
    Column("name", "baseline", align="left"),
    Column("source", "source", align="left"),
    Column("statements", "statements", num),
    Column("created_at", "saved (UTC)", lambda v: str(v)[:19], "left"),
    Column("description", "from", text, "left"),
]


@baseline_app.command("list")
@handle_errors
def list_baselines(store: StoreOption = None, fmt: FormatOption = OutputFormat.table, debug: DebugOption = False) -> None:
    """List the saved baselines."""
    from qprof.history.store import Store

    with Store(store_location(store)) as history:
        rows = history.baselines()
        description = history.description
    emit_listing({"store": description, "baselines": rows}, "baselines", LIST_COLUMNS, fmt)


def register(app: typer.Typer) -> None:
    app.add_typer(baseline_app, name="baseline")


def _crossing(row: dict) -> str:
    """A slower statement with the measure that crossed the gate (the mean, else the p95)."""
    measure = row.get("slower_by", "mean")
    before, after, change = row[f"baseline_{measure}_ms"], row[f"{measure}_ms"], row[f"{measure}_change_pct"]
    return f"{row['key']} {measure} {before:.2f} → {after:.2f} ms ({change:+.0f}%)"
