"""``qprof record``: the database side of a load test, one command.

Snapshots statistics, runs the load-test command (or waits ``--duration``), snapshots again
and reports exactly that window — per-statement calls, mean and measured P50/P95/P99, tables
scanned, indexes used, N+1 loops — with SLO gates CI can fail on.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from qprof.cli.options import (
    DbOption,
    DebugOption,
    FormatOption,
    ProfileOption,
    StatementTimeoutOption,
    connection_options,
    emit_metrics,
    handle_errors,
)
from qprof.history.cli import QuietOption, StoreOption, store_location
from qprof.output import (
    Column,
    OutputFormat,
    emit,
    emit_listing,
    note,
    num,
    render_json,
    text,
    warn,
)


class RecordFormat(str, Enum):
    markdown = "markdown"
    html = "html"
    json = "json"
    prometheus = "prometheus"


class SloUnmeasured(str, Enum):
    fail = "fail"
    ok = "ok"


SloOption = Annotated[
    list[str] | None,
    typer.Option(
        "--slo",
        help="Gate, repeatable: \\[window:|statement:](p50|p95|p99|mean|max|calls_per_s|total)(<|<=|>|>=)N[ms|s|/s], "
        "e.g. 'p95<100ms' (every statement), 'window:p99<1s', 'calls_per_s>50'. A broken one exits 1. "
        "Also slo = [...] under \\[record] in qprof.toml.",
        show_default=False,
    ),
]


@connection_options
def record(
    command: Annotated[list[str] | None, typer.Argument(help="The load-test command, after --: locust …, k6 run …, pgbench ….", show_default=False)] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="No command: record a window of this long while the load runs elsewhere (e.g. 10m).")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Store the run under this name (for compare, report --run, baseline save --from-run). Default: run-<time>-<pid>."),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option(
            "--log", help="The server's log file, for measured percentiles (needs log_min_duration_statement = 0). Default: pg_current_logfile() when readable."
        ),
    ] = None,
    log_prefix: Annotated[str | None, typer.Option("--log-prefix", help="The server's log_line_prefix, when qprof cannot detect it.")] = None,
    slo: SloOption = None,
    slo_unmeasured: Annotated[
        SloUnmeasured,
        typer.Option(
            "--slo-unmeasured",
            help="An SLO that cannot be checked (no log, nothing measured, statistics reset): 'fail' the gate (exit 1, the default) or let it pass ('ok').",
        ),
    ] = SloUnmeasured.fail,
    fmt: Annotated[
        RecordFormat,
        typer.Option("--format", "-f", help="Report on stdout as markdown, html (self-contained), json or prometheus (the window's statements, OpenMetrics)."),
    ] = RecordFormat.markdown,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write qprof-record-<name>.html, .md (with chart PNGs) and .json into this folder instead.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows per section.")] = 10,
    no_advisors: Annotated[bool, typer.Option("--no-advisors", help="Skip the plan advisors on the window's top statements.")] = False,
    no_charts: Annotated[bool, typer.Option("--no-charts", help="Skip the matplotlib charts.")] = False,
    store: StoreOption = None,
    quiet: QuietOption = False,
    db: DbOption = None,
    profile: ProfileOption = None,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Record the database side of a load test: snapshot, run COMMAND, snapshot, report the window.

    The command's output passes through (to stderr with --format json or prometheus, so stdout stays clean);
    Ctrl-C reaches it and the window is still closed and stored. Exit code: the command's own
    when it failed, else 1 when an SLO broke, else 0.

    \b
    Examples:
      qprof record -d $DB --log /var/log/postgresql/postgresql-16-main.log --slo 'p95<100ms' -- \\
          locust -f locustfile.py --headless -u 200 -r 20 -t 5m --host https://staging
      qprof record -d $DB --name before-index -- pgbench -n -T 60 -c 8 -f checkout.sql shop
      qprof record -d $DB --duration 10m --out reports/      # k6 runs on another machine
    """
    from qprof.api.record import record as run_record
    from qprof.errors import BadInput

    if fmt is RecordFormat.prometheus and out is not None:
        raise BadInput("--format prometheus prints to stdout", hint="drop --out, or write the report files and the metrics in two runs")

    result = run_record(
        db,
        command=command,
        duration=duration,
        name=name,
        log=str(log) if log else None,
        log_prefix=log_prefix,
        slos=slo or [],
        slo_unmeasured_ok=slo_unmeasured is SloUnmeasured.ok,
        limit=limit,
        advisors=not no_advisors,
        store=store,
        profile=profile,
        statement_timeout=statement_timeout,
        quiet=quiet,
        command_stdout_to_stderr=fmt in (RecordFormat.json, RecordFormat.prometheus) and out is None,
    )
    if fmt is RecordFormat.prometheus:
        emit_metrics(result.to_dict()["statements"], "record")
    else:
        deliver(result.to_dict(), result.series, fmt.value, out, no_charts=no_charts, quiet=quiet)
    report_outcome(result.to_dict(), result.exit_code, quiet=quiet)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def deliver(doc: dict, series: dict, fmt: str, out: Path | None, *, no_charts: bool, quiet: bool) -> list[Path]:
    """Print the run's report, or write it into ``out`` (html, md with PNGs, json)."""
    from qprof.reports.files import slug, write_report_files
    from qprof.history.store import utcnow
    from qprof.reports.render import html_page, markdown

    charts = {}
    if not no_charts and (out is not None or fmt == "html"):
        from qprof.reports.charts import render_charts

        charts = render_charts(series)
    generated = utcnow().strftime("%Y-%m-%d %H:%M")
    if out is not None:
        written = write_report_files(out, f"qprof-record-{slug(doc['run']['name'])}", doc, charts, generated, with_json=True)
        if not quiet:
            for path in written:
                note(f"wrote {path}")
        return written
    if fmt == "json":
        emit(render_json(doc))
    elif fmt == "html":
        emit(html_page(doc, charts, generated))
    else:
        emit(markdown(doc))
    return []


