"""HypoPG's hypothetical indexes: session-local, nothing is built; costs from the planner.

Hypothetical indexes are created and dropped as configurations change, reset in batches (HypoPG
hands out a limited range of fake OIDs) and always reset when the evaluator closes, even after an
error. On a partitioned table one hypothetical index goes on each leaf (HypoPG cannot index a parent).
"""

from __future__ import annotations

from typing import Any

from qprof.advise.candidates import Candidate
from qprof.advise.catalog import Catalog
from qprof.advise.ddl import create_index
from qprof.advise.whatif.base import WhatIf, planner_cost
from qprof.advise.workload_source import AdviseStatement

HYPOPG_BATCH = 200  # hypothetical indexes created before a reset (HypoPG's fake OIDs run out)


class HypoPGWhatIf(WhatIf):
    method = "hypopg"
    size_source = "hypopg_relation_size (HypoPG's estimate; real B-trees are often smaller: deduplication)"

    def __init__(self, target: Any, catalog: Catalog) -> None:
        super().__init__()
        from qprof.plans.postgres import estimate_cost

        self.target = target
        self.catalog = catalog
        self._estimate = estimate_cost
        self._live: dict[Candidate, list[int]] = {}
        self._created = 0
        self._reset()

    def _leaves(self, candidate: Candidate) -> list[tuple[str, str]]:
        relation = self.catalog.relations.get(candidate.table_key)
        if relation is not None and relation.kind == "p" and relation.leaves:
            return sorted(relation.leaves)
        return [candidate.table_key]

    def _create(self, candidate: Candidate) -> list[int]:
        if self._created >= HYPOPG_BATCH:
            keep = list(self._live)
            self._reset()
            for other in keep:
                self._live[other] = self._create_raw(other)
        return self._create_raw(candidate)

    def _create_raw(self, candidate: Candidate) -> list[int]:
        oids = []
        for leaf in self._leaves(candidate):
            ddl = create_index(candidate, None, on=leaf).as_string(self.target.conn)
            rows = self.target.fetch_all("SELECT indexrelid FROM hypopg_create_index(%s)", (ddl,), what="hypopg_create_index")
            oids.extend(int(row["indexrelid"]) for row in rows)
            self._created += 1
        return oids

    def _drop(self, candidate: Candidate) -> None:
        for oid in self._live.pop(candidate, []):
            self.target.fetch_all("SELECT hypopg_drop_index(%s)", (oid,), what="hypopg_drop_index")

    def _reset(self) -> None:
        self.target.fetch_all("SELECT hypopg_reset()", what="hypopg_reset")
        self._live.clear()
        self._created = 0

    def _configure(self, tables: frozenset[tuple[str, str]], config: frozenset[Candidate]) -> None:
        for candidate in [c for c in self._live if c.table_key in tables and c not in config]:
            self._drop(candidate)
        for candidate in sorted(config - set(self._live)):
            self._live[candidate] = self._create(candidate)

    def _cost(self, statement: AdviseStatement, config: frozenset[Candidate]) -> float:
        self._configure(statement.tables, config)
        return planner_cost(self.target, statement, self._estimate)

    def _size(self, candidate: Candidate) -> int:
        oids = self._live.get(candidate)
        temporary = oids is None
        if temporary:
            oids = self._create(candidate)
        try:
            return sum(
                int(self.target.fetch_value("SELECT hypopg_relation_size(%s)", (oid,), what="hypopg_relation_size") or 0)
                for oid in oids
            )
        finally:
            if temporary:
                for oid in oids:
                    self.target.fetch_all("SELECT hypopg_drop_index(%s)", (oid,), what="hypopg_drop_index")

    def close(self) -> None:
        try:
            import psycopg

            if self.target.conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                self.target.conn.rollback()
            self._reset()
        except Exception:  # noqa: BLE001, S110 - the connection is closing anyway; hypothetical indexes die with it
            pass

