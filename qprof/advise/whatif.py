"""What-if evaluation: what would a statement cost if these indexes existed?

Four evaluators share one cache and one pair of counters:

* :class:`HypoPGWhatIf` — HypoPG's hypothetical indexes (session-local, nothing is built), costs
  from the planner (generic plans for ``$n`` statements). Hypothetical indexes are created and
  dropped as configurations change, reset in batches (HypoPG hands out a limited range of fake
  OIDs) and always reset when the evaluator closes, even after an error.
* :class:`BuildWhatIf` — ``--whatif build`` for servers without HypoPG: each configuration is
  built for real inside a transaction that is rolled back (it takes a SHARE lock on the table
  while it builds; ``lock_timeout`` bounds the wait).
* :class:`HeuristicWhatIf` — no server help at all: a rough page-count model, clearly labelled.
* :class:`SqliteWhatIf` — SQLite: indexes built on a scratch copy of the file (never the
  original), cost = measured time, re-measured only when EXPLAIN QUERY PLAN changes.

The cache key is (statement, the candidate indexes of the configuration that sit on the
statement's tables): indexes elsewhere cannot change its plan, so no configuration that matters
to a statement is costed twice.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import sqlite3
import statistics
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qprof.advise.candidates import Candidate
from qprof.advise.catalog import Catalog
from qprof.advise.workload_source import AdviseStatement
from qprof.errors import BadInput, QprofError, StatementFailed
from qprof.targets.sqlite import statement_deadline
from qprof.units import timeout_ms

HYPOPG_BATCH = 200  # hypothetical indexes created before a reset (HypoPG's fake OIDs run out)
BYTES_PER_PAGE = 8192


def index_ddl_postgres(candidate: Candidate, *, name: str | None = None, on: tuple[str, str] | None = None) -> Any:
    """``CREATE INDEX [name] ON "schema"."table" ("a", "b" DESC)`` as a psycopg Composed."""
    from psycopg import sql

    schema, table = on or candidate.table_key
    keys = sql.SQL(", ").join(
        sql.Identifier(key.column) + (sql.SQL(" DESC") if key.descending else sql.SQL("")) for key in candidate.keys
    )
    named = sql.SQL(" {} ").format(sql.Identifier(name)) if name else sql.SQL(" ")
    include = sql.SQL("")
    if candidate.include:
        include = sql.SQL(" INCLUDE ({})").format(sql.SQL(", ").join(map(sql.Identifier, candidate.include)))
    return sql.SQL("CREATE INDEX{}ON {} ({}){}").format(named, sql.Identifier(schema, table), keys, include)


class WhatIf(ABC):
    """Costs statements under index configurations, with a cache and counters."""

    method: str = ""
    size_source: str = ""
    cost_unit: str = "planner cost"

    def __init__(self) -> None:
        self.calls = 0
        self.cache_hits = 0
        self._cache: dict[tuple[str, frozenset[Candidate]], float] = {}
        self._sizes: dict[Candidate, int] = {}

    def relevant(self, statement: AdviseStatement, config: Iterable[Candidate]) -> frozenset[Candidate]:
        """The indexes of ``config`` that can change the statement's plan: on its tables, led by a column it uses."""
        from qprof.advise.selection import useful_columns

        useful = useful_columns(statement)
        return frozenset(c for c in config if (c.table_key, c.keys[0].column) in useful)

    def cost(self, statement: AdviseStatement, config: Iterable[Candidate]) -> float:
        key = (statement.key, self.relevant(statement, config))
        if key in self._cache:
            self.cache_hits += 1
            return self._cache[key]
        self.calls += 1
        value = self._cost(statement, key[1])
        self._cache[key] = value
        return value

    def size(self, candidate: Candidate) -> int:
        if candidate not in self._sizes:
            self._sizes[candidate] = max(int(self._size(candidate)), BYTES_PER_PAGE)
        return self._sizes[candidate]

    @abstractmethod
    def _cost(self, statement: AdviseStatement, config: frozenset[Candidate]) -> float: ...

    @abstractmethod
    def _size(self, candidate: Candidate) -> int: ...

    def close(self) -> None:
        """Undo everything the evaluator set up; safe to call twice."""

    def __enter__(self) -> "WhatIf":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    plan for ``$n`` statements; when the generic plan cannot be prepared (pg_stat_statements replaced typed constants by untyped ``$n``: ``sum(CASE … THEN $2)``)
    a custom plan with the workload's or inferred real values."""
    mode = getattr(statement, "_cost_mode", None)
    if mode is None and statement.params is not None:
        # The workload gave real values: cost the plan the application actually gets for them
        # (a hot key can make the planner pick another plan than the generic one predicts).
        statement._cost_mode, statement._cost_params = "custom", list(statement.params)  # type: ignore[attr-defined]
        mode = "custom"
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

                inferred = infer_parameters(target, statement.sql)
                if inferred is None:
                    raise exc from None
                params = list(inferred.values)
            statement._cost_mode = "custom"  # type: ignore[attr-defined]
            statement._cost_params = params  # type: ignore[attr-defined]
    from qprof.plans.postgres import explain_postgres

    plan = explain_postgres(target, statement.sql, statement._cost_params, analyze=False)  # type: ignore[attr-defined]
    return float(plan.total_cost or 0.0)


