"""``qprof.report``: what happened in a window of the history (load, top statements, regressions, …)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qprof.api.base import Result
from qprof.errors import BadInput


@dataclass
class ReportResult(Result):
    """What :func:`report` returns; ``to_dict()`` is ``qprof report --format json``.

    ``data`` is the report document (secrets redacted); ``series`` the time series its charts
    are drawn from (:meth:`charts` renders them as PNGs).
    """

    data: dict[str, Any]
    series: dict[str, Any]
    target: str  # the database's name in the store
    target_id: int
    start: datetime
    end: datetime
    store: str | None = None  # as given: where advance() records the window
    warnings: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return self.data

    @property
    def regressions(self) -> list[dict[str, Any]]:
        return list(self.data.get("regressions") or [])

    def charts(self) -> dict[str, Any]:
        """``{key: (title, png bytes)}``: matplotlib charts of the window."""
        from qprof.reports.charts import render_charts

        return render_charts(self.series)

    def advance(self) -> None:
        """Record that this window was reported: the next report without since/between starts here."""
        from qprof.history.store import Store

        with Store(_store(self.store)) as history:
            history.record_report(self.target_id, self.start, self.end)


def _store(store: str | None) -> str:
    from qprof.config import load_config
    from qprof.history.location import resolve_store

    return resolve_store(store, load_config())


def advisor_findings(db: str | None, profile: str | None, statement_timeout: str, warnings: list[str]) -> tuple[list[dict[str, Any]] | None, str]:
    """The database rules' findings on the live database, when ``db`` is given and the advisors
    are installed (they are a separate part of qprof; a missing one only leaves a note)."""
    if not (db or profile):
        return None, "give --db to include the advisors' findings on the live database"
    try:
        from qprof.advisors.context import collect_database
        from qprof.advisors.runner import run_database_rules, sort_findings
        from qprof.advisors.config import load_rules_config
    except ImportError:
        return None, "the advisors are not available in this qprof installation"
    from qprof.api.session import session
    from qprof.config import load_config

    config = load_config()
    with session(db, profile=profile, statement_timeout=statement_timeout, config=config) as target:
        run = run_database_rules(collect_database(target), load_rules_config(config.settings))
    warnings += run.errors
    rows = [{"code": f.code, "severity": f.severity, "title": f.message or f.title, "subject": f.target} for f in sort_findings(run.findings)]
    return rows, "no findings"


def report(
    db: str | None = None,
    *,
    since: str | None = None,
    between: tuple[str, str] | None = None,
    run: str | None = None,
    regression: str = "20%",
    min_calls: int = 10,
    limit: int = 10,
    baseline: str | None = None,
    target: str | None = None,
    store: str | None = None,
    profile: str | None = None,
    statement_timeout: str = "30s",
    advance: bool = True,
) -> ReportResult:
    """Report on a window of the history store.

    The window: ``since`` (e.g. ``"24h"``), ``between`` two snapshots (ids or times), ``run`` (a
    ``qprof record`` run's name), else from where the previous report ended (else 24 h).
    ``target`` names the database in the store (else the one ``db`` is, else the only one); with
    ``db`` the live database's rule findings are included. ``regression``: mean time up by at
    least this much (with ``min_calls`` in both windows) counts. ``baseline``: compare with a saved
    baseline instead of the previous window. ``advance=False`` leaves the "previous report" mark
    where it was (call :meth:`ReportResult.advance` once the report reached its reader).
    """
    from qprof import redact
    from qprof.history.cli import history_target
    from qprof.history.store import Store
    from qprof.history.window import select_window, window_by_time
    from qprof.reports.build import ReportOptions, build_report
    from qprof.units import parse_percent

    from qprof.arguments import at_least

    at_least("--min-calls", min_calls, 1)
    at_least("--limit", limit, 1)
    fraction = parse_percent(regression)
    if fraction <= 0:
        raise BadInput("--regression must be above 0%")
    warnings: list[str] = []
    with Store(_store(store)) as history:
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
        if window.shorter_than_requested:
            warnings.append(f"history of {chosen.name} starts at {window.start:%Y-%m-%d %H:%M} UTC, later than the window asked for")
        if run is not None and baseline is None:  # the run's own report: its stored percentiles and SLOs
            from qprof.record.report import stored_run_report

            data, series = stored_run_report(history, history.find_run(run), window, limit)
        else:
            findings, findings_note = advisor_findings(db, profile, statement_timeout, warnings)
            options = ReportOptions(regression=fraction, min_calls=min_calls, limit=limit, baseline=baseline, findings=findings, findings_note=findings_note)
            built = build_report(history, window, options)
            data, series = built.document, built.series
        result = ReportResult(
            data=redact.document(data),  # a store written by an older qprof may hold secrets
            series=series,
            target=chosen.name,
            target_id=chosen.id,
            start=window.start,
            end=window.end,
            store=store,
            warnings=warnings,
        )
        if advance:
            history.record_report(chosen.id, window.start, window.end)
    return result
