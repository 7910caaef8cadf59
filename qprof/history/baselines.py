"""Baselines: per-statement mean and percentiles to gate on, from a window or a workload run.

A workload run (``qprof bench``) measures every statement ``runs`` times and keeps P50/P95/P99;
a window of the history only knows means (pg_stat_statements keeps no percentiles), so window
baselines compare means. Keys are statement names for workload runs and queryids for windows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qprof.errors import QprofError
from qprof.runner import Skipped, time_statement
from qprof.stats import percentile
from qprof.targets import Target
from qprof.workload import WorkloadStatement


@dataclass
class BenchResult:
    """Timings of one statement over ``runs`` executions, in milliseconds."""

    name: str
    query: str
    runs: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def baseline_row(self) -> dict[str, Any]:
        return {
            "key": self.name,
            "query": self.query,
            "calls": self.runs,
            "mean_ms": self.mean_ms,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
        }


def summarise(statement: WorkloadStatement, samples_ms: Sequence[float], rows: int) -> BenchResult:
    values = np.asarray(samples_ms, dtype="float64")
    ordered = sorted(samples_ms)
    p50, p95, p99 = (percentile(ordered, fraction, presorted=True) for fraction in (0.50, 0.95, 0.99))
    return BenchResult(
        name=statement.name,
        query=statement.sql,
        runs=len(values),
        mean_ms=float(values.mean()),
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        min_ms=float(values.min()),
        max_ms=float(values.max()),
        rows=rows,
    )


def bench_workload(
    target: Target,
    statements: Sequence[WorkloadStatement],
    runs: int,
    *,
    warmup: int = 1,
    on_progress: Callable[[WorkloadStatement], None] | None = None,
) -> tuple[list[BenchResult], list[Skipped]]:
    """Run each statement ``warmup`` + ``runs`` times; one that fails is skipped with its reason."""
    results, skipped = [], []
    for statement in statements:
        if on_progress:
            on_progress(statement)
        try:
            timings = time_statement(target, statement, runs, warmup=warmup)
        except QprofError as exc:
            skipped.append(Skipped(statement.name, exc.message))
            continue
        results.append(summarise(statement, [t.ms for t in timings], timings[-1].rows if timings else 0))
    return results, skipped


def window_rows(table: Any, percentiles: dict[str, dict[str, float | None]] | None = None) -> list[dict[str, Any]]:
    """Baseline rows from a window's statement table (one per queryid, users added up);
    ``percentiles``: measured P50/P95/P99 by queryid (a recorded run's), kept with them."""
    if table.empty:
        return []
    percentiles = percentiles or {}
    grouped = table.groupby("queryid", sort=False).agg(calls=("calls", "sum"), total_ms=("total_ms", "sum"), query=("query", "first"))
    return [
        {
            "key": str(queryid),
            "query": str(row.query),
            "calls": int(row.calls),
            "mean_ms": float(row.total_ms / row.calls),
            **{key: percentiles.get(str(queryid), {}).get(key) for key in ("p50_ms", "p95_ms", "p99_ms")},
        }
        for queryid, row in grouped.iterrows()
        if row.calls > 0
    ]


def compare(baseline: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]], threshold: float, min_delta_ms: float = 0.0) -> list[dict[str, Any]]:
    """Each baseline statement against now: ``slower`` when mean (or P95, when both have it) grew
    by more than ``threshold`` and by at least ``min_delta_ms``."""
    now = {row["key"]: row for row in current}
    out = []
    for base in sorted(baseline, key=lambda r: r["key"]):
        row = now.get(base["key"])
        entry: dict[str, Any] = {
            "key": base["key"],
            "query": base["query"],
            "baseline_mean_ms": base["mean_ms"],
            "baseline_p95_ms": base.get("p95_ms"),
            "mean_ms": None,
            "p95_ms": None,
            "mean_change_pct": None,
            "p95_change_pct": None,
            "status": "missing",
        }
        if row is None:
            out.append(entry)
            continue
        entry.update(mean_ms=row["mean_ms"], p95_ms=row.get("p95_ms"))
        slower = False
        for measure in ("mean", "p95"):
            before, after = base.get(f"{measure}_ms"), row.get(f"{measure}_ms")
            if before is None or after is None or before <= 0:
                continue
            change = (after - before) / before
            entry[f"{measure}_change_pct"] = 100.0 * change
            if change > threshold and after - before >= min_delta_ms:
                slower = True
                entry.setdefault("slower_by", measure)  # which measure crossed the gate (mean first)
        mean_change = entry["mean_change_pct"]
        entry["status"] = "slower" if slower else ("faster" if mean_change is not None and mean_change < -100.0 * threshold else "ok")
        out.append(entry)
    return out