def _rollback_if_failed(target: Any) -> None:
    import psycopg

    conn = target.conn
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
        conn.rollback()


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
            ddl = index_ddl_postgres(candidate, on=leaf).as_string(self.target.conn)
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
        except Exception:  # noqa: BLE001 - the connection is closing anyway; hypothetical indexes die with it
            pass


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
        self._counter = 0

    def _name(self) -> str:
        self._counter += 1
        return f"qprof_whatif_{self._counter}"

    def _build(self, conn: Any, candidate: Candidate) -> str:
        name = self._name()
        conn.execute(index_ddl_postgres(candidate, name=name))
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


class HeuristicWhatIf(WhatIf):
    """No what-if support on the server: a page-count model, only good for ranking."""

    method = "heuristic"
    size_source = "estimate from row count and column widths"
    cost_unit = "heuristic page reads"

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self.catalog = catalog

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


class SqliteWhatIf(WhatIf):
    """Real indexes on a scratch copy of the SQLite file; cost = measured milliseconds."""

    method = "sqlite-scratch-copy"
    size_source = "dbstat/page count of the index built on a scratch copy"
    cost_unit = "ms (measured on a scratch copy)"

    def __init__(self, path: Path, catalog: Catalog, *, runs: int = 3, statement_timeout: float = 30.0) -> None:
        super().__init__()
        self.catalog = catalog
        self.runs = runs
        self.statement_timeout = statement_timeout
        from qprof.targets.sqlite import _uri

        try:  # the path URI-quoted: '#', '?' or '%20' in a file name must not change which file opens
            source = sqlite3.connect(_uri(path, "ro"), uri=True)
        except sqlite3.Error as exc:
            raise BadInput(f"cannot open {path} read-only: {exc}") from None
        self._dir = Path(tempfile.mkdtemp(prefix="qprof-advise-"))
        self.scratch = self._dir / "scratch.sqlite"
        try:
            try:
                dest = sqlite3.connect(self.scratch)
                try:
                    source.backup(dest)
                finally:
                    dest.close()
                self.conn = sqlite3.connect(self.scratch, isolation_level=None)
            except sqlite3.Error as exc:
                raise BadInput(f"cannot copy {path} to a scratch database: {exc}") from None
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)  # never leave the scratch copy behind
            raise
        finally:
            source.close()
        self._live: dict[Candidate, str] = {}
        self._by_plan: dict[tuple[str, str], float] = {}

    def _name(self, candidate: Candidate) -> str:
        digest = hashlib.sha1(str(candidate).encode()).hexdigest()[:12]
        return f"qprof_whatif_{digest}"

    def _configure(self, tables: frozenset[tuple[str, str]], config: frozenset[Candidate]) -> None:
        for candidate in [c for c in self._live if c.table_key in tables and c not in config]:
            self.conn.execute(f'DROP INDEX IF EXISTS "{self._live.pop(candidate)}"')
        for candidate in sorted(config - set(self._live)):
            name = self._name(candidate)
            self.conn.execute(_sqlite_ddl(candidate, name))
            self._live[candidate] = name

    def _plan(self, sql: str, params: list) -> str:
        rows = self.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return "\n".join(str(row[-1]) for row in rows)

    def _measure(self, sql: str, params: list, modifying: bool) -> float:
        samples = []
        try:
            with statement_deadline(self.conn, self.statement_timeout):
                for _ in range(self.runs):
                    if modifying:
                        self.conn.execute("SAVEPOINT qprof_measure")
                    started = time.perf_counter()
                    try:
                        self.conn.execute(sql, params).fetchall()
                        samples.append((time.perf_counter() - started) * 1000.0)
                    finally:
                        if modifying:
                            self.conn.execute("ROLLBACK TO qprof_measure")
                            self.conn.execute("RELEASE qprof_measure")
        except sqlite3.Error as exc:
            if str(exc) == "interrupted":
                raise StatementFailed(f"measuring on the scratch copy: cancelled after the {self.statement_timeout:g} s statement timeout") from None
            raise StatementFailed(f"measuring on the scratch copy failed: {exc}") from None
        return min(samples)

    def _cost(self, statement: AdviseStatement, config: frozenset[Candidate]) -> float: ...

    @abstractmethod
    def _size(self, candidate: Candidate) -> int: ...

    def close(self) -> None:
        """Undo everything the evaluator set up; safe to call twice."""

    def __enter__(self) -> "WhatIf":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    plan for ``$n`` statements; when the generic plan cannot be prepared (pg_stat_statements replaced typed constants by untyped ``$n``: ``sum(CASE … THEN $2)``)
    a custom plan with the workload's or inferred real values."""
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

                inferred = infer_parameters(target, statement.sql)
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
    import psycopg

    conn = target.conn
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
        conn.rollback()


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
            ddl = index_ddl_postgres(candidate, on=leaf).as_string(self.target.conn)
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
        except Exception:  # noqa: BLE001 - the connection is closing anyway; hypothetical indexes die with it
            pass


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
        self._counter = 0

    def _name(self) -> str:
        self._counter += 1
        return f"qprof_whatif_{self._counter}"

    def _build(self, conn: Any, candidate: Candidate) -> str:
        name = self._name()
        conn.execute(index_ddl_postgres(candidate, name=name))
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


