"""SQLite: indexes built on a scratch copy of the file (never the original); cost = measured time,
re-measured only when EXPLAIN QUERY PLAN changes. Each measurement runs under the shared SQLite
statement deadline (:func:`qprof.targets.sqlite.statement_deadline`: a timeout is a skipped
statement, Ctrl-C stays an interrupt).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from qprof.advise.candidates import Candidate
from qprof.advise.catalog import Catalog
from qprof.advise.ddl import create_index, drop_index, is_build_name
from qprof.advise.whatif.base import WhatIf, estimated_size, maintains, written_tables
from qprof.advise.workload_source import AdviseStatement
from qprof.errors import BadInput, StatementFailed
from qprof.targets.sqlite import statement_deadline

BURST_MS = 2.0  # a timing sample spans at least this long (well above perf_counter's and Python's overhead)
BURST_MAX = 1000  # executions per sample at most
_INDEX_NAME = re.compile(r"INDEX (qprof_whatif_[0-9a-f]{12})\b")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _stored_bytes(column: str) -> str:
    """SQL for the bytes SQLite's record format stores a value in (serial types: 0 for NULL, 0 and
    1, 1–8 for integers by magnitude, 8 for reals, the length for text and blobs)."""
    return (
        f"CASE typeof({column}) WHEN 'null' THEN 0 WHEN 'real' THEN 8 "
        f"WHEN 'integer' THEN CASE WHEN {column} IN (0, 1) THEN 0 WHEN abs({column}) < 128 THEN 1 "
        f"WHEN abs({column}) < 32768 THEN 2 WHEN abs({column}) < 8388608 THEN 3 "
        f"WHEN abs({column}) < 2147483648 THEN 4 WHEN abs({column}) < 140737488355328 THEN 6 ELSE 8 END "
        f"ELSE length(CAST({column} AS BLOB)) END"
    )


def _modifying(statement: AdviseStatement) -> bool:
    from qprof import sqltext

    cached = getattr(statement, "_sqlite_modifying", None)
    if cached is None:
        cached = sqltext.is_data_modifying(sqltext.parse(statement.sql, "sqlite"))
        statement._sqlite_modifying = cached  # type: ignore[attr-defined]
    return cached


class SqliteWhatIf(WhatIf):
    """Real indexes on a scratch copy of the SQLite file; cost = measured milliseconds."""

    method = "sqlite-scratch-copy"
    size_source = "dbstat/page count of the index built on a scratch copy"
    cost_unit = "ms (measured on a scratch copy)"
    # SQLite plans a new index without sqlite_stat1 rows for it (as it will after the migration): among
    # many candidates it may pick one that avoids a sort over one that reads 100× fewer rows, and an
    # index its plan ignores beside a few others may be the one it takes beside others (join order).
    # So the plan of every candidate at once does not say which matter: the selection measures them.
    plans_pick_best = False
    measures_writes = True  # a write runs with the indexes it must update built: their upkeep is measured

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
        from qprof.advise.runs import run_dir

        # in this run's folder (named with its pid): removed by the next run if this one is killed
        self._dir = Path(tempfile.mkdtemp(prefix="advise-", dir=run_dir()))
        self.scratch = self._dir / "scratch.sqlite"
        try:
            try:
                dest = sqlite3.connect(self.scratch)
                try:
                    source.backup(dest)
                finally:
                    dest.close()
                # The statement cache stays (a timed execution re-prepares itself after a schema
                # change and should not pay a prepare per burst); EXPLAIN does not re-prepare, so
                # _plan names the schema generation in its text (see there).
                self.conn = sqlite3.connect(self.scratch, isolation_level=None)
            except sqlite3.Error as exc:
                raise BadInput(f"cannot copy {path} to a scratch database: {exc}") from None
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)  # never leave the scratch copy behind
            raise
        finally:
            source.close()
        # a leftover of a killed qprof run is not the user's index: gone from the copy, so it
        # cannot serve the statements it would otherwise take credit for
        for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall():
            if is_build_name(name):
                self.conn.execute(drop_index("main", name, "sqlite"))
        self._live: dict[Candidate, str] = {}
        self._by_plan: dict[tuple[str, str, frozenset[Candidate]], float] = {}
        self._widths: dict[tuple[str, str], dict[str, float]] = {}
        self._schema = 0  # bumped by every CREATE/DROP INDEX
        self.builds = 0  # indexes built on the scratch copy (each at most once while it stays live)

    def _name(self, candidate: Candidate) -> str:
        digest = hashlib.sha1(str(candidate).encode()).hexdigest()[:12]
        return f"qprof_whatif_{digest}"

    def _build(self, config: frozenset[Candidate]) -> None:
        for candidate in sorted(config - set(self._live)):
            name = self._name(candidate)
            self.conn.execute(create_index(candidate, name, "sqlite"))
            self._live[candidate] = name
            self.builds += 1
            self._schema += 1

    def _hide(self, candidates: list[Candidate]) -> None:
        for candidate in candidates:
            self.conn.execute(drop_index("main", self._live.pop(candidate), "sqlite"))
            self._schema += 1

    def _configure(self, statement: AdviseStatement, config: frozenset[Candidate], sql: str, params: list, modifying: bool) -> str:
        """Make the scratch copy plan ``sql`` as if only ``config`` existed; return its plan.

        Building an index is what costs (a sort of the whole table); planning is nearly free. So an
        index outside ``config`` is dropped only when it would change the measurement: when the plan
        uses it, or when the statement's write must update it (an INSERT or DELETE: every index on its
        table; an UPDATE: those holding a column it sets — SQLite leaves the others alone). A plan that
        uses only ``config``'s indexes is also the plan with only ``config``: the planner picked it
        among more access paths, and removing ones it did not pick cannot make another one cheaper."""
        self._build(config)
        if modifying:
            known = bool(written_tables(statement))  # else: every index on its tables, as a write may touch them
            self._hide([c for c in self._live if c not in config and (maintains(statement, c, "sqlite") if known else c.table_key in statement.tables)])
        while True:
            plan = self._plan(sql, params)
            named = set(_INDEX_NAME.findall(plan))
            extra = [c for c, name in self._live.items() if c not in config and name in named]
            if not extra:
                self._last_used = frozenset(c for c in config if self._live[c] in named)
                return plan
            self._hide(extra)

    def _plan(self, sql: str, params: list) -> str:
        # An EXPLAIN is never re-prepared when the schema changes (it reads no schema cookie): the
        # connection's statement cache would return the plan from before an index was dropped.
        rows = self.conn.execute(f"EXPLAIN QUERY PLAN /* qprof schema {self._schema} */ " + sql, params).fetchall()
        return "\n".join(str(row[-1]) for row in rows)

    def _measure(self, sql: str, params: list, modifying: bool) -> float:
        """The fastest of ``runs`` samples; a sample repeats the statement until it has run for
        ``BURST_MS`` (one execution when it is slower), so a sub-millisecond statement is timed over
        many executions rather than at the clock's and the interpreter's resolution."""
        samples = []
        try:
            with statement_deadline(self.conn, self.statement_timeout):
                for _ in range(self.runs):
                    spent, count = 0.0, 0
                    while spent < BURST_MS / 1000.0 and count < BURST_MAX:
                        if modifying:
                            self.conn.execute("SAVEPOINT qprof_measure")
                        started = time.perf_counter()
                        try:
                            self.conn.execute(sql, params).fetchall()
                            spent += time.perf_counter() - started
                            count += 1
                        finally:
                            if modifying:
                                self.conn.execute("ROLLBACK TO qprof_measure")
                                self.conn.execute("RELEASE qprof_measure")
                    samples.append(spent * 1000.0 / count)
        except sqlite3.Error as exc:
            if str(exc) == "interrupted":
                raise StatementFailed(f"measuring on the scratch copy: cancelled after the {self.statement_timeout:g} s statement timeout") from None
            raise StatementFailed(f"measuring on the scratch copy failed: {exc}") from None
        return min(samples)

    def _cost(self, statement: AdviseStatement, config: frozenset[Candidate]) -> float:
        from qprof import sqltext

        sql = sqltext.to_sqlite(statement.sql)
        params = list(statement.params or [])
        if sqltext.placeholder_count(statement.sql) > len(params):
            raise BadInput("needs -- params: values to be measured on SQLite")
        modifying = _modifying(statement)
        try:
            plan = self._configure(statement, config, sql, params, modifying)
        except sqlite3.Error as exc:
            raise BadInput(f"explain failed: {exc}") from None
        # Index names differ per configuration but the same plan shape costs the same — for a write,
        # with the same indexes to update (they cost time though its plan does not name them).
        shape = plan
        for candidate, name in self._live.items():
            shape = shape.replace(name, str(candidate))
        upkeep = frozenset(c for c in config if maintains(statement, c, "sqlite")) if modifying else frozenset()
        cache_key = (statement.key, shape, upkeep)
        if cache_key not in self._by_plan:
            self._by_plan[cache_key] = self._measure(sql, params, modifying)
        return self._by_plan[cache_key]

    def plan_text(self, statement: AdviseStatement, config: frozenset[Candidate]) -> str:
        from qprof import sqltext

        return self._configure(
            statement, self.relevant(statement, config), sqltext.to_sqlite(statement.sql), list(statement.params or []), _modifying(statement)
        )

    def _size(self, candidate: Candidate) -> int:
        """Estimated from the table's rows and its columns' average stored bytes (one scan per table,
        no build: building every candidate only to weigh it cost more than all the measuring)."""
        widths = self._column_bytes(candidate.table_key)
        if widths is None:
            return estimated_size(self.catalog, candidate)
        rows = widths["\0rows"]
        columns = candidate.all_columns
        # record: header-size byte, one serial-type byte per column and the rowid, the values, the
        # rowid; the cell: its 2-byte pointer and payload-size varint; pages filled ~90 % by a sort
        entry = 1 + len(columns) + 1 + sum(widths.get(c, 8.0) for c in columns) + widths["\0rowid"] + 3
        page = self._page_size()
        return int(rows * entry / (0.9 * page) + 1) * page

    def _page_size(self) -> int:
        return int(self.conn.execute("PRAGMA page_size").fetchone()[0])

    def _column_bytes(self, table: tuple[str, str]) -> dict[str, float] | None:
        """Average stored bytes per column of ``table`` (SQLite's record serial types), its row count
        and rowid bytes; None when the table cannot be read."""
        if table in self._widths:
            return self._widths[table]
        relation = self.catalog.relations.get(table)
        if relation is None or not relation.columns:
            return None
        names = [c for c in relation.columns if not relation.columns[c].rowid]
        parts = ["count(*)", f"avg({_stored_bytes('rowid')})"]
        parts += [f"avg({_stored_bytes(quote_ident(name))})" for name in names]
        try:
            row = self.conn.execute(f"SELECT {', '.join(parts)} FROM {quote_ident(table[1])}").fetchone()
        except sqlite3.Error:
            self._widths[table] = None  # type: ignore[assignment]
            return None
        widths = {name: float(value or 0.0) for name, value in zip(names, row[2:], strict=True)}
        widths["\0rows"] = float(row[0] or 0)
        widths["\0rowid"] = float(row[1] or 1.0)
        self._widths[table] = widths
        return widths

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
