"""No what-if support on the server: a rough page-count model, clearly labelled, good only for ranking."""

from __future__ import annotations

import math
from typing import Any

from qprof.advise.candidates import Candidate
from qprof.advise.catalog import Catalog
from qprof.advise.whatif.base import WhatIf, estimated_size
from qprof.advise.workload_source import AdviseStatement


class HeuristicWhatIf(WhatIf):
    """No what-if support on the server: a page-count model, only good for ranking."""

    method = "heuristic"
    size_source = "estimate from row count and column widths"
    cost_unit = "heuristic page reads"

    def __init__(self, catalog: Catalog, target: Any = None) -> None:
        super().__init__()
        self.catalog = catalog
        # Only for the rows a write changes (a plain EXPLAIN): without it the write model counts one
        # row per call, ~100× too little upkeep for an UPDATE that changes a hundred rows.
        self.target = target

    def _existing(self, table: tuple[str, str]) -> list[Candidate]:
        from qprof.advise.candidates import Key

        shapes = []
        for index in self.catalog.indexes_on(*table):
            if index.valid and not index.predicate and index.method == "btree":
                shapes.append(Candidate(table[0], table[1], tuple(Key(k.expression.strip('"'), k.descending) for k in index.keys)))
        return shapes

    def _selectivity(self, table: tuple[str, str], column: str) -> float:
        relation = self.catalog.relations[table]
        info = relation.columns.get(column)
        distinct = info.n_distinct if info and info.n_distinct is not None else None
        if distinct is None or distinct == 0:
            return 0.05
        if distinct < 0:
            return 1.0 / max(-distinct * max(relation.rows, 1.0), 1.0)
        return 1.0 / distinct

    def _cost(self, statement: AdviseStatement, config: frozenset[Candidate]) -> float:
        analysis = statement.analysis
        if analysis is None:
            return 1.0
        total = 0.0
        for use in analysis.uses:
            table = use.relation.key
            rows = max(use.relation.rows, 1.0)
            scan = max(use.relation.pages, 1) + rows * 0.01
            best = scan + (rows * math.log2(rows) * 0.002 if use.sort else 0.0)
            equality = set(use.equality) | set(use.joins)
            for index in [*self._existing(table), *[c for c in config if c.table_key == table]]:
                selectivity, matched, sorted_ok = 1.0, 0, False
                for position, key in enumerate(index.keys):
                    if key.column in equality:
                        selectivity *= self._selectivity(table, key.column)
                        matched += 1
                        continue
                    if key.column in use.ranges:
                        selectivity *= 0.1
                        matched += 1
                    remaining = index.keys[position:]
                    sorted_ok = bool(use.sort) and [k.column for k in remaining[: len(use.sort)]] == [k.column for k in use.sort]
                    break
                else:
                    sorted_ok = not use.sort or False
                if matched == 0 and not sorted_ok:
                    continue
                fetched = rows * selectivity
                cost = 2.0 + fetched * 1.0 + (0.0 if sorted_ok or not use.sort else fetched * math.log2(max(fetched, 2)) * 0.002)
                if sorted_ok and matched == 0:
                    cost = 2.0 + min(rows, 100.0)
                best = min(best, cost)
            total += best
        return total

    def _size(self, candidate: Candidate) -> int:
        return estimated_size(self.catalog, candidate)
