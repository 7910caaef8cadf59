"""HypoPG's hypothetical indexes: session-local, nothing is built; costs from the planner.

Hypothetical indexes are created and dropped as configurations change, reset in batches (HypoPG
hands out a limited range of fake OIDs) and always reset when the evaluator closes, even after an
error. On a partitioned table one hypothetical index goes on each leaf (HypoPG cannot index a parent).
"""

from __future__ import annotations

import re
from typing import Any

from qprof.advise.candidates import Candidate
from qprof.advise.catalog import Catalog
from qprof.advise.ddl import create_index
from qprof.advise.whatif.base import WhatIf, planner_cost
from qprof.advise.workload_source import AdviseStatement
from qprof.errors import QprofError

HYPOPG_BATCH = 200  # hypothetical indexes created before a reset (HypoPG's fake OIDs run out)
_HYPO_NAME = re.compile(r"^<(\d+)>")  # HypoPG names its indexes "<oid>btree_table_columns"


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
        self._plain: dict[str, str] = {}  # statement key -> text that plans without parameters
        self._created = 0
        self._reset()

    def _leaves(self, candidate: Candidate) -> list[tuple[str, str]]:
        relation = self.catalog.relations.get(candidate.table_key)
        if relation is not None and relation.kind == "p" and relation.leaves:
            return sorted(relation.leaves)
        return [candidate.table_key]

    def _create(self, candidate: Candidate) -> list[int]:
        return self._create_many([candidate])[candidate]

    def _create_many(self, candidates: list[Candidate]) -> dict[Candidate, list[int]]:
        """Hypothetical indexes for ``candidates`` (one per leaf of a partitioned table), in one round trip."""
        if self._created - len(self._live) >= HYPOPG_BATCH:
            # Many created and dropped since the last reset: start afresh (HypoPG's fake OIDs are finite).
            keep = list(self._live)
            self._reset()
            if keep:
                self._live.update(self._create_many(keep))
        ddls, owners = [], []
        for candidate in candidates:
            for leaf in self._leaves(candidate):
                ddls.append(create_index(candidate, None, on=leaf).as_string(self.target.conn))
                owners.append(candidate)
        rows = self.target.fetch_all(
            "SELECT o.n, h.indexrelid FROM unnest(%s::text[]) WITH ORDINALITY AS o(ddl, n), LATERAL hypopg_create_index(o.ddl) AS h ORDER BY o.n",
            (ddls,),
            what="hypopg_create_index",
        )
        created: dict[Candidate, list[int]] = {candidate: [] for candidate in candidates}
        for row in rows:
            created[owners[int(row["n"]) - 1]].append(int(row["indexrelid"]))
        self._created += len(ddls)
        return created

    def _drop(self, candidate: Candidate) -> None:
        self._drop_many([candidate])

    def _drop_many(self, candidates: list[Candidate]) -> None:
        oids = [oid for candidate in candidates for oid in self._live.pop(candidate, [])]
        if oids:
            self.target.fetch_all("SELECT hypopg_drop_index(x) FROM unnest(%s::oid[]) AS x", (oids,), what="hypopg_drop_index")

    def _reset(self) -> None:
        self.target.fetch_all("SELECT hypopg_reset()", what="hypopg_reset")
        self._live.clear()
        self._created = 0

    def _configure(self, tables: frozenset[tuple[str, str]], config: frozenset[Candidate]) -> None:
        self._drop_many([c for c in self._live if c.table_key in tables and c not in config])
        missing = sorted(config - set(self._live))
        if missing:
            self._live.update(self._create_many(missing))

    def _cost(self, statement: AdviseStatement, config: frozenset[Candidate]) -> float:
        plain = self._plain.get(statement.key)
        if plain is not None and not self._due_reset(statement.tables, config):
            # Known to plan as it is (no $n, no parameter values): drop, create and EXPLAIN in one
            # round trip in the read-only autocommit session (EXPLAIN without ANALYZE executes
            # nothing), no re-parse.
            return self._read_plan(self._configure_and_explain(statement, config))
        self._configure(statement.tables, config)
        if plain is not None:
            # The same JSON EXPLAIN after a reset, so the plan still says which indexes it uses
            # (planner_cost cannot tell; an unknown "used" set makes the greedy cost more).
            rows = self.target.fetch_all("EXPLAIN (SUMMARY, FORMAT JSON) " + plain, what="EXPLAIN")
            return self._read_plan(next(iter(rows[0].values()))[0])
        cost = planner_cost(self.target, statement, self._estimate)
        if not config:
            self._last_used = frozenset()  # nothing hypothetical to use
        if statement.params is None and getattr(statement, "_cost_mode", None) is None:
            from qprof import sqltext

            if not sqltext.placeholder_count(statement.sql):
                self._plain[statement.key] = statement.sql.strip().rstrip(";").strip()
        return cost

    def _read_plan(self, top: dict) -> float:
        """The total cost of a JSON EXPLAIN, noting its planning time and the indexes it uses."""
        self.planning_ms += float(top.get("Planning Time") or 0.0)
        self._last_used = self._used_in(top["Plan"])
        return float(top["Plan"].get("Total Cost") or 0.0)

    def _due_reset(self, tables: frozenset[tuple[str, str]], config: frozenset[Candidate]) -> bool:
        """Whether ``_configure`` would reset HypoPG before creating (it checks after its drops, and
        only when something is missing); the one-round-trip path leaves those calls to it, so
        resets, and with them the order the planner sees hypothetical indexes in (its tie-break
        between equal-cost index paths), stay the same on either path."""
        if not config - set(self._live):
            return False
        kept = sum(1 for c in self._live if not (c.table_key in tables and c not in config))
        return self._created - kept >= HYPOPG_BATCH

    def _configure_and_explain(self, statement: AdviseStatement, config: frozenset[Candidate]) -> dict:
        """``_configure`` and the EXPLAIN of a parameter-free statement as one multi-statement simple
        query (values inlined as literals: oids are integers, DDL texts quoted by psycopg): a third
        of the round trips. HypoPG's indexes live in backend memory, not in the transaction, so on
        an error the bookkeeping is unknown: everything is reset."""
        import psycopg
        from psycopg import sql

        from qprof.owntag import tagged
        from qprof.targets.postgres import translate_error

        conn = self.target.conn
        drop = [c for c in self._live if c.table_key in statement.tables and c not in config]
        oids = [oid for c in drop for oid in self._live[c]]
        missing = sorted(config - set(self._live))
        ddls, owners = [], []
        for candidate in missing:
            for leaf in self._leaves(candidate):
                ddls.append(create_index(candidate, None, on=leaf).as_string(conn))
                owners.append(candidate)
        parts = []
        if oids:
            parts.append(tagged("SELECT hypopg_drop_index(x) FROM unnest(ARRAY[{}]::oid[]) AS x".format(",".join(str(int(o)) for o in oids))))
        if ddls:
            literal = sql.SQL(", ").join(sql.Literal(d) for d in ddls).as_string(conn)
            parts.append(
                tagged(
                    f"SELECT o.n, h.indexrelid FROM unnest(ARRAY[{literal}]::text[]) WITH ORDINALITY AS o(ddl, n), "
                    "LATERAL hypopg_create_index(o.ddl) AS h ORDER BY o.n"
                )
            )
        parts.append(tagged("EXPLAIN (SUMMARY, FORMAT JSON) " + self._plain[statement.key]))
        try:
            with conn.cursor() as cur:
                cur.execute(";\n".join(parts).encode())  # bytes: no parameters, so one simple query
                if oids:
                    cur.nextset()
                if ddls:
                    created: dict[Candidate, list[int]] = {c: [] for c in missing}
                    for row in cur.fetchall():
                        created[owners[int(row["n"]) - 1]].append(int(row["indexrelid"]))
                    cur.nextset()
                rows = cur.fetchall()
        except psycopg.Error as exc:
            self.recover()
            try:
                self._reset()
            except QprofError:
                pass
            raise translate_error(exc, what="EXPLAIN", timeout=self.target.statement_timeout) from None
        for c in drop:
            self._live.pop(c, None)
        if ddls:
            self._live.update(created)
            self._created += len(ddls)
        return next(iter(rows[0].values()))[0]

    def _used_in(self, node: dict) -> frozenset[Candidate]:
        """The configured hypothetical indexes a JSON plan uses."""
        by_oid = {oid: candidate for candidate, oids in self._live.items() for oid in oids}
        found = set()
        stack = [node]
        while stack:
            item = stack.pop()
            match = _HYPO_NAME.match(item.get("Index Name") or "")
            if match and int(match.group(1)) in by_oid:
                found.add(by_oid[int(match.group(1))])
            stack.extend(item.get("Plans") or [])
        return frozenset(found)

    def _size(self, candidate: Candidate) -> int:
        oids = self._live.get(candidate)
        temporary = oids is None
        if temporary:
            oids = self._create(candidate)
        try:
            return sum(int(self.target.fetch_value("SELECT hypopg_relation_size(%s)", (oid,), what="hypopg_relation_size") or 0) for oid in oids)
        finally:
            if temporary:
                for oid in oids:
                    self.target.fetch_all("SELECT hypopg_drop_index(%s)", (oid,), what="hypopg_drop_index")

    def close(self) -> None:
        try:
            self.target.rollback_if_aborted()
            self._reset()
        except Exception:  # noqa: BLE001, S110 - the connection is closing anyway; hypothetical indexes die with it
            pass
