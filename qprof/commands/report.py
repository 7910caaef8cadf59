"""``qprof report``: what happened in a window of the history, as Markdown, HTML or JSON (for cron)."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from qprof import redact
from qprof.cli.options import DbOption, DebugOption, ProfileOption, StatementTimeoutOption, connection_options, emit_metrics, handle_errors
from qprof.errors import EXIT_FINDINGS, BadInput
from qprof.history.cli import BetweenOption, QuietOption, SinceOption, StoreOption, TargetOption, history_target, store_location
from qprof.output import emit, note, render_json, warn
from qprof.units import parse_percent


class ReportFormat(str, Enum):
    markdown = "markdown"
    html = "html"
    json = "json"
    prometheus = "prometheus"


def advisor_findings(db: str | None, profile: str | None, statement_timeout: str) -> tuple[list[dict[str, Any]] | None, str]:
    """The database rules' findings on the live database, when --db is given and the advisors
    are installed (they are a separate part of qprof; a missing one only leaves a note)."""
    if not (db or profile):
        return None, "give --db to include the advisors' findings on the live database"
    try:
        from qprof.advisors.context import collect_database
        from qprof.advisors.runner import run_database_rules, sort_findings
        from qprof.rules_config import load_rules_config
    except ImportError:
        return None, "the advisors are not available in this qprof installation"
    from qprof.cli.options import connect
    from qprof.config import load_config

    config = load_config()
    with connect(db, profile, statement_timeout, config) as target:
        run = run_database_rules(collect_database(target), load_rules_config(config.settings))
    for error in run.errors:
        warn(error)
    rows = [
        {"code": f.code, "severity": f.severity, "title": f.message or f.title, "subject": f.target}
        for f in sort_findings(run.findings)
    ]
    return rows, "no findings"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "db"


def write_report_files(
    out: Path, stem: str, doc: dict[str, Any], charts: dict[str, Any], generated: str, *, with_json: bool
) -> list[Path]:
    """Write ``<stem>.html``, ``.md`` (with its chart PNGs) and optionally ``.json`` into ``out``.

    A folder that cannot be made or written to is a usage error naming the file, not a crash.
    """
    from qprof.reports.render import html_page, markdown

    path = out
    if out.exists() and not out.is_dir():
        raise BadInput(f"cannot write the report to {out}: it is a file, not a folder", hint="give --out a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        images = {}
        for key, (_title, png) in charts.items():
            path = out / f"{stem}-{key}.png"
            path.write_bytes(png)
            images[key] = path.name
        written = [out / f"{stem}.html", out / f"{stem}.md"]
        path = written[0]
        path.write_text(html_page(doc, charts, generated), encoding="utf-8")
        path = written[1]
        path.write_text(markdown(doc, images), encoding="utf-8")
        if with_json:
            path = out / f"{stem}.json"
            written.append(path)
            path.write_text(render_json(doc), encoding="utf-8")
    except OSError as exc:
        raise BadInput(
            f"cannot write the report to {path}: {exc.strerror or exc}",
            hint="give --out a folder you can write to",
        ) from None
    return written


@connection_options
def report(
    since: SinceOption = None,
    between: BetweenOption = None,
    run: Annotated[str | None, typer.Option("--run", help="Window: the one a qprof record run covered (its --name).")] = None,
    regression: Annotated[str, typer.Option("--regression", help="Mean time up by at least this much counts as a regression (20 = 20%).")] = "20%",
    min_calls: Annotated[int, typer.Option("--min-calls", min=1, help="Calls needed in both windows for a regression to count.")] = 10,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows per section.")] = 10,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Compare with this saved baseline instead of the previous window.")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="markdown, html (self-contained, charts embedded), json or "
                                                                "prometheus (the top statements by total time as OpenMetrics text).")] = ReportFormat.markdown,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write qprof-report-<db>-<YYYYmmdd-HHMM>.html and .md (with chart PNGs) "
                                                                 "into this folder.")] = None,
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
    from qprof.history.store import Store, utcnow
    from qprof.history.window import select_window, window_by_time
    from qprof.reports.build import ReportOptions, build_report
    from qprof.reports.charts import render_charts
    from qprof.reports.render import html_page, markdown

    fraction = parse_percent(regression)
    if fraction <= 0:
        raise BadInput("--regression must be above 0%")
    if fmt is ReportFormat.prometheus and out is not None:
        raise BadInput("--format prometheus prints to stdout", hint="redirect it: qprof report … > qprof.prom.tmp && mv qprof.prom.tmp DIR/qprof.prom")
    with Store(store_location(store)) as history:
        chosen = None if run is not None else history_target(history, target, db, profile, statement_timeout)
        window = None
        if run is not None:
            from qprof.record.runs import run_window

            if since is not None or between is not None:
                raise BadInput("use one of --since, --between or --run")
            window = run_window(history, run)[1]
        elif since is None and between is None:
            previous_end = history.last_report_end(chosen.id)
            if previous_end is not None:
                window = window_by_time(history, chosen, previous_end)
        if window is None:
            window = select_window(history, chosen, since=since, between=between)
        chosen = window.target
        if window.shorter_than_requested and not quiet:
            warn(f"history of {chosen.name} starts at {window.start:%Y-%m-%d %H:%M} UTC, later than the window asked for")
        if run is not None and baseline is None:  # the run's own report: its stored percentiles and SLOs
            from types import SimpleNamespace

            from qprof.record.report import stored_run_report

            stored_doc, stored_series = stored_run_report(history, history.find_run(run), window, limit)
            result = SimpleNamespace(document=stored_doc, series=stored_series)
        else:
            findings, findings_note = advisor_findings(db, profile, statement_timeout)
            options = ReportOptions(
                regression=fraction, min_calls=min_calls, limit=limit, baseline=baseline, findings=findings,
                findings_note=findings_note
            )
            result = build_report(history, window, options)
        doc = redact.document(result.document)  # a store written by an older qprof may hold secrets
        charts = {} if no_charts or fmt in (ReportFormat.json, ReportFormat.prometheus) and out is None else render_charts(result.series)
        generated = utcnow().strftime("%Y-%m-%d %H:%M")
        if out is not None:
            stem = f"qprof-report-{_slug(chosen.name)}-{window.end:%Y%m%d-%H%M}"
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
        history.record_report(chosen.id, window.start, window.end)
    if out is not None and not quiet:
        for path in written:
            note(f"wrote {path}")
    if fail_on_regression and doc["regressions"]:
        if not quiet:
            warn(f"{len(doc['regressions'])} regression(s) at or above {100 * fraction:g}%")
        raise typer.Exit(EXIT_FINDINGS)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(report))
