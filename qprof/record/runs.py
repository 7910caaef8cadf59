"""Recorded runs as windows of the history (for compare, report --run, baseline save --from-run)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qprof.errors import BadInput

if TYPE_CHECKING:
    from qprof.history.store import Store
    from qprof.history.window import Window


def run_window(store: Store, name: str) -> tuple[dict[str, Any], Window]:
    """The run called ``name`` and its window."""
    run = store.find_run(name)
    if run is None:
        known = store.run_names()
        raise BadInput(
            f"no run {name!r} in {store.description}", hint=f"runs: {', '.join(known[-8:])}" if known else "record one: qprof record --name NAME -- COMMAND"
        )
    if run["end_snapshot_id"] is None:
        raise BadInput(f"run {name!r} never closed its window (status {run['status']})", hint="it was killed or its closing snapshot failed; record it again")
    return run, window_between(store, run["target_id"], run["start_snapshot_id"], run["end_snapshot_id"])


def window_between(store: Store, target_id: int, start_id: int, end_id: int) -> Window:
    """A run's window: its two snapshots and any of the same database taken in between (cron)."""
    from qprof.history.window import Window

    target = next(t for t in store.targets() if t.id == target_id)
    frame = store.snapshots_frame(target_id)
    frame = frame[(frame["id"] >= start_id) & (frame["id"] <= end_id)]
    return Window(target, frame.reset_index(drop=True))


def measured_percentiles(run: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """queryid → {p50_ms, p95_ms, p99_ms} of a run (the slowest user's, when several ran it)."""
    out: dict[str, dict[str, float | None]] = {}
    for row in run["statements"]:
        key = str(row["queryid"])
        seen = out.setdefault(key, {"p50_ms": None, "p95_ms": None, "p99_ms": None})
        for name in seen:
            if row[name] is not None and (seen[name] is None or row[name] > seen[name]):
                seen[name] = float(row[name])
    return out