def report_outcome(doc: dict, exit_code: int, *, quiet: bool) -> None:
    """One line per broken SLO (with its worst statements) and the command's failure, on stderr."""
    run = doc["run"]
    if run.get("command") and run.get("exit_code"):
        warn(f"the command exited with code {run['exit_code']}; run {run['name']!r} is stored all the same")
    for verdict in doc.get("slo_verdicts", []):
        if verdict["broken"]:
            worst = "; ".join(f"{_figure(b)} {b['statement'][:60]!r}" for b in verdict["broken"][:3])
            more = f" (+{len(verdict['broken']) - 3} more)" if len(verdict["broken"]) > 3 else ""
            warn(f"SLO broken: {verdict['slo']} — {len(verdict['broken'])} statement(s): {worst}{more}")
        elif not verdict["checked"] and doc.get("slo_unmeasured") != "ok":  # it fails the gate: said even with -q
            enable = "" if doc["percentiles"]["source"] else " (give --log FILE with log_min_duration_statement = 0)"
            warn(f"SLO not checked, gate failed: {verdict['slo']} — {verdict['unchecked_reason']}{enable}; --slo-unmeasured ok lets it pass")
        elif not verdict["checked"] and not quiet:
            warn(f"SLO not checked: {verdict['slo']} — {verdict['unchecked_reason']}")
    if not quiet and not doc["percentiles"]["source"]:
        warn("no percentiles: " + (doc["percentiles"].get("how_to_enable") or "no log"))


def _figure(broken: dict) -> str:
    if broken["value"] is None:
        return f"< {broken['below_ms']:g}"
    return f"{broken['value']:,.2f}"


runs_app = typer.Typer(help="List the runs qprof record stored (names for compare, report --run).", no_args_is_help=True)

RUN_COLUMNS = [
    Column("name", "run", align="left"),
    Column("status", "status", align="left"),
    Column("started_at", "started (UTC)", text, "left"),
    Column("seconds", "seconds", num),
    Column("exit_code", "exit", text),
    Column("snapshots", "snapshots", text, "left"),
    Column("percentiles", "percentiles", text, "left"),
    Column("command", "command", lambda c: (c or "")[:60], "left"),
]


@runs_app.command("list")
@handle_errors
def list_runs(
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
    debug: DebugOption = False,
) -> None:
    """List recorded runs, oldest first; a run still 'running' whose qprof was killed never closed."""
    from qprof.history.store import Store

    with Store(store_location(store)) as history:
        history.require_existing()
        rows = []
        for run in history.runs():
            ended = run["ended_at"]
            rows.append(
                {
                    "name": run["name"],
                    "status": run["status"],
                    "started_at": run["started_at"].isoformat(timespec="seconds") + "Z",
                    "seconds": (ended - run["started_at"]).total_seconds() if ended else None,
                    "exit_code": run["exit_code"],
                    "snapshots": f"{run['start_snapshot_id']}–{run['end_snapshot_id'] or '…'}",
                    "percentiles": run["percentile_source"] or "—",
                    "command": " ".join(run["command"]) if run["command"] else None,
                }
            )
        description = history.description
    emit_listing({"store": description, "runs": rows}, "runs", RUN_COLUMNS, fmt)


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_interspersed_args": False})(handle_errors(record))
    app.add_typer(runs_app, name="runs")
