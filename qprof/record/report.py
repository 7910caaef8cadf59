"""The report of a recorded window: the history report's sections plus measured percentiles,
SLO verdicts, N+1 loops from the window's log and plan findings on its top statements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qprof.errors import QprofError
from qprof.output import warn

if TYPE_CHECKING:
    import pandas as pd

    from qprof.history.store import Store
    from qprof.history.window import Window
    from qprof.record.percentiles import Measured

PERCENTILE_KEYS = ("p50_ms", "p95_ms", "p99_ms")


def workload_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The window's statements the application ran (no DDL, utility, qprof or catalog reads)."""
    from qprof.reports.classify import statement_class

    if table.empty:
        return table
    return table[table["query"].map(lambda q: statement_class(str(q)) == "workload")].reset_index(drop=True)


def _with_percentiles(row: dict[str, Any], measured: Measured) -> dict[str, Any]:
    found = measured.statements.get((row["queryid"], row.get("user", row.get("user_name", ""))), {})
    for key in PERCENTILE_KEYS:
        row[key] = found.get(key)  # numeric or null; null with below_ms: every unmeasured one took < below_ms
    if found.get("below_ms"):
        row["below_ms"] = found["below_ms"]
    if found.get("ambiguous"):
        row["ambiguous"] = True  # its text is another entry's too: the log cannot tell them apart
    row["max_ms"] = found.get("max_ms")  # the window's measured maximum; pg_stat_statements' is since reset
    row["samples"] = int(found.get("samples", 0))
    return row


def build_run_report(
    store: Store,
    window: Window,
    work: pd.DataFrame,
    measured: Measured,
    limit: int,
    findings: list[dict[str, Any]] | None,
    findings_note: str | None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(document, chart series, every workload statement's row for the SLO check)."""
    from qprof.reports.build import ReportOptions, build_report

    options = ReportOptions(limit=limit, findings=findings, findings_note=findings_note, compare_previous=False)
    report = build_report(store, window, options)
    doc = report.document
    for key in ("top_by_total", "top_by_mean", "new_statements"):
        doc[key] = [_with_percentiles(row, measured) for row in doc[key]]
    rows = []
    total = float(work["total_ms"].sum()) if not work.empty else 0.0
    for r in work.itertuples(index=False):
        rows.append(
            _with_percentiles(
                {
                    "queryid": str(r.queryid),
                    "user": str(r.user_name),
                    "database": window.target.database,
                    "query": str(r.query),
                    "calls": int(r.calls),
                    "total_ms": float(r.total_ms),
                    "mean_ms": float(r.mean_ms),
                    "pct_total_time": 100.0 * float(r.total_ms) / total if total else 0.0,
                },
                measured,
            )
        )
    calls = int(work["calls"].sum()) if not work.empty else 0
    doc["window_totals"] = {
        "seconds": window.seconds,
        "calls": calls,
        "db_time_ms": total,
        "mean_ms": total / calls if calls else None,
        **{k: measured.window.get(k) for k in (*PERCENTILE_KEYS, "max_ms", "below_ms")},
    }
    doc["percentiles"] = {
        "source": measured.source,
        "definition": "nearest rank (a measured duration)",
        "threshold_ms": measured.threshold_ms,
        "window": measured.window,
        "logged_statements": measured.logged,
        "unmatched_statements": measured.unmatched,
        "ambiguous_statements": measured.ambiguous,
        "notes": measured.notes,
        "how_to_enable": getattr(measured, "how_to_enable", None),
    }
    doc["nplusone"] = measured.nplusone
    doc["statements"] = rows
    return doc, report.series, rows


def stored_run_report(store: Store, run: dict[str, Any], window: Window, limit: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``report --run NAME``: the run's window with what was measured and judged when it was
    recorded (its stored percentiles and SLO table), never compared with another window."""
    from qprof.history.window import statement_table
    from qprof.record.percentiles import Measured

    kept = run.get("notes")
    kept = kept if isinstance(kept, dict) else {"notes": list(kept or [])}  # runs stored before the SLO table was
    measured = Measured(source=run.get("percentile_source"), threshold_ms=kept.get("threshold_ms"), window=dict(kept.get("window") or {}))
    for row in run["statements"]:
        measured.statements[(str(row["queryid"]), str(row["user_name"]))] = {
            "samples": row["samples"],
            "max_ms": row["max_ms"],
            **{k: row[k] for k in PERCENTILE_KEYS},
        }
    work = workload_rows(statement_table(store, window))
    doc, series, _rows = build_run_report(store, window, work, measured, limit, None, "advisors are run by qprof record, not stored")
    doc["percentiles"]["notes"] = []
    doc["nplusone"] = []
    doc["run"] = {
        "name": run["name"],
        "status": run["status"],
        "command": run.get("command"),
        "exit_code": run.get("exit_code"),
        "seconds": window.seconds,
        "start_snapshot": run["start_snapshot_id"],
        "end_snapshot": run["end_snapshot_id"],
        "notes": [*kept.get("notes", []), "N+1 loops are not stored with a run: see the report qprof record wrote"],
    }
    doc["slo"] = list(kept.get("slo") or [])
    if kept.get("slo_summary"):
        doc["slo_summary"] = kept["slo_summary"]
    return doc, series


def plan_findings(
    db: str | None, profile: str | None, statement_timeout: str, work: pd.DataFrame, *, limit: int = 5
) -> tuple[list[dict[str, Any]] | None, str]:
    """Plan rules on the window's top statements by total time: plain EXPLAIN (nothing runs)."""
    if work.empty:
        return None, "no statement ran in this window"
    try:
        from qprof.explainer import ExplainItem, explain_item
        from qprof.advisors.config import load_rules_config
    except ImportError:
        return None, "the advisors are not available in this qprof installation"
    from qprof.targets.session import session
    from qprof.config import load_config

    config = load_config()
    rules = load_rules_config(config.settings)
    rows, skipped = [], 0
    top = work.sort_values("total_ms", ascending=False).head(limit)
    with session(db, profile=profile, statement_timeout=statement_timeout, config=config) as target:
        from qprof.collectors.pg_catalog import collect_tables

        sizes = {t.name: t.n_live_tup for t in collect_tables(target)}  # as qprof check gives the rules
        for r in top.itertuples(index=False):
            item = ExplainItem(str(r.queryid), str(r.query), None, "window")
            try:
                done = explain_item(target, item, analyze=False, rules_config=rules, table_rows=sizes.get)
            except QprofError as exc:
                skipped += 1
                warn(f"advisors: statement {r.queryid} skipped: {exc.message}")
                continue
            for f in done.findings:
                rows.append(
                    {"code": f.code, "severity": f.severity, "title": f.message or f.title, "subject": f"{r.queryid}" + (f" ({f.target})" if f.target else "")}
                )
    note = f"no findings on the top {len(top)} statement(s)" + (f" ({skipped} skipped)" if skipped else "")
    return rows or None, note
