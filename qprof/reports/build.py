"""The report document: what happened in a window, compared with the window before it.

Everything here is data-frame work on the store's rows; the result is plain dicts and lists with
stable keys (the ``--format json`` shape), which the Markdown and HTML renderers only lay out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from qprof.history.deltas import (
    INDEX_COUNTERS,
    TABLE_COUNTERS,
    counter_deltas,
    reset_snapshots,
    window_change,
)
from qprof.history.store import Store
from qprof.history.window import Window, load_intervals, statement_table, window_by_time


@dataclass
class ReportOptions:
    regression: float = 0.20  # mean time up by at least this fraction
    min_calls: int = 10  # in both windows, for a regression to count
    limit: int = 10
    chart_statements: int = 6
    baseline: str | None = None
    findings: list[dict[str, Any]] | None = None
    findings_note: str | None = None
    compare_previous: bool = True  # a recorded run stands alone: no "previous window"


@dataclass
class Report:
    document: dict[str, Any]
    series: dict[str, Any] = field(default_factory=dict)  # chart data, not part of the JSON


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def _trend(intervals: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Mean time in the second half of the window versus the first half, per statement."""
    if intervals.empty:
        return pd.DataFrame(columns=["statement_id", "trend_pct"])
    middle = window.snapshots["taken_at"].iloc[0] + (window.snapshots["taken_at"].iloc[-1] - window.snapshots["taken_at"].iloc[0]) / 2
    halves = intervals.assign(late=intervals["taken_at"] > middle)
    sums = halves.groupby(["statement_id", "late"])[["total_ms", "calls"]].sum()
    means = (sums["total_ms"] / sums["calls"].where(sums["calls"] > 0)).unstack("late")
    if True not in means or False not in means:
        return pd.DataFrame(columns=["statement_id", "trend_pct"])
    trend = (100.0 * (means[True] - means[False]) / means[False]).rename("trend_pct")
    return trend.reset_index()


def _statement_rows(table: pd.DataFrame, total_time: float, database: str) -> list[dict[str, Any]]:
    rows = []
    for row in table.itertuples(index=False):
        rows.append(
            {
                "queryid": str(row.queryid),
                "user": str(row.user_name),
                "database": database,  # as top's rows: the same statement is the same Prometheus series
                "query": str(row.query),
                "calls": int(row.calls),
                "total_ms": float(row.total_ms),
                "mean_ms": float(row.mean_ms),
                "stddev_ms": float(row.stddev_ms),
                "rows": int(row.rows),
                "rows_per_call": float(row.rows) / float(row.calls) if row.calls else None,
                "temp_blks": int(row.temp_blks or 0) if not pd.isna(row.temp_blks) else 0,
                "pct_total_time": 100.0 * float(row.total_ms) / total_time if total_time else 0.0,
                "trend_pct": _float(getattr(row, "trend_pct", None)),
                "new": bool(row.new),
            }
        )
    return rows


