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
from collections.abc import Iterable
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
    size_source = "estimate from the table's average stored column bytes (SQLite's record format), read on a scratch copy"
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
        # Nothing here needs to survive a crash (the copy is thrown away): no fsync per build or drop.
        self.conn.execute("PRAGMA synchronous = OFF")
        self._live: dict[Candidate, str] = {}  # built and visible to the planner
        self._hidden: dict[Candidate, str] = {}  # built, but attached to a stand-in table (see _move)
        self._sql: dict[Candidate, str] = {}  # each built index's own CREATE INDEX text, as SQLite stored it
        self._stand_ins: dict[tuple[str, str], str] = {}  # table → its empty stand-in
        self._can_move = True  # False once this SQLite refuses writable_schema (defensive mode): drop instead
        self._by_plan: dict[tuple[str, str, frozenset[Candidate]], float] = {}
        self._widths: dict[tuple[str, str], dict[str, float]] = {}
        self._row_keys: dict[tuple[str, str], list[str]] = {}  # what an index entry ends with: rowid or PRIMARY KEY
        self._schema = 0  # bumped by every change of the indexes the planner sees
        self.builds = 0  # indexes built on the scratch copy (each once, unless this SQLite cannot hide)
        self.hides = 0  # indexes taken out of the planner's sight (moved, or dropped where moving is refused)
        self.measurements = 0  # statements timed (a plan seen before is not timed again, unless remeasured)
        self._fresh = False  # remeasure(): bypass the per-plan timings

    def _name(self, candidate: Candidate) -> str:
        digest = hashlib.sha1(str(candidate).encode()).hexdigest()[:12]
        return f"qprof_whatif_{digest}"

    def _build(self, config: frozenset[Candidate]) -> None:
        hidden = sorted(c for c in config if c in self._hidden)
        if hidden:
            try:
                self._move(hidden, visible=True)
            except sqlite3.Error:  # cannot point them back: build them again
                self._can_move = False
                for candidate in hidden:
                    self.conn.execute(drop_index("main", self._hidden.pop(candidate), "sqlite"))
                    del self._sql[candidate]
        for candidate in sorted(config - set(self._live)):
            name = self._name(candidate)
            self._stand_in(candidate.table_key)  # before the table's first index: see _move
            self.conn.execute(create_index(candidate, name, "sqlite"))
            (self._sql[candidate],) = self.conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)).fetchone()
            self._live[candidate] = name
            self.builds += 1
            self._schema += 1

    def _hide(self, candidates: list[Candidate]) -> None:
        """Take built indexes out of the planner's sight — and out of a write's upkeep — keeping them
        for the next configuration that needs them (a rebuild sorts the whole table again)."""
        if not candidates:
            return
        self.hides += len(candidates)
        if self._can_move:
            try:
                self._move(candidates, visible=False)
                return
            except sqlite3.Error:
                self._can_move = False  # SQLITE_DBCONFIG_DEFENSIVE forbids writable_schema: drop and rebuild
        for candidate in candidates:
            self.conn.execute(drop_index("main", self._live.pop(candidate), "sqlite"))
            del self._sql[candidate]
            self._schema += 1

    def _stand_in(self, table: tuple[str, str]) -> None:
        """An empty table with ``table``'s columns, for hidden indexes to be attached to. SQLite
        reads its schema in rowid order, so it must exist before the first index that may move onto it."""
        if table in self._stand_ins or not self._can_move:
            return
        name = f"qprof_whatif_{hashlib.sha1(repr(table).encode()).hexdigest()[:12]}_hidden"
        try:
            self.conn.execute(f"CREATE TABLE {quote_ident(name)} AS SELECT * FROM {quote_ident(table[1])} WHERE 0")
        except sqlite3.Error:
            self._can_move = False
            return
        self._stand_ins[table] = name

    def _move(self, candidates: list[Candidate], *, visible: bool) -> None:
        """Attach built indexes to their table's empty stand-in (``visible=False``) or back.

        SQLite has no invisible indexes. An index's b-tree is tied to its table only by its row in
        sqlite_master: pointed at the stand-in, the b-tree stays as it is, the planner cannot use it,
        and a write to the table does not maintain it — the index as if dropped, at no cost. Pointed
        back, it is the same index again: the table did not change meanwhile (writes are measured in
        a savepoint that is rolled back). Bumping the schema cookie and reloading the schema is what
        SQLite's own documented procedure for editing sqlite_master does (ALTER TABLE, section
        "making other kinds of table schema changes"); the scratch copy is the only file touched."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = self.conn.execute("PRAGMA schema_version").fetchone()
            self.conn.execute("PRAGMA writable_schema = ON")
            for candidate in candidates:
                name = self._hidden[candidate] if visible else self._live[candidate]
                if visible:
                    table, sql = candidate.table, self._sql[candidate]
                else:
                    table = self._stand_ins[candidate.table_key]
                    sql = create_index(candidate, name, "sqlite", on=(candidate.schema, table))
                self.conn.execute("UPDATE sqlite_master SET tbl_name = ?, sql = ? WHERE type = 'index' AND name = ?", (table, sql, name))
            # a new cookie makes every prepared statement (the timed ones in the statement cache) re-prepare
            self.conn.execute(f"PRAGMA schema_version = {int(version) + 1}")
            self.conn.execute("PRAGMA writable_schema = RESET")  # off, and the schema read again
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.conn.execute("PRAGMA writable_schema = RESET")
            raise
        for candidate in candidates:  # a SQLite that did not read its schema again must not be trusted
            table = candidate.table if visible else self._stand_ins[candidate.table_key]
            name = self._hidden[candidate] if visible else self._live[candidate]
            if self.conn.execute("SELECT 1 FROM pragma_index_list(?) WHERE name = ?", (table, name)).fetchone() is None:
                raise sqlite3.OperationalError(f"index {name} not on {table} after the move")
        for candidate in candidates:
            if visible:
                self._live[candidate] = self._hidden.pop(candidate)
            else:
                self._hidden[candidate] = self._live.pop(candidate)
        self._schema += 1

    def _configure(self, statement: AdviseStatement, config: frozenset[Candidate], sql: str, params: list, modifying: bool) -> str:
        """Make the scratch copy plan ``sql`` as if only ``config`` existed; return its plan.

        Building an index is what costs (a sort of the whole table); planning is nearly free. So an
        index outside ``config`` is hidden only when it would change the measurement: when the plan
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
        if cache_key in self._by_plan and not self._fresh:
            return self._by_plan[cache_key]
        self.measurements += 1
        measured = self._measure(sql, params, modifying)
        return measured if self._fresh else self._by_plan.setdefault(cache_key, measured)

    def remeasure(self, statement: AdviseStatement, config: Iterable[Candidate]) -> float:
        self._fresh = True  # time it again, even when this plan was timed before
        started = time.perf_counter()
        try:
            return self._cost(statement, self.relevant(statement, config))
        finally:
            self._fresh = False
            self.seconds += time.perf_counter() - started

    def work(self) -> str:
        return f"scratch copy: {self.builds} index builds, {self.hides} hidden, {self.measurements} plans timed"

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
        # An entry stores the index's columns and then what finds the row: the rowid, or on a WITHOUT
        # ROWID table the PRIMARY KEY columns the index does not hold already.
        columns = list(dict.fromkeys(candidate.all_columns))
        columns += [c for c in self._row_keys[candidate.table_key] if c not in columns]
        values = [widths.get(c, 8.0) for c in columns]
        # record: its header (a size byte, a serial type per value: two bytes for text or blobs over
        # 57 bytes) and the values; the cell: the payload-size varint and a 2-byte pointer to it.
        # CREATE INDEX inserts in key order, which packs each leaf full (less its 8-byte header);
        # interior pages add about one per fan-out of leaves.
        payload = 1 + sum(1 if v <= 57 else 2 for v in values) + sum(values)
        entry = payload + (1 if payload < 128 else 2) + 2
        page = self._page_size()
        leaves = widths["\0rows"] * entry / (page - 8)
        return int(leaves * (1 + entry / page) + 1) * page

    def _page_size(self) -> int:
        return int(self.conn.execute("PRAGMA page_size").fetchone()[0])

    def _column_bytes(self, table: tuple[str, str]) -> dict[str, float] | None:
        """Average stored bytes per column of ``table`` (SQLite's record serial types) and its row
        count; also sets what its index entries end with (``_row_keys``). None when the table cannot be read."""
        if table in self._widths:
            return self._widths[table]
        relation = self.catalog.relations.get(table)
        if relation is None or not relation.columns:
            return None
        names = list(relation.columns)
        try:
            keys = self._primary_key(table) if self._without_rowid(table) else None
            parts = ["count(*)"] + [f"avg({_stored_bytes(quote_ident(name))})" for name in names]
            if keys is None:  # the rowid under a name no column takes (a column may be called rowid)
                rowid = next(n for n in ("rowid", "_rowid_", "oid") if n not in {c.lower() for c in names})
                parts.append(f"avg({_stored_bytes(rowid)})")
            row = self.conn.execute(f"SELECT {', '.join(parts)} FROM {quote_ident(table[1])}").fetchone()
        except (sqlite3.Error, StopIteration):
            self._widths[table] = None  # type: ignore[assignment]
            return None
        widths = {name: float(value or 0.0) for name, value in zip(names, row[1 : 1 + len(names)], strict=True)}
        widths["\0rows"] = float(row[0] or 0)
        if keys is None:
            widths["\0rowid"] = float(row[-1] or 1.0)
            # the INTEGER PRIMARY KEY is the rowid: an index holding it stores the rowid's bytes there too
            widths.update({name: widths["\0rowid"] for name in names if relation.columns[name].rowid})
            keys = ["\0rowid"]
        self._row_keys[table] = keys
        self._widths[table] = widths
        return widths

    def _without_rowid(self, table: tuple[str, str]) -> bool:
        try:  # SQLite 3.37+ says so itself
            found = self.conn.execute("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?", (table[1],)).fetchone()
        except sqlite3.Error:
            (sql,) = self.conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table[1],)).fetchone()
            return "WITHOUT ROWID" in " ".join((sql or "").upper().split())
        return bool(found and found[0])

    def _primary_key(self, table: tuple[str, str]) -> list[str]:
        rows = self.conn.execute("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table[1],)).fetchall()
        return [name for (name,) in rows]

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
