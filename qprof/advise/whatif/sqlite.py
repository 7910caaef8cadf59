"""SQLite: indexes built on a scratch copy of the file (never the original); cost = measured time,
re-measured only when EXPLAIN QUERY PLAN changes. Each measurement runs under the shared SQLite
statement deadline (:func:`qprof.targets.sqlite.statement_deadline`: a timeout is a skipped
statement, Ctrl-C stays an interrupt).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from qprof.advise.candidates import Candidate
from qprof.advise.catalog import Catalog
from qprof.advise.ddl import create_index, drop_index, is_build_name
from qprof.advise.whatif.base import WhatIf, estimated_size
from qprof.advise.workload_source import AdviseStatement
from qprof.errors import BadInput, StatementFailed
from qprof.targets.sqlite import statement_deadline


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
                # no statement cache: a cached EXPLAIN QUERY PLAN keeps the plan of the indexes that
                # existed when it was prepared (executions re-prepare, EXPLAIN does not), so every
                # configuration after the first would be planned — and cached — as the first
                self.conn = sqlite3.connect(self.scratch, isolation_level=None, cached_statements=0)
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
        self._by_plan: dict[tuple[str, str], float] = {}

    def _name(self, candidate: Candidate) -> str:
        digest = hashlib.sha1(str(candidate).encode()).hexdigest()[:12]
        return f"qprof_whatif_{digest}"

    def _configure(self, tables: frozenset[tuple[str, str]], config: frozenset[Candidate]) -> None:
        for candidate in [c for c in self._live if c.table_key in tables and c not in config]:
            self.conn.execute(drop_index("main", self._live.pop(candidate), "sqlite"))
        for candidate in sorted(config - set(self._live)):
            name = self._name(candidate)
            self.conn.execute(create_index(candidate, name, "sqlite"))
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
            self.conn.execute(create_index(candidate, name, "sqlite"))
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
                self.conn.execute(drop_index("main", name, "sqlite"))

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