def _mean_changes(
    current: pd.DataFrame, before: pd.DataFrame, options: ReportOptions, key: str = "queryid"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Statements whose mean rose (regressions) or fell (improvements) by ``regression`` or more,
    with enough calls on both sides; a fall of f is the same as a rise of f/(1-f) the other way."""
    if current.empty or before.empty:
        return [], []
    left = current[[key, "user_name", "query", "calls", "mean_ms", "total_ms"]]
    right = before[[key, "user_name", "calls", "mean_ms"]].rename(columns={"calls": "before_calls", "mean_ms": "before_mean_ms"})
    both = left.merge(right, on=[key, "user_name"], how="inner")
    both = both[(both["calls"] >= options.min_calls) & (both["before_calls"] >= options.min_calls) & (both["before_mean_ms"] > 0)]
    both = both.assign(
        change_pct=100.0 * (both["mean_ms"] - both["before_mean_ms"]) / both["before_mean_ms"],
        speedup=both["before_mean_ms"] / both["mean_ms"].where(both["mean_ms"] > 0),
    )
    worse = both[both["change_pct"] >= 100.0 * options.regression].sort_values(["change_pct", "total_ms"], ascending=False)
    better = both[both["speedup"] >= 1.0 + options.regression].sort_values(["speedup", "total_ms"], ascending=False)
    return _change_rows(worse), _change_rows(better)


def _change_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "queryid": str(r.queryid),
            "query": str(r.query),
            "calls": int(r.calls),
            "before_calls": int(r.before_calls),
            "before_mean_ms": float(r.before_mean_ms),
            "mean_ms": float(r.mean_ms),
            "change_pct": float(r.change_pct),
            "factor": _float(r.mean_ms / r.before_mean_ms) if r.before_mean_ms else None,
        }
        for r in frame.itertuples(index=False)
    ]


def _baseline_frame(store: Store, name: str) -> tuple[pd.DataFrame, str]:
    head, rows = store.load_baseline(name)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["queryid", "user_name", "calls", "mean_ms"]), head["source"]
    frame = frame.rename(columns={"key": "queryid"})
    frame["user_name"] = frame["queryid"].map(lambda _: None)
    return frame, head["source"]


def _changes(
    frame_of: Callable[[int, int, int], pd.DataFrame],
    window: Window,
    previous: Window | None,
    keys: list[str],
    counters: Sequence[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The window's rows, and the counters' change in it and in the previous window (empty if none)."""

    def rows(span: Window) -> pd.DataFrame:
        frame = frame_of(span.target.id, span.first_id, span.last_id)
        return frame[frame["snapshot_id"].isin(span.snapshots["id"])]

    def change(span: Window, frame: pd.DataFrame) -> pd.DataFrame:
        return window_change(counter_deltas(span.snapshots, frame, keys, counters, "db_stats_reset"), keys, counters)

    stats = rows(window)
    before = change(previous, rows(previous)) if previous is not None else pd.DataFrame(columns=[*keys, *counters])
    return stats, change(window, stats), before


def _tables(store: Store, window: Window, previous: Window | None, options: ReportOptions) -> dict[str, Any]:
    keys = ["schema_name", "table_name"]
    stats, now, before = _changes(store.table_stats_frame, window, previous, keys, TABLE_COUNTERS)
    if stats.empty:  # a database without tables (or none visible): nothing to say
        return {"seq_scan_growth": [], "dead_tuples": []}
    latest = stats[stats["snapshot_id"] == window.last_id]
    scale = (window.seconds / previous.seconds) if previous is not None and previous.seconds else 1.0
    merged = now.merge(before, on=keys, how="left", suffixes=("", "_before")).merge(
        latest[[*keys, "table_bytes", "n_live_tup", "n_dead_tup", "last_autovacuum", "last_vacuum"]], on=keys, how="left"
    )
    seq_rows = []
    for r in merged.itertuples(index=False):
        if not r.seq_tup_read or r.seq_tup_read <= 0:
            continue
        before_read = _float(r.seq_tup_read_before)
        expected = before_read * scale if before_read is not None else None
        growth = 100.0 * (r.seq_tup_read - expected) / expected if expected else None
        if expected is None or growth is None or growth >= 100.0 * options.regression:
            seq_rows.append(
                {
                    "table": f"{r.schema_name}.{r.table_name}",
                    "seq_scan": int(r.seq_scan),
                    "seq_tup_read": int(r.seq_tup_read),
                    "before_seq_tup_read": None if before_read is None else int(before_read),
                    "growth_pct": growth,
                    "table_bytes": None if pd.isna(r.table_bytes) else int(r.table_bytes),
                }
            )
    seq_rows.sort(key=lambda r: -r["seq_tup_read"])
    dead = latest.assign(dead_pct=100.0 * latest["n_dead_tup"] / (latest["n_dead_tup"] + latest["n_live_tup"]).where(lambda x: x > 0))
    dead = dead[dead["n_dead_tup"].fillna(0) > 0].sort_values(["n_dead_tup"], ascending=False).head(options.limit)
    dead_rows = [
        {
            "table": f"{r.schema_name}.{r.table_name}",
            "n_dead_tup": int(r.n_dead_tup),
            "n_live_tup": int(r.n_live_tup or 0),
            "dead_pct": _float(r.dead_pct),
            "last_autovacuum": r.last_autovacuum if isinstance(r.last_autovacuum, str) else None,  # NaN: never
            "last_vacuum": r.last_vacuum if isinstance(r.last_vacuum, str) else None,
        }
        for r in dead.itertuples(index=False)
    ]
    return {"seq_scan_growth": seq_rows[: options.limit], "dead_tuples": dead_rows}


def _indexes(store: Store, window: Window, previous: Window | None, options: ReportOptions) -> dict[str, Any]:
    """Unused indexes, indexes used in the window, and usage changes: new indexes (absent when
    the window began), newly used ones (never scanned before the window), and marked changes
    against the previous window."""
    keys = ["schema_name", "index_name"]
    stats, now, before = _changes(store.index_stats_frame, window, previous, keys, INDEX_COUNTERS)
    empty = {"unused_indexes": [], "used_indexes": [], "index_usage_changes": []}
    if stats.empty:  # a database without indexes (or none visible): nothing to say
        return empty
    latest = stats[stats["snapshot_id"] == window.last_id]
    first = stats[stats["snapshot_id"] == window.first_id][[*keys, "idx_scan"]].rename(columns={"idx_scan": "idx_scan_at_start"})
    now = (
        now.astype({"idx_scan": "float64"})
        if not now.empty
        else pd.DataFrame({**{k: pd.Series(dtype="object") for k in keys}, "idx_scan": pd.Series(dtype="float64")})
    )
    before = before.rename(columns={"idx_scan": "idx_scan_before"})
    if before.empty:
        before = pd.DataFrame({**{k: pd.Series(dtype="object") for k in keys}, "idx_scan_before": pd.Series(dtype="float64")})
    merged = (
        latest[[*keys, "table_name", "size_bytes", "is_unique", "is_primary", "valid", "definition"]]
        .merge(now, on=keys, how="left")
        .merge(before, on=keys, how="left")
        .merge(first, on=keys, how="left")
    )
    unused, used, changes = [], [], []
    for r in merged.itertuples(index=False):
        scans = 0 if pd.isna(r.idx_scan) else int(r.idx_scan)
        scans_before = None if pd.isna(r.idx_scan_before) else int(r.idx_scan_before)
        row = {
            "index": f"{r.schema_name}.{r.index_name}",
            "table": f"{r.schema_name}.{r.table_name}",
            "idx_scan": scans,
            "before_idx_scan": scans_before,
            "size_bytes": None if pd.isna(r.size_bytes) else int(r.size_bytes),
            "definition": r.definition,
        }
        if scans == 0 and not r.is_unique and not r.is_primary and r.valid:
            unused.append(row)
        if scans > 0:
            used.append(row)
        if pd.isna(r.idx_scan_at_start):
            changes.append({**row, "change": "new index" + (", used" if scans else ", not used yet"), "change_pct": None})
            continue
        if int(r.idx_scan_at_start) == 0 and scans > 0:
            changes.append({**row, "change": "newly used", "change_pct": None})
            continue
        if scans_before is None:
            continue
        if scans_before == 0 and scans > 0:
            changes.append({**row, "change": "now used", "change_pct": None})
        elif scans_before > 0 and scans == 0:
            changes.append({**row, "change": "no longer used", "change_pct": -100.0})
        elif scans_before > 0:
            change = 100.0 * (scans - scans_before) / scans_before
            if abs(change) >= 50.0:
                changes.append({**row, "change": "more" if change > 0 else "less", "change_pct": change})
    unused.sort(key=lambda r: -(r["size_bytes"] or 0))
    used.sort(key=lambda r: -r["idx_scan"])
    # new and newly used first (by scans in the window), then the largest relative changes
    changes.sort(key=lambda r: (r["change_pct"] is not None, -abs(r["change_pct"] or 0), -r["idx_scan"]))
    return {"unused_indexes": unused[: options.limit], "used_indexes": used[: options.limit], "index_usage_changes": changes[: options.limit]}


def chart_label(queryid: Any, query: Any, width: int = 38) -> str:
    """A statement's short label for charts: queryid tail and the start of its text (redacted
    before it is cut, so a cut cannot split a secret from the keyword that marks it)."""
    from qprof import redact

    return f"{str(queryid)[-6:]} {' '.join(redact.output(str(query)).split())[:width]}"


def _series(intervals: pd.DataFrame, table: pd.DataFrame, window: Window, options: ReportOptions) -> dict[str, Any]:
    """Chart data: DB time stacked by top statements, their mean latency, calls/s — per interval,
    and over the whole window (what the charts show as bars when there are < 3 snapshots)."""
    if intervals.empty or table.empty:
        return {}
    top = table.sort_values("total_ms", ascending=False).head(options.chart_statements)
    labels = {int(r.statement_id): chart_label(r.queryid, r.query) for r in top.itertuples(index=False)}
    per_time = intervals.groupby("taken_at").agg(calls=("calls", "sum"), total_ms=("total_ms", "sum"), interval_s=("interval_s", "first"))
    chosen = intervals[intervals["statement_id"].isin(labels)]
    total = chosen.pivot_table(index="taken_at", columns="statement_id", values="total_ms", aggfunc="sum").reindex(per_time.index).fillna(0.0)
    calls = chosen.pivot_table(index="taken_at", columns="statement_id", values="calls", aggfunc="sum").reindex(per_time.index).fillna(0.0)
    mean = total / calls.where(calls > 0)
    other = (per_time["total_ms"] - total.sum(axis=1)).clip(lower=0.0)
    order = [sid for sid in labels if sid in total.columns]
    top_by_id = top.set_index("statement_id")
    seconds = window.seconds
    return {
        "start": window.start,
        "end": window.end,
        "times": list(per_time.index.to_pydatetime()),
        "labels": [labels[sid] for sid in order],
        "db_time_s": [total[sid].to_numpy() / 1000.0 for sid in order] + [other.to_numpy() / 1000.0],
        "mean_ms": [mean[sid].to_numpy() for sid in order],
        "calls_per_s": (per_time["calls"] / per_time["interval_s"].where(per_time["interval_s"] > 0)).to_numpy(),
        "window_db_time_s": [float(top_by_id.loc[sid, "total_ms"]) / 1000.0 for sid in order]
        + [max(float(intervals["total_ms"].sum() - top["total_ms"].sum()), 0.0) / 1000.0],
        "window_mean_ms": [float(top_by_id.loc[sid, "mean_ms"]) for sid in order],
        "window_calls_per_s": float(intervals["calls"].sum()) / seconds if seconds else 0.0,
    }


def _classified(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The workload statements of ``table`` and how many of each other class were left out."""
    from qprof.reports.classify import statement_class

    if table.empty:
        return table, {}
    kinds = table["query"].map(lambda q: statement_class(str(q)))
    counts = {kind: int(n) for kind, n in kinds[kinds != "workload"].value_counts().items()}
    return table[kinds == "workload"], counts


def build_report(store: Store, window: Window, options: ReportOptions | None = None) -> Report:
    """The report document for ``window`` (regressions against the window before it, or a baseline)."""
    from qprof.reports.classify import excluded_line

    options = options or ReportOptions()
    target = window.target
    intervals = load_intervals(store, window)
    everything = statement_table(store, window, intervals)
    everything = everything.merge(_trend(intervals, window), on="statement_id", how="left")
    table, excluded = _classified(everything)
    previous = None
    if options.compare_previous:
        previous = window_by_time(store, target, window.start - (window.end - window.start), end=window.start)
        if previous is not None and previous.last_id == window.last_id:
            previous = None
    total_time = float(everything["total_ms"].sum()) if not everything.empty else 0.0
    calls = int(everything["calls"].sum()) if not everything.empty else 0
    seconds = window.seconds
    summary: dict[str, Any] = {
        "target": target.name,
        "database": target.database,
        "identity": target.identity,
        "window": window.describe(),
        "window_shorter_than_requested": window.shorter_than_requested,
        "statements": len(everything),
        "calls": calls,
        "calls_per_s": calls / seconds if seconds else 0.0,
        "db_time_ms": total_time,
        "db_time_per_s_ms": total_time / seconds if seconds else 0.0,
        "mean_ms": total_time / calls if calls else 0.0,
        "resets_at_snapshots": reset_snapshots(window.snapshots),
        "restarted_counters": int(everything["restarts"].sum()) if not everything.empty else 0,
        "excluded": excluded,
        "excluded_note": excluded_line(excluded),
    }
    if previous is not None:
        before_table = statement_table(store, previous)
        before_calls = int(before_table["calls"].sum()) if not before_table.empty else 0
        before_time = float(before_table["total_ms"].sum()) if not before_table.empty else 0.0
        summary["previous_window"] = previous.describe()
        summary["previous_calls_per_s"] = before_calls / previous.seconds if previous.seconds else 0.0
        summary["previous_db_time_per_s_ms"] = before_time / previous.seconds if previous.seconds else 0.0
    else:
        before_table = pd.DataFrame()
        summary["previous_window"] = None
    comparison: dict[str, Any] = {"against": "previous window" if previous is not None else None}
    regressions: list[dict[str, Any]] = []
    improvements: list[dict[str, Any]] = []
    if options.baseline:
        base, source = _baseline_frame(store, options.baseline)
        comparison = {"against": f"baseline {options.baseline}"}
        if source != "window":
            comparison["note"] = "this baseline holds workload-run timings keyed by statement name; compare it with qprof baseline check --workload"
        else:
            regressions, improvements = _mean_changes(table.assign(user_name=None), base.assign(user_name=None), options)
    elif previous is not None:
        regressions, improvements = _mean_changes(table, before_table, options)
    elif options.compare_previous:
        comparison["note"] = "no earlier snapshots to compare with; regressions need a previous window or --baseline"
    top_total = table.sort_values(["total_ms", "calls"], ascending=False).head(options.limit)
    top_mean = table.sort_values(["mean_ms", "calls"], ascending=False).head(options.limit)
    new = table[table["new"].astype(bool)].sort_values("total_ms", ascending=False).head(options.limit) if not table.empty else table
    document: dict[str, Any] = {
        "summary": summary,
        "settings": {
            "regression_pct": 100.0 * options.regression,
            "min_calls": options.min_calls,
            "limit": options.limit,
        },
        "top_by_total": _statement_rows(top_total, total_time, target.database),
        "top_by_mean": _statement_rows(top_mean, total_time, target.database),
        "regressions": regressions[: options.limit],
        "improvements": improvements[: options.limit],
        "comparison": comparison,
        "new_statements": _statement_rows(new, total_time, target.database),
        **_tables(store, window, previous, options),
        **_indexes(store, window, previous, options),
        "findings": options.findings,
        "findings_note": options.findings_note,
    }
    return Report(document, _series(intervals, table, window, options))
