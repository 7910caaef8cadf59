"""The what-if evaluator's contract: costs under index configurations, one cache, two counters.

The cache key is (statement, the candidate indexes of the configuration that can change its cost):
indexes elsewhere cannot change its plan, so no configuration that matters to a statement is
costed twice. Where a cost is measured by running the statement (SQLite), an index a write must
keep up to date changes its cost without being in its plan: those are in the key too. A planner's
estimate never includes that upkeep; the selection models it from the rows the writes change
(:meth:`WhatIf.rows_written`).
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
    # Whether a write's cost includes maintaining the indexes it changes (measured with them built),
    # so the selection must not model that upkeep again; a planner's estimate never includes it.
    measures_writes: bool = False

    def __init__(self) -> None:
        self.calls = 0  # distinct planner calls (cache misses)
        self.cache_hits = 0
        self._cache: dict[tuple[str, frozenset[Candidate]], float] = {}
        self._used: dict[tuple[str, frozenset[Candidate]], frozenset[Candidate] | None] = {}
        self._sizes: dict[Candidate, int] = {}
        self._written: dict[str, float | None] = {}  # rows_written per statement
        self._last_used: frozenset[Candidate] | None = None  # set by _cost when the plan is inspected
        self.seconds = 0.0  # wall time inside planner calls (round trips and server planning)
        self.planning_ms = 0.0  # the server's own planning time, where EXPLAIN reports it

    def relevant(self, statement: AdviseStatement, config: Iterable[Candidate]) -> frozenset[Candidate]:
        """The indexes of ``config`` that can change the statement's cost: on its tables, led by a
        column it uses; where writes are measured, also every index the write must update."""
        useful = useful_columns(statement)
        writes = self.measures_writes and bool(written_tables(statement))
        engine = getattr(getattr(self, "catalog", None), "engine", "postgresql")
        return frozenset(c for c in config if (c.table_key, c.keys[0].column) in useful or (writes and maintains(statement, c, engine)))

    def rows_written(self, statement: AdviseStatement) -> float | None:
        """Rows one execution of a write changes, as the planner estimates them (None: not a write,
        or this evaluator cannot tell). For the write model where the workload did not count rows."""
        target = getattr(self, "target", None)  # PostgreSQL evaluators plan on the target
        if target is None or not written_tables(statement):
            return None
        if statement.key not in self._written:
            try:
                self._written[statement.key] = planned_rows_written(target, statement)
            except QprofError:
                self.recover()
                self._written[statement.key] = None
        return self._written[statement.key]

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


def written_tables(statement: AdviseStatement) -> set[tuple[str, str]]:
    """The tables an INSERT, UPDATE or DELETE changes (not the ones it only reads)."""
    analysis = statement.analysis
    if analysis is None:
        return set()
    return set(analysis.inserts_into) | set(analysis.updated_columns) | set(getattr(analysis, "deletes_from", ()))


def maintains(statement: AdviseStatement, candidate: Candidate, engine: str, indexed: set[str] | None = None) -> bool:
    """Whether the statement's write must change entries of the index: an INSERT or DELETE on its
    table always; an UPDATE when it sets a column the index stores — and on PostgreSQL also when it
    sets a column another index on the table holds (``indexed``: their columns; None: unknown, any
    UPDATE counts): that update is not HOT and adds an entry to every index. SQLite skips the
    indexes an UPDATE leaves alone. SET columns not known: every index."""
    analysis = statement.analysis
    if analysis is None:
        return False
    table = candidate.table_key
    if table in analysis.inserts_into or table in getattr(analysis, "deletes_from", ()):
        return True
    if table not in analysis.updated_columns:
        return False
    columns = analysis.updated_columns[table]
    if not columns or columns & set(candidate.all_columns):
        return True
    return engine != "sqlite" and (indexed is None or bool(columns & indexed))


def indexed_columns(catalog: Catalog, table: tuple[str, str]) -> set[str]:
    """The columns the table's existing indexes hold (an expression's every name, a predicate's too)."""
    import re

    found: set[str] = set()
    for index in catalog.indexes_on(*table):
        texts = [key.expression for key in index.keys] + list(index.include) + [getattr(index, "predicate", None) or ""]
        found |= {name for text in texts for name in re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", text)}
    return found


def planned_rows_written(target: Any, statement: AdviseStatement) -> float | None:
    """Rows one execution of a write changes by the planner's estimate: the input rows of each
    ModifyTable node of its plan (with the values it is costed with, else a generic plan)."""
    from qprof.plans.postgres import explain_postgres

    params = getattr(statement, "_cost_params", statement.params) if getattr(statement, "_cost_mode", None) != "generic" else None
    plan = explain_postgres(target, statement.sql, params, analyze=False)
    rows = [node.children[0].plan_rows or 0.0 for node in plan.nodes() if node.node_type == "ModifyTable" and node.children]
    return float(sum(rows)) if rows else None


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
