"""Run workload statements for real and time them, for engines without server statistics.

SQLite keeps no pg_stat_statements, so ``qprof top --workload`` measures: each statement runs
``runs`` times (data-modifying ones in a transaction that is rolled back) and the timings become
the same StatementStats rows that pg_stat_statements yields, ranked by the same code.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qprof import sqltext
from qprof.errors import QprofError
from qprof.model import StatementStats
from qprof.targets.base import Target, Timing
from qprof.workload import WorkloadStatement


@dataclass(frozen=True)
class Skipped:
    """A statement the run could not use, and why; the run reports these and goes on."""

    statement: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"statement": self.statement, "reason": self.reason}


def check_runnable(statement: WorkloadStatement, engine: str) -> bool:
    """Parse, refuse DDL/utility statements and mismatched parameters; True when data-modifying."""
    tree = sqltext.parse(statement.sql, engine)
    if not sqltext.is_query(tree):
        raise QprofError(f"{sqltext.statement_kind(tree)} statements are not run by qprof (only queries and DML)")
    needed = sqltext.placeholder_count(statement.sql)
    if needed != len(statement.params):
        raise QprofError(f"uses {needed} parameter(s) but -- params: gives {len(statement.params)} value(s)")
    return sqltext.is_data_modifying(tree)


def timed_runs(target: Target, sql: str, params: Sequence[Any], runs: int, *, modifying: bool, warmup: int = 0) -> list[Timing]:
    """qprof's timing loop: ``warmup`` unmeasured executions (caches, plans), then ``runs`` measured
    ones, back to back; each goes through :meth:`Target.execute_timed` (the safety gate, a
    data-modifying execution rolled back before the next)."""
    for _ in range(warmup):
        target.execute_timed(sql, params, modifying=modifying)
    return [target.execute_timed(sql, params, modifying=modifying) for _ in range(runs)]


def time_statement(target: Target, statement: WorkloadStatement, runs: int, *, warmup: int = 0) -> list[Timing]:
    """A workload statement checked (:func:`check_runnable`), then timed by :func:`timed_runs`."""
    modifying = check_runnable(statement, target.engine)
    return timed_runs(target, statement.sql, statement.params, runs, modifying=modifying, warmup=warmup)


def stats_from_timings(statement: WorkloadStatement, timings: Sequence[Timing]) -> StatementStats:
    samples = [timing.ms for timing in timings]
    return StatementStats(
        queryid=statement.name,
        name=statement.name,
        query=statement.sql,
        calls=len(samples),
        total_ms=sum(samples),
        mean_ms=statistics.fmean(samples),
        stddev_ms=statistics.pstdev(samples) if len(samples) > 1 else 0.0,
        max_ms=max(samples),
        rows=sum(timing.rows for timing in timings),
    )


def time_workload(
    target: Target,
    statements: Sequence[WorkloadStatement],
    runs: int,
    *,
    on_progress: Callable[[WorkloadStatement], None] | None = None,
) -> tuple[list[StatementStats], list[Skipped]]:
    """Time every statement; one that fails is skipped with its reason and the run goes on."""
    measured: list[StatementStats] = []
    skipped: list[Skipped] = []
    for statement in statements:
        if on_progress:
            on_progress(statement)
        try:
            measured.append(stats_from_timings(statement, time_statement(target, statement, runs)))
        except QprofError as exc:
            skipped.append(Skipped(statement.name, exc.message))
    return measured, skipped
