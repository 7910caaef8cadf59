"""Percentiles, defined once for all of qprof.

Definition: **nearest rank** — the P-th percentile of n measurements is the smallest measured
value such that at least P % of the measurements are at or below it (rank ``ceil(P/100 · n)``,
at least 1). It is always a value that was actually measured, never an interpolation, so "P95
= 812 ms" means one execution really took 812 ms; with 5 samples P95 is the largest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def rank(fraction: float, count: int) -> int:
    """The 1-based nearest rank of the ``fraction`` percentile among ``count`` values."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"percentile fraction must be in (0, 1], got {fraction}")
    # round first so 0.95 * 100 (= 95.00000000000001 in binary) is rank 95, not 96
    return min(max(math.ceil(round(fraction * count, 9)), 1), count)


def percentile(values: Sequence[float], fraction: float, *, presorted: bool = False) -> float:
    """Nearest-rank percentile of ``values`` (``fraction`` 0.95 for P95); ValueError when empty."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = values if presorted else sorted(values)
    return float(ordered[rank(fraction, len(ordered)) - 1])


def tail_percentile(logged: Sequence[float], calls: int, fraction: float) -> float | None:
    """Nearest-rank percentile of ``calls`` executions of which only the slowest were measured.

    With ``log_min_duration_statement = T`` the log holds exactly the executions that took at
    least T; ``logged`` are those (sorted ascending) and ``calls`` all executions. The
    percentile is exact when its rank falls among the logged ones, and ``None`` (below T)
    otherwise. With every execution logged this is :func:`percentile`.
    """
    if calls <= 0 or not logged:
        return None
    calls = max(calls, len(logged))
    position = rank(fraction, calls) - (calls - len(logged))
    return float(logged[position - 1]) if position >= 1 else None
