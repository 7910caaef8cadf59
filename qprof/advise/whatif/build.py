"""``--whatif build``: for servers without HypoPG, each configuration is built for real inside a
transaction that is always rolled back — nothing survives the transaction, not even a kill of the
process (the server rolls back the dead session's transaction). CREATE INDEX takes a SHARE lock on the table
while it builds; ``lock_timeout`` bounds the wait.
"""

from __future__ import annotations

from typing import Any

from qprof.advise.builds import build_name
from qprof.advise.candidates import Candidate
from qprof.advise.catalog import Catalog
from qprof.advise.ddl import create_index
from qprof.advise.whatif.base import WhatIf, planner_cost
from qprof.advise.workload_source import AdviseStatement
from qprof.units import timeout_ms


class BuildWhatIf(WhatIf):
    """Real builds in a transaction that is always rolled back (``--whatif build``)."""

    method = "build"
    size_source = "pg_relation_size of the index built in a rolled-back transaction"

    def __init__(self, target: Any, catalog: Catalog, *, lock_timeout: float = 5.0) -> None:
        super().__init__()
        from qprof.plans.postgres import estimate_cost

        self.target = target
        self.catalog = catalog
        self.lock_timeout = lock_timeout
        self._estimate = estimate_cost

    def _name(self) -> str:
        # qprof's build name, like every index qprof builds; this one never outlives its
        # transaction (a killed process's transaction is rolled back by the server)
        return build_name("whatif")

    def _build(self, conn: Any, candidate: Candidate) -> str:
        name = self._name()
        conn.execute(create_index(candidate, name))
        return name

    def _in_transaction(self, config: frozenset[Candidate], work):
        from psycopg import sql

        with self.target.rolled_back_transaction() as conn:
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{timeout_ms(self.lock_timeout)}ms")))
            names = [self._build(conn, candidate) for candidate in sorted(config)]
            return work(conn, names)

    def _cost(self, statement: AdviseStatement, config: frozenset[Candidate]) -> float:
        return self._in_transaction(config, lambda conn, names: planner_cost(self.target, statement, self._estimate))

    def _size(self, candidate: Candidate) -> int:
        def measure(conn: Any, names: list[str]) -> int:
            row = conn.execute("SELECT pg_relation_size(%s::regclass) AS size", (names[0],)).fetchone()
            return int(row["size"] if isinstance(row, dict) else row[0])

        return self._in_transaction(frozenset({candidate}), measure)