class HeuristicWhatIf(WhatIf):
    """No what-if support on the server: a page-count model, only good for ranking."""

    method = "heuristic"
    size_source = "estimate from row count and column widths"
    cost_unit = "heuristic page reads"

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self.catalog = catalog

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


class SqliteWhatIf(WhatIf):
    """Real indexes on a scratch copy of the SQLite file; cost = measured milliseconds."""

    method = "sqlite-scratch-copy"
    size_source = "dbstat/page count of the index built on a scratch copy"
    cost_unit = "ms (measured on a scratch copy)"

    def __init__(self, path: Path, catalog: Catalog, *, runs: int = 3, statement_timeout: float = 30.0) -> None:
        super().__init__()
        self.catalog = catalog
        self.runs = runs
        self.statement_timeout = statement_timeout
        from qprof.targets.sqlite import _uri

        try:  # the path URI-quoted: '#', '?' or '%20' in a file name must not change which file opens
            source = sqlite3.connect(_uri(path, "ro"), uri=True)
        except sqlite3.Error as exc:
            raise BadInput(f"cannot open {path} read-only: {exc}") from None
        self._dir = Path(tempfile.mkdtemp(prefix="qprof-advise-"))
        self.scratch = self._dir / "scratch.sqlite"
        try:
            try:
                dest = sqlite3.connect(self.scratch)
                try:
                    source.backup(dest)
                finally:
                    dest.close()
                self.conn = sqlite3.connect(self.scratch, isolation_level=None)
            except sqlite3.Error as exc:
                raise BadInput(f"cannot copy {path} to a scratch database: {exc}") from None
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)  # never leave the scratch copy behind
            raise
        finally:
            source.close()
        self._live: dict[Candidate, str] = {}
        self._by_plan: dict[tuple[str, str], float] = {}

    def _name(self, candidate: Candidate) -> str:
        digest = hashlib.sha1(str(candidate).encode()).hexdigest()[:12]
        return f"qprof_whatif_{digest}"

    def _configure(self, tables: frozenset[tuple[str, str]], config: frozenset[Candidate]) -> None:
        for candidate in [c for c in self._live if c.table_key in tables and c not in config]:
            self.conn.execute(f'DROP INDEX IF EXISTS "{self._live.pop(candidate)}"')
        for candidate in sorted(config - set(self._live)):
            name = self._name(candidate)
            self.conn.execute(_sqlite_ddl(candidate, name))
            self._live[candidate] = name

    def _plan(self, sql: str, params: list) -> str:
        rows = self.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return "\n".join(str(row[-1]) for row in rows)

    def _measure(self, sql: str, params: list, modifying: bool) -> float:
        samples = []
        deadline = time.monotonic() + self.statement_timeout
        why: list[str] = []

        def progress() -> int:
            # sqlite3 swallows an exception raised in this callback (Ctrl-C, or SIGTERM turned into
            # KeyboardInterrupt, arrive here while SQLite runs): note it, stop the statement, and
            # re-raise below; a deadline is a timeout, not an interrupt.
            try:
                if time.monotonic() > deadline:
                    why.append("deadline")
                    return 1
                return 0
            except BaseException:  # noqa: BLE001
                why.append("interrupt")
                return 1

        self.conn.set_progress_handler(progress, 10_000)
        try:
            for _ in range(self.runs):
                if modifying:
                    self.conn.execute("SAVEPOINT qprof_measure")
                started = time.perf_counter()
                try:
                    self.conn.execute(sql, params).fetchall()
                    samples.append((time.perf_counter() - started) * 1000.0)
                finally:
                    if modifying:
                        self.conn.execute("ROLLBACK TO qprof_measure")
                        self.conn.execute("RELEASE qprof_measure")
        except sqlite3.Error as exc:
            if "interrupt" in why or (str(exc) == "interrupted" and "deadline" not in why):
                # Only an exception inside the handler (Ctrl-C, SIGTERM) stops it otherwise.
                raise KeyboardInterrupt from None
            if "deadline" in why:
                raise StatementFailed(f"measuring on the scratch copy: cancelled after the {self.statement_timeout:g} s statement timeout") from None
            raise StatementFailed(f"measuring on the scratch copy failed: {exc}") from None
        finally:
            self.conn.set_progress_handler(None, 0)
        return min(samples)

    def _cost(self, statement: AdviseStatement, config: frozenset[Candidate]) -> float:
        from qprof import sqltext

        self._configure(statement.tables, config)
        sql = sqltext.to_sqlite(statement.sql)
        params = list(statement.params or [])
        if sqltext.placeholder_count(statement.sql) > len(params):
            raise BadInput("needs -- params: values to be measured on SQLite")
        try:
            plan = self._plan(sql, params)
        except sqlite3.Error as exc:
            raise BadInput(f"explain failed: {exc}") from None
        # Index names differ per configuration but the same plan shape costs the same.
        shape = plan
        for candidate, name in self._live.items():
            shape = shape.replace(name, str(candidate))
        cache_key = (statement.key, shape)
        if cache_key not in self._by_plan:
            modifying = sqltext.is_data_modifying(sqltext.parse(statement.sql, "sqlite"))
            self._by_plan[cache_key] = self._measure(sql, params, modifying)
        return self._by_plan[cache_key]

    def plan_text(self, statement: AdviseStatement, config: frozenset[Candidate]) -> str:
        from qprof import sqltext

        self._configure(statement.tables, self.relevant(statement, config))
        return self._plan(sqltext.to_sqlite(statement.sql), list(statement.params or []))

    def _size(self, candidate: Candidate) -> int:
        name = self._live.get(candidate)
        temporary = name is None
        if temporary:
            name = self._name(candidate)
            self.conn.execute(_sqlite_ddl(candidate, name))
        try:
            try:
                row = self.conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = ?", (name,)).fetchone()
                if row and row[0]:
                    return int(row[0])
            except sqlite3.Error:
                pass
            return estimated_size(self.catalog, candidate)
        finally:
            if temporary:
                self.conn.execute(f'DROP INDEX IF EXISTS "{name}"')

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


