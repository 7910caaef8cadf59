"""Rank statements by a cost measure: one code path for pg_stat_statements and timed workloads."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qprof.model import StatementStats

RANKINGS: dict[str, Callable[[StatementStats], float]] = {
    "total": lambda s: s.total_ms,
    "mean": lambda s: s.mean_ms,
    "calls": lambda s: s.calls,
    "rows": lambda s: s.rows,
    "io": lambda s: (s.io_ms or 0.0) + (s.shared_blks_read or 0) * 1e-9,  # io time, then blocks read
    "stddev": lambda s: s.stddev_ms,
    "max": lambda s: s.max_ms,
    "temp": lambda s: s.temp_blks or 0,
}


def rank_statements(
    statements: Sequence[StatementStats],
    by: str = "total",
    limit: int | None = 20,
    min_calls: int = 1,
    *,
    total_ms: float | None = None,
) -> list[StatementStats]:
    """The ``limit`` costliest statements by ``by``; fills each one's share of all statement time.

    The share is of ``total_ms`` when given (pg_stat_statements: all top-level time of the
    database), else of all ``statements``; never of what ``min_calls`` leaves, so filtering
    does not inflate the shares. Only a statement's top-level time counts (``toplevel_ms``):
    nested time is already inside its caller's.
    """
    key = RANKINGS[by]
    all_time = sum(s.total_ms for s in statements) if total_ms is None else total_ms
    in_scope = [s for s in statements if s.calls >= min_calls]
    for statement in in_scope:
        own = statement.total_ms if statement.toplevel_ms is None else statement.toplevel_ms
        statement.pct_total_time = 100.0 * own / all_time if all_time else 0.0
    ranked = sorted(in_scope, key=lambda s: (-key(s), -s.total_ms, s.queryid))
    return ranked[:limit] if limit else ranked
