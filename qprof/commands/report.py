"""``qprof report``: what happened in a window of the history, as Markdown, HTML or JSON (for cron)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from qprof.cli.options import DbOption, DebugOption, ProfileOption, StatementTimeoutOption, connection_options, emit_metrics, handle_errors
from qprof.errors import EXIT_FINDINGS
from qprof.history.cli import BetweenOption, QuietOption, SinceOption, StoreOption, TargetOption
from qprof.output import emit, note, render_json, warn
from qprof.units import parse_percent


class ReportFormat(str, Enum):
    markdown = "markdown"
    html = "html"
    json = "json"
    prometheus = "prometheus"


@connection_options
def report(
    since: SinceOption = None,
    between: BetweenOption = None,
    run: Annotated[str | None, typer.Option("--run", help="Window: the one a qprof record run covered (its --name).")] = None,
    regression: Annotated[str, typer.Option("--regression", help="Mean time up by at least this much counts as a regression (20 = 20%).")] = "20%",
    min_calls: Annotated[int, typer.Option("--min-calls", min=1, help="Calls needed in both windows for a regression to count.")] = 10,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows per section.")] = 10,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Compare with this saved baseline instead of the previous window.")] = None,
    fmt: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            "-f",
            help="markdown, html (self-contained, charts embedded), json or prometheus (the top statements by total time as OpenMetrics text).",
        ),
    ] = ReportFormat.markdown,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write qprof-report-<db>-<YYYYmmdd-HHMM>.html and .md (with chart PNGs) into this folder.")
    ] = None,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression", help="Exit 1 when the report lists a regression.")] = False,
    no_charts: Annotated[bool, typer.Option("--no-charts", help="Skip the matplotlib charts (faster).")] = False,
    target: TargetOption = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
    db: DbOption = None,
    profile: ProfileOption = None,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Report on a window of the history: load, top statements with trends, regressions, new
    statements, sequential-scan growth, index usage, dead tuples and the advisors' findings.

    Without --since/--between the window starts where the previous report ended (else 24h).

    \b
    Examples:
      qprof report --since 24h --format html --out reports/
      qprof report --since 7d --regression 30% --fail-on-regression
      qprof report --between 120 150 --format json | jq .regressions
    """
    from qprof.api.report import report as build
    from qprof.errors import BadInput
    from qprof.history.store import utcnow
    from qprof.reports.files import slug, write_report_files
    from qprof.reports.render import html_page, markdown

    if fmt is ReportFormat.prometheus and out is not None:
        raise BadInput("--format prometheus prints to stdout", hint="redirect it: qprof report … > qprof.prom.tmp && mv qprof.prom.tmp DIR/qprof.prom")
    result = build(
        db,
        since=since,
        between=between,
        run=run,
        regression=regression,
        min_calls=min_calls,
        limit=limit,
        baseline=baseline,
        target=target,
        store=store,
        profile=profile,
        statement_timeout=statement_timeout,
        advance=False,
    )
    for line in result.warnings:
        if not quiet or not line.startswith("history of "):
            warn(line)
    doc = result.to_dict()
    charts = {} if no_charts or fmt in (ReportFormat.json, ReportFormat.prometheus) and out is None else result.charts()
    generated = utcnow().strftime("%Y-%m-%d %H:%M")
    if out is not None:
        stem = f"qprof-report-{slug(result.target)}-{result.end:%Y%m%d-%H%M}"
        written = write_report_files(out, stem, doc, charts, generated, with_json=fmt is ReportFormat.json)
    elif fmt is ReportFormat.json:
        emit(render_json(doc))
    elif fmt is ReportFormat.prometheus:
        emit_metrics(doc["top_by_total"], "report")
    elif fmt is ReportFormat.html:
        emit(html_page(doc, charts, generated))
    else:
        emit(markdown(doc))
    # only a report that reached its reader moves the "since the previous report" window on:
    # a failed write leaves the window for the next run to cover
    result.advance()
    if out is not None and not quiet:
        for path in written:
            note(f"wrote {path}")
    if fail_on_regression and result.regressions:
        if not quiet:
            warn(f"{len(result.regressions)} regression(s) at or above {100 * parse_percent(regression):g}%")
        raise typer.Exit(EXIT_FINDINGS)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(report))
