"""An Extend baseline for the advisor benchmarks (not part of qprof).

Extend: Schlosser, Kossmann, Boissier, "Efficient Scalable Multi-Attribute Index Selection Using
Recursive Strategies", ICDE 2019; evaluated by Kossmann et al., PVLDB 13(11), 2020. Written
here from the paper's description, with the settings of that evaluation:

* candidates: one single-column index per column that any query mentions (the columns of its
  tables whose names occur in it);
* each step either adds a single-column index or appends one such column to a chosen index
  (up to ``max_width`` columns); the step with the best workload-cost benefit per added byte
  wins, if it improves the workload cost by at least ``min_improvement`` (0.3 %) and fits the
  budget;
* a cost cache keyed by (query, the configuration's indexes that touch any column the query
  mentions).

Costs come from the evaluator qprof uses (HypoPG hypothetical indexes, PostgreSQL's EXPLAIN);
``planner_calls`` counts distinct planner calls (cache misses), ``requests`` every cost request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qprof.advise.candidates import Candidate, Key


@dataclass
class ExtendResult:
    chosen: list[Candidate]
    cost: float
    planner_calls: int
    requests: int
    cache_hits: int


class Extend:
    def __init__(
        self,
        whatif,
        statements: Sequence,
        columns: dict[str, set[tuple[tuple[str, str], str]]],
        *,
        budget: int,
        max_width: int = 2,
        min_improvement: float = 1.003,
    ) -> None:
        self.whatif = whatif  # a qprof WhatIf; only its raw _cost (no qprof cache) and size are used
        self.statements = list(statements)
        self.columns = columns  # statement key -> {(table, column)} it mentions
        self.budget = budget
        self.max_width = max_width
        self.min_improvement = min_improvement
        self.cache: dict[tuple[str, frozenset[Candidate]], float] = {}
        self.planner_calls = 0
        self.requests = 0
        self.cache_hits = 0

    def _relevant(self, statement, config: Sequence[Candidate]) -> frozenset[Candidate]:
        mentioned = self.columns[statement.key]
        return frozenset(c for c in config if any((c.table_key, k.column) in mentioned for k in c.keys))

    def workload_cost(self, config: Sequence[Candidate]) -> float:
        total = 0.0
        for statement in self.statements:
            key = (statement.key, self._relevant(statement, config))
            self.requests += 1
            if key in self.cache:
                self.cache_hits += 1
            else:
                self.planner_calls += 1
                self.cache[key] = self.whatif._cost(statement, key[1])
            total += self.cache[key]
        return total

    def run(self) -> ExtendResult:
        singles = sorted({Candidate(t[0], t[1], (Key(c),)) for cols in self.columns.values() for t, c in cols})
        combination: list[Candidate] = []
        current = self.workload_cost(combination)
        size = self.whatif.size
        while True:
            used = sum(size(c) for c in combination)
            best = None  # (ratio, combination, cost)
            for candidate in singles:
                if candidate in combination or used + size(candidate) > self.budget:
                    continue
                best = self._consider(combination + [candidate], size(candidate), current, used, best)
            for position, index in enumerate(combination):
                if len(index.keys) >= self.max_width:
                    continue
                for single in singles:
                    if single.table_key != index.table_key or single.keys[0].column in {k.column for k in index.keys}:
                        continue
                    wider = index.extended(single.keys[0])
                    if wider in combination:
                        continue
                    changed = combination[:position] + combination[position + 1 :] + [wider]
                    best = self._consider(changed, size(wider) - size(index), current, used, best)
            if best is None:
                break
            _, combination, current = best
        return ExtendResult(combination, current, self.planner_calls, self.requests, self.cache_hits)

    def _consider(self, combination, added: int, current: float, used: int, best):
        if used + added > self.budget:
            return best
        cost = self.workload_cost(combination)
        if cost * self.min_improvement >= current:
            return best
        ratio = (current - cost) / max(added, 1)
        if best is None or ratio > best[0]:
            return (ratio, combination, cost)
        return best


def mentioned_columns(statement, catalog) -> set[tuple[tuple[str, str], str]]:
    """The columns of the statement's tables whose names occur in its text (as the reference does)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(statement.sql, read="postgres")
    names = {column.name.lower() for column in tree.find_all(exp.Column)}
    found = set()
    for table in statement.tables:
        relation = catalog.relations[table]
        for name, info in relation.columns.items():
            if name.lower() in names and info.btree_ok:
                found.add((table, name))
    return found
