"""The what-if evaluator's contract: costs under index configurations, one cache, two counters.

The cache key is (statement, the candidate indexes of the configuration that can change its plan):
indexes elsewhere cannot change its plan, so no configuration that matters to a statement is
costed twice.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, Self

from qprof.advise.candidates import Candidate
from qprof.advise.catalog import Catalog
from qprof.advise.workload_source import AdviseStatement
from qprof.errors import QprofError

BYTES_PER_PAGE = 8192


class WhatIf(ABC):
    """Costs statements under index configurations, with a cache and counters."""

    method: str = ""
    size_source: str = ""
    cost_unit: str = "planner cost"

    def __init__(self) -> None:
        self.calls = 0  # distinct planner calls (cache misses)
        self.cache_hits = 0
        self._cache: dict[tuple[str, frozenset[Candidate]], float] = {}
        self._used: dict[tuple[str, frozenset[Candidate]], frozenset[Candidate] | None] = {}
        self._sizes: dict[Candidate, int] = {}
        self._last_used: frozenset[Candidate] | None = None  # set by _cost when the plan is inspected
        self.seconds = 0.0  # wall time inside planner calls (round trips and server planning)
        self.planning_ms = 0.0  # the server's own planning time, where EXPLAIN reports it

    def relevant(self, statement: AdviseStatement, config: Iterable[Candidate]) -> frozenset[Candidate]:
        """The indexes of ``config`` that can change the statement's plan: on its tables, led by a column it uses."""
        useful = useful_columns(statement)
        return frozenset(c for c in config if (c.table_key, c.keys[0].column) in useful)

    def cost(self, statement: AdviseStatement, config: Iterable[Candidate]) -> float:
        key = (statement.key, self.relevant(statement, config))
        if key in self._cache:
            self.cache_hits += 1
            return self._cache[key]
        self.calls += 1
        self._last_used = None
        started = time.perf_counter()
        try:
            value = self._cost(statement, key[1])
        finally:
            self.seconds += time.perf_counter() - started
        self._cache[key] = value
        self._used[key] = self._last_used
        return value

    def used(self, statement: AdviseStatement, config: Iterable[Candidate]) -> frozenset[Candidate] | None:
        """The indexes of ``config`` the statement's plan uses (None: this evaluator cannot tell)."""
        key = (statement.key, self.relevant(statement, config))
        if key not in self._cache:
            self.cost(statement, config)
        return self._used.get(key)

    def size(self, candidate: Candidate) -> int:
        if candidate not in self._sizes:
            self._sizes[candidate] = max(int(self._size(candidate)), BYTES_PER_PAGE)
        return self._sizes[candidate]

    @abstractmethod
    def _cost(self, statement: AdviseStatement, config: frozenset[Candidate]) -> float: ...

    @abstractmethod
    def _size(self, candidate: Candidate) -> int: ...

    def remeasure(self, statement: AdviseStatement, config: Iterable[Candidate]) -> float:
        """The statement's cost under ``config`` taken again, not from the cache: where costs are
        timings, repeated samples tell a real difference from noise. An estimate would only repeat
        itself, so by default the cached cost."""
        return self.cost(statement, config)

    def work(self) -> str:
        """What the evaluator did beside planner calls, for ``--debug`` (empty when nothing)."""
        return ""

    def recover(self) -> None:
        """After a failed EXPLAIN, make the evaluator's session usable again (a failed statement
        leaves a PostgreSQL transaction aborted)."""
        conn = getattr(getattr(self, "target", None), "conn", None)
        if conn is None or not hasattr(conn, "info"):
            return
        try:
            import psycopg

            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
        except Exception:  # noqa: BLE001, S110 - a dead session fails the next call with its own message
            pass

    def close(self) -> None:
        """Undo everything the evaluator set up; safe to call twice."""
        return None  # a hook, not abstract: an evaluator that sets nothing up has nothing to undo

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def useful_columns(statement: AdviseStatement) -> set[tuple[tuple[str, str], str]]:
    """(table, column) pairs a statement could use an index on (cached on the statement)."""
    cached = getattr(statement, "_useful", None)
    if cached is not None:
        return cached
    result = set()
    for candidate in statement.candidates:
        for key in candidate.keys:
            result.add((candidate.table_key, key.column))
    statement._useful = result  # type: ignore[attr-defined]
    return result


def rows_per_call(statement: AdviseStatement) -> float | None:
    """Rows each execution returned on average, where the source counted them (pg_stat_statements)."""
    return statement.rows / statement.weight if statement.rows is not None else None


def estimated_size(catalog: Catalog, candidate: Candidate) -> int:
    """A B-tree size estimate from row count and column widths (pg_stats avg_width)."""
    relation = catalog.relations.get(candidate.table_key)
    rows = relation.rows if relation else 0.0
    width = 0
    for name in candidate.all_columns:
        column = relation.columns.get(name) if relation else None
        width += column.avg_width if column and column.avg_width else 8
    per_tuple = 8 + 4 + 8 * math.ceil(width / 8)  # IndexTuple header + line pointer + aligned keys
    return int(rows * per_tuple / 0.9) + 2 * BYTES_PER_PAGE


def planner_cost(target: Any, statement: AdviseStatement, estimate) -> float:
    """EXPLAIN's total cost: a custom plan when the workload gives the ``$n`` values, else a generic
    plan for ``$n`` statements; when the generic plan cannot be prepared (pg_stat_statements
    replaced typed constants by untyped ``$n``: ``sum(CASE … THEN $2)``) a custom plan with the
    workload's or inferred real values."""
    mode = getattr(statement, "_cost_mode", None)
    if mode is None and statement.params is not None:
        # The workload gave real values: cost the plan the application actually gets for them
        # (a hot key can make the planner pick another plan than the generic one predicts).
        statement._cost_mode, statement._cost_params = "custom", statement.params  # type: ignore[attr-defined]
        mode = "custom"
    if mode == "generic":
        return estimate(target, statement.sql)
    if mode is None:
        try:
            return estimate(target, statement.sql)
        except QprofError as exc:
            from qprof import sqltext

            if not sqltext.placeholder_count(statement.sql):
                raise
            _rollback_if_failed(target)
            params = statement.params
            if params is None:
                from qprof.params import infer_parameters

                inferred = infer_parameters(target, statement.sql, rows_per_call(statement))
                if inferred is None:
                    raise exc from None
                params = list(inferred.values)
            statement._cost_mode = "custom"  # type: ignore[attr-defined]
            statement._cost_params = params  # type: ignore[attr-defined]
    from qprof.plans.postgres import explain_postgres

    try:
        plan = explain_postgres(target, statement.sql, statement._cost_params, analyze=False)  # type: ignore[attr-defined]
    except QprofError:
        if statement._cost_params is not statement.params:  # type: ignore[attr-defined]
            raise  # inferred values after a failed generic plan: nothing else to try
        # the workload's own values do not plan (a value its context refuses): cost a generic plan instead
        _rollback_if_failed(target)
        statement._cost_mode = "generic"  # type: ignore[attr-defined]
        return estimate(target, statement.sql)
    return float(plan.total_cost or 0.0)


def _rollback_if_failed(target: Any) -> None:
    target.rollback_if_aborted()