def _sqlite_ddl(candidate: Candidate, name: str) -> str:
    from sqlglot import exp

    def ident(text: str) -> str:
        return exp.to_identifier(text, quoted=True).sql("sqlite")

    keys = ", ".join(ident(k.column) + (" DESC" if k.descending else "") for k in candidate.keys)
    return f"CREATE INDEX {ident(name)} ON {ident(candidate.table)} ({keys})"


def measured_median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def make_whatif(
    target: Any, catalog: Catalog, mode: str, *, lock_timeout: float = 5.0, warn=lambda message: None
) -> WhatIf:
    """The evaluator ``--whatif`` asks for (auto: HypoPG when created, else the heuristic)."""
    if target.engine == "sqlite":
        return SqliteWhatIf(target.path, catalog, statement_timeout=target.statement_timeout)
    if mode in ("auto", "hypopg"):
        version = target.extension_version("hypopg")
        if version is not None:
            return HypoPGWhatIf(target, catalog)
        if mode == "hypopg":
            raise QprofError(
                f"the hypopg extension is not created in database {target.database_name!r}",
                hint="CREATE EXTENSION hypopg; (or --whatif build on staging, or --whatif heuristic)",
            )
        warn(
            "HypoPG is not installed: ranking with a rough heuristic (not the planner). "
            "Install HypoPG, or use --whatif build on staging for planner costs."
        )
        return HeuristicWhatIf(catalog)
    if mode == "build":
        warn(
            "--whatif build creates each candidate index for real inside a transaction that is rolled back; "
            f"CREATE INDEX holds a SHARE lock on the table while it builds (writes wait; lock_timeout {lock_timeout:g} s)"
        )
        return BuildWhatIf(target, catalog, lock_timeout=lock_timeout)
    if mode == "heuristic":
        return HeuristicWhatIf(catalog)
    raise BadInput(f"unknown --whatif mode {mode!r}", hint="use auto, hypopg, build or heuristic")
