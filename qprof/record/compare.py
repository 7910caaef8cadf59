"""``qprof compare A B``: two windows (runs, snapshot ranges or baselines) statement by statement.

Statements are matched by queryid, which pg_stat_statements derives from the statement's
parsed form: the same statement before and after an index has the same queryid. Mean and
calls come from the windows' deltas, P95 from each run's measured percentiles (a snapshot
range has none; a baseline has what it stored). The change is judged on the mean time, which
both sides always have: a regression is a mean up by ``regression`` or more, an improvement a
mean down to 1/(1+``regression``) or less, each needing ``min_calls`` on both sides.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qprof.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

    from qprof.history.store import Store

_RANGE = re.compile(r"^\s*(\d+)\s*(?:\.\.|:|-)\s*(\d+)\s*$")


@dataclass
class Side:
    ref: str
    kind: str  # run, snapshots, baseline
    description: str
    statements: pd.DataFrame  # queryid, query, calls, total_ms, mean_ms, p95_ms
    indexes: dict[str, str] | None = None  # schema.index → definition, at the window's end
    target_id: int | None = None
    notes: list[str] = field(default_factory=list)


def _window_side(store: Store, ref: str, kind: str, window: Any, p95: dict[str, float] | None, description: str) -> Side:
    import pandas as pd

    from qprof.history.window import statement_table
    from qprof.record.report import workload_rows

    table = workload_rows(statement_table(store, window))
    if table.empty:
        frame = pd.DataFrame(columns=["queryid", "query", "calls", "total_ms", "mean_ms", "p95_ms"])
    else:
        frame = table.groupby("queryid", as_index=False).agg(query=("query", "first"), calls=("calls", "sum"), total_ms=("total_ms", "sum"))
        frame["mean_ms"] = frame["total_ms"] / frame["calls"]
        frame["queryid"] = frame["queryid"].astype(str)
        frame["p95_ms"] = frame["queryid"].map(lambda q: (p95 or {}).get(q))
    idx = store.index_stats_frame(window.target.id, window.last_id, window.last_id)
    indexes = {f"{r.schema_name}.{r.index_name}": str(r.definition) for r in idx.itertuples(index=False)}
    return Side(ref, kind, description, frame, indexes, window.target.id)


def resolve(store: Store, ref: str) -> Side:
    """A run name, a snapshot range ``12..15``, or a baseline name (tried in that order)."""
    import pandas as pd

    from qprof.history.window import select_window

    if store.find_run(ref) is not None:
        from qprof.record.runs import measured_percentiles, run_window

        run, window = run_window(store, ref)
        p95 = {key: values["p95_ms"] for key, values in measured_percentiles(run).items() if values["p95_ms"] is not None}
        span = window.describe()
        side = _window_side(store, ref, "run", window, p95, f"run {ref} ({span['start']} → {span['end']})")
        if not run["percentile_source"]:
            side.notes.append(f"run {ref} has no measured percentiles (no server log was read)")
        return side
    match = _RANGE.match(ref)
    if match:
        first, last = int(match[1]), int(match[2])
        if first >= last:
            raise BadInput(
                f"snapshot range {ref} is {'empty' if first == last else 'reversed'}",
                hint=f"give the earlier snapshot first: {min(first, last)}..{max(first, last)}" if first != last else "a range needs two different snapshots",
            )
        for target in store.targets():
            ids = set(store.snapshots_frame(target.id)["id"])
            if first in ids and last in ids:
                window = select_window(store, target, between=(str(first), str(last)))
                span = window.describe()
                side = _window_side(store, ref, "snapshots", window, None, f"snapshots {ref} ({span['start']} → {span['end']})")
                side.notes.append(f"snapshots {ref}: no percentiles (a snapshot range has no measurements)")
                return side
        raise BadInput(f"no two snapshots {first} and {last} of one database in {store.description}", hint="list them with: qprof snapshots list")
    try:
        head, rows = store.load_baseline(ref)
    except Exception:  # noqa: BLE001 - not a baseline either: say what names exist
        head = None
    if head is not None:
        frame = pd.DataFrame(rows)
        if frame.empty:
            frame = pd.DataFrame(columns=["key", "query", "calls", "mean_ms", "p95_ms"])
        frame = frame.rename(columns={"key": "queryid"})
        frame["queryid"] = frame["queryid"].astype(str)
        frame["total_ms"] = frame["mean_ms"] * frame["calls"]
        side = Side(
            ref,
            "baseline",
            f"baseline {ref} ({head['description']})",
            frame[["queryid", "query", "calls", "total_ms", "mean_ms", "p95_ms"]],
            None,
            head.get("target_id"),
        )
        if head["source"] != "window":
            side.notes.append(f"baseline {ref} holds workload-run timings keyed by statement name, not queryids")
        return side
    runs = store.run_names()
    known = ", ".join(runs[-8:]) if runs else "none"
    raise BadInput(
        f"no run, snapshot range or baseline called {ref!r} in {store.description}",
        hint=f"runs: {known}; snapshot ranges look like 12..15; baselines: qprof baseline list",
    )


def compare(before: Side, after: Side, *, regression: float, min_calls: int) -> dict[str, Any]:
    """The comparison document (the ``--format json`` shape)."""
    left = before.statements.rename(
        columns={"calls": "before_calls", "total_ms": "before_total_ms", "mean_ms": "before_mean_ms", "p95_ms": "before_p95_ms", "query": "before_query"}
    )
    both = left.merge(after.statements, on="queryid", how="outer")
    rows = []
    for r in both.itertuples(index=False):
        before_calls = _int(r.before_calls)
        calls = _int(r.calls)
        before_mean, mean = _num(r.before_mean_ms), _num(r.mean_ms)
        factor = mean / before_mean if before_mean and mean is not None else None
        p95_factor = (_num(r.p95_ms) / _num(r.before_p95_ms)) if _num(r.before_p95_ms) and _num(r.p95_ms) is not None else None
        enough = before_calls >= min_calls and calls >= min_calls
        if before_calls == 0:
            verdict = "new"
        elif calls == 0:
            verdict = "gone"
        elif enough and factor is not None and factor >= 1.0 + regression:
            verdict = "regression"
        elif enough and factor is not None and factor <= 1.0 / (1.0 + regression):
            verdict = "improvement"
        else:
            verdict = "same" if enough else "too few calls"
        rows.append(
            {
                "queryid": str(r.queryid),
                "query": str(r.query if isinstance(r.query, str) else r.before_query),
                "before_calls": before_calls,
                "calls": calls,
                "before_mean_ms": before_mean,
                "mean_ms": mean,
                "before_p95_ms": _num(r.before_p95_ms),
                "p95_ms": _num(r.p95_ms),
                "change_pct": 100.0 * (factor - 1.0) if factor is not None else None,
                "factor": factor,
                "p95_factor": p95_factor,
                "verdict": verdict,
                "weight": max(_num(r.before_total_ms) or 0.0, _num(r.total_ms) or 0.0),
            }
        )
    rows.sort(key=lambda row: -row["weight"])
    doc: dict[str, Any] = {
        "before": {"ref": before.ref, "kind": before.kind, "description": before.description},
        "after": {"ref": after.ref, "kind": after.kind, "description": after.description},
        "settings": {"regression_pct": 100.0 * regression, "min_calls": min_calls},
        "statements": rows,
        "regressions": sorted((r for r in rows if r["verdict"] == "regression"), key=lambda r: -(r["factor"] or 0)),
        "improvements": sorted((r for r in rows if r["verdict"] == "improvement"), key=lambda r: r["factor"] or 0),
        "notes": [*before.notes, *after.notes],
    }
    different = before.target_id is not None and after.target_id is not None and before.target_id != after.target_id
    if before.indexes is not None and after.indexes is not None and not different:
        doc["indexes_added"] = [{"index": k, "definition": v} for k, v in sorted(after.indexes.items()) if k not in before.indexes]
        doc["indexes_dropped"] = [{"index": k, "definition": v} for k, v in sorted(before.indexes.items()) if k not in after.indexes]
    else:
        doc["indexes_added"] = doc["indexes_dropped"] = None
    if different:
        doc["notes"].append("the two sides are of different databases: only statements with the same queryid are matched, and indexes are not compared")
    return doc


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _int(value: Any) -> int:
    number = _num(value)
    return int(number) if number is not None else 0
