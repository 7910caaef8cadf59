"""The history store: one SQLAlchemy engine, a versioned schema, and all-or-nothing writes.

Concurrency (cron runs overlap): on SQLite every write transaction starts with ``BEGIN
IMMEDIATE`` and waits on the busy timeout, readers use WAL and never block writers; on
PostgreSQL every write transaction first takes a transaction-scoped advisory lock. Writers
therefore queue instead of failing, and a killed writer leaves nothing behind because its
transaction never commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import (
    Engine,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from qprof import redact
from qprof.errors import BadInput, QprofError
from qprof.history import schema as s
from qprof.history.location import describe, store_url

if TYPE_CHECKING:
    import pandas as pd

    from qprof.history.collect import SnapshotData

LOCK_KEY = 0x71_70_72_6F_66  # "qprof": one advisory lock for every writer of a PostgreSQL store
DEFAULT_BUSY_TIMEOUT = 120.0  # seconds a writer waits for another one to finish


def utcnow() -> datetime:
    """Naive UTC: how every timestamp is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _merged(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Statement rows with one row per (queryid, user): two users both hidden as ``***`` become
    one, as pg_stat_statements would count them for one user (sums, max, pooled mean/stddev)."""
    by_key: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in rows:
        key = (row["queryid"], row["user_name"])
        if key not in by_key:
            by_key[key] = row
            continue
        a, b = by_key[key]["counters"], row["counters"]
        calls = a["calls"] + b["calls"]
        merged = {name: (a.get(name) or 0) + (b.get(name) or 0) for name in a if name not in ("mean_ms", "stddev_ms", "max_ms")}
        mean = merged["total_ms"] / calls if calls else 0.0
        square = sum(c["calls"] * (c["stddev_ms"] ** 2 + c["mean_ms"] ** 2) for c in (a, b))
        merged |= {"mean_ms": mean, "max_ms": max(a["max_ms"], b["max_ms"]), "stddev_ms": max(square / calls - mean**2, 0.0) ** 0.5 if calls else 0.0}
        by_key[key] = {**by_key[key], "counters": merged}
    return list(by_key.values())


def stored(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as it may be written: every string (statement text, a command line, a description,
    settings) through the one output redaction — the store is an exit like stdout."""
    return {key: redact.document(value) if isinstance(value, (str, dict, list, tuple)) else value for key, value in row.items()}


class StoreError(QprofError):
    """The history store is unreachable, locked for too long, or from a newer qprof."""


@dataclass(frozen=True)
class TargetRow:
    id: int
    identity: str
    name: str
    database: str
    description: str


class Store:
    """A history store named by a path or SQLAlchemy URL; the schema is created on first use."""

    def __init__(self, location: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.url = store_url(location)
        self.description = describe(self.url)
        self.busy_timeout = busy_timeout
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = self._create_engine()
        self._schema_checked = False

    # -- connections -------------------------------------------------------------------------
    def _create_engine(self) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, poolclass=NullPool, connect_args={"connect_timeout": 10})
        # no file or folder is made here: only writers create the store (see _prepare_file)
        engine = create_engine(self.url, poolclass=NullPool, connect_args={"timeout": self.busy_timeout})
        busy_ms = int(self.busy_timeout * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # autocommit at the driver; BEGIN is ours (below)
            dbapi_conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            dbapi_conn.execute("PRAGMA foreign_keys = ON")
            dbapi_conn.execute("PRAGMA synchronous = NORMAL")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            writing = conn.get_execution_options().get("qprof_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

        return engine

    def _failure(self, exc: Exception) -> StoreError:
        detail = " ".join(str(getattr(exc, "orig", exc) or exc).split())[:300]
        if self.url.password:
            detail = detail.replace(str(self.url.password), "***")
        if isinstance(exc, (OperationalError, sqlite3.OperationalError)) and "locked" in detail:
            return StoreError(
                f"history store {self.description} stayed locked for {self.busy_timeout:g} s",
                hint="another qprof snapshot is writing; try again, or space the cron runs further apart",
            )
        return StoreError(f"history store {self.description}: {detail}", hint="check --store / $QPROF_STORE")

    @property
    def _file(self) -> Path | None:
        """The SQLite file of the store (None for PostgreSQL and in-memory stores)."""
        if self.is_sqlite and self.url.database not in (None, "", ":memory:"):
            return Path(self.url.database)
        return None

    @property
    def location(self) -> str:
        """How the user would name this store again (a path, or the URL without its password)."""
        return str(self._file) if self._file is not None else self.description

    def _missing(self) -> BadInput:
        return BadInput(
            f"no history store at {self.location}",
            hint=f"record one with: qprof snapshot --db DATABASE --store {self.location}",
        )

    def _prepare_file(self) -> None:
        """Create the SQLite file (and its folder) in WAL mode, so readers never block writers.

        WAL is a property of the file, set once by a writer: readers leave the file as it is.
        An unusable path is the user's to fix, not a crash.
        """
        path = self._file
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(
                f"cannot create the history store at {path}: {exc.strerror or exc}",
                hint="choose another --store (or $QPROF_STORE) in a folder you can write to",
            ) from None
        try:
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA journal_mode = WAL")
            finally:
                raw.close()
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise self._failure(exc) from None

    def require_existing(self) -> None:
        """Fail unless the store exists, without creating anything (for readers and pruners)."""
        if self._schema_checked:
            return
        path = self._file
        if path is not None and not path.is_file():
            raise self._missing()
        self.ensure_schema(create=False)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that holds the store's writer lock; commits only if the block finishes."""
        self.ensure_schema()
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(qprof_write=True)
                with conn.begin():
                    self._lock(conn)
                    yield conn
        except SQLAlchemyError as exc:
            raise self._failure(exc) from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction; a store that does not exist yet is an error, and is not created."""
        self.require_existing()
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise self._failure(exc) from None

    def _lock(self, conn: Connection) -> None:
        if not self.is_sqlite:
            conn.execute(text(f"SET LOCAL lock_timeout = '{int(self.busy_timeout * 1000)}ms'"))
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ------------------------------------------------------------------------------
    def schema_version(self, conn: Connection) -> int:
        if not conn.dialect.has_table(conn, s.meta.name):
            return 0
        value = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "schema_version")).scalar()
        return int(value) if value is not None else 0

    def ensure_schema(self, *, create: bool = True) -> None:
        """Create or upgrade the schema; concurrent first runs serialise on the writer lock.

        With ``create=False`` (readers) a database without qprof's tables is reported as no
        store rather than given them; an existing store of an older version is still upgraded.
        """
        if self._schema_checked:
            return
        if create:
            self._prepare_file()
        try:
            with self.engine.connect() as conn:
                with conn.begin():
                    current = self.schema_version(conn)
                if current == 0 and not create:
                    raise self._missing()
                if current == s.SCHEMA_VERSION:
                    self._schema_checked = True
                    return
                if current > s.SCHEMA_VERSION:
                    raise StoreError(
                        f"history store {self.description} has schema version {current}, newer than this qprof understands ({s.SCHEMA_VERSION})",
                        hint="upgrade qprof",
                    )
                conn = conn.execution_options(qprof_write=True)
                with conn.begin():
                    self._lock(conn)
                    current = self.schema_version(conn)  # another process may have done it meanwhile
                    for version in range(current + 1, s.SCHEMA_VERSION + 1):
                        s.UPGRADES[version](conn)
                    if current < s.SCHEMA_VERSION:
                        conn.execute(delete(s.meta).where(s.meta.c.key == "schema_version"))
                        conn.execute(insert(s.meta).values(key="schema_version", value=str(s.SCHEMA_VERSION)))
        except SQLAlchemyError as exc:
            raise self._failure(exc) from None
        self._schema_checked = True

    # -- targets -----------------------------------------------------------------------------
    def _target_id(self, conn: Connection, identity: str, name: str, database: str, description: str) -> int:
        identity = redact.output(identity)  # looked up as stored
        row = conn.execute(select(s.targets.c.id, s.targets.c.name).where(s.targets.c.identity == identity)).first()
        if row is not None:
            if row.name != name:
                conn.execute(update(s.targets).where(s.targets.c.id == row.id).values(**stored({"name": name, "description": description})))
            return int(row.id)
        return int(
            conn.execute(
                insert(s.targets).values(
                    **stored({"identity": identity, "name": name, "database": database, "description": description}),
                    created_at=utcnow(),
                )
            ).inserted_primary_key[0]
        )

    def targets(self) -> list[TargetRow]:
        with self.read() as conn:
            rows = conn.execute(select(s.targets).order_by(s.targets.c.name, s.targets.c.id)).all()
        return [TargetRow(r.id, r.identity, r.name, r.database, r.description) for r in rows]

    def find_target(self, selector: str | None) -> TargetRow:
        """The target called ``selector`` (name, identity or database); the only one when None."""
        known = self.targets()
        if not known:
            raise StoreError(
                f"history store {self.description} holds no snapshots yet",
                hint="take one: qprof snapshot --db <database> (twice, some time apart, for a window)",
            )
        if selector is None:
            if len(known) == 1:
                return known[0]
            names = ", ".join(t.name for t in known)
            raise QprofError(
                f"history store {self.description} holds several databases: {names}",
                hint="choose one with --target NAME (or --db)",
            )
        for attribute in ("name", "identity", "database"):
            matches = [t for t in known if getattr(t, attribute) == selector]
            if len(matches) == 1:
                return matches[0]
        names = ", ".join(f"{t.name} ({t.identity})" for t in known)
        raise QprofError(f"no database {selector!r} in history store {self.description}", hint=f"known: {names}")

    # -- snapshots ---------------------------------------------------------------------------
    def save_snapshot(self, data: SnapshotData, *, before_commit: Any = None) -> int:
        """Insert one snapshot with all its rows in a single transaction; returns its id."""
        with self.write() as conn:
            target_id = self._target_id(conn, data.identity, data.name, data.database, data.description)
            snapshot_id = int(
                conn.execute(
                    insert(s.snapshots).values(
                        target_id=target_id,
                        taken_at=data.taken_at,
                        server_started=data.server_started,
                        pss_stats_reset=data.pss_stats_reset,
                        pss_dealloc=data.pss_dealloc,
                        db_stats_reset=data.db_stats_reset,
                        server_version=data.server_version,
                        settings=stored({"settings": data.settings})["settings"],
                        statement_count=len(data.statements),
                        duration_ms=data.duration_ms,
                    )
                ).inserted_primary_key[0]
            )
            # redacted once, before the (queryid, user) keys are matched: a user name equal to a
            # password qprof was given is stored as *** and must be found as ***
            statements = _merged([stored(row) for row in data.statements])
            ids = self._statement_ids(conn, target_id, snapshot_id, statements)
            stat_rows = [{"snapshot_id": snapshot_id, "statement_id": ids[(row["queryid"], row["user_name"])], **row["counters"]} for row in statements]
            self._insert_many(conn, s.statement_stats, stat_rows)
            self._insert_many(conn, s.table_stats, [{"snapshot_id": snapshot_id, **row} for row in data.tables])
            self._insert_many(conn, s.index_stats, [{"snapshot_id": snapshot_id, **row} for row in data.indexes])
            if before_commit is not None:
                before_commit(snapshot_id)
        return snapshot_id

    @staticmethod
    def _insert_many(conn: Connection, table: Any, rows: Sequence[dict[str, Any]], chunk: int = 5000) -> None:
        for start in range(0, len(rows), chunk):
            conn.execute(insert(table), [stored(row) for row in rows[start : start + chunk]])

    def _statement_ids(self, conn: Connection, target_id: int, snapshot_id: int, rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], int]:
        """Ids of the statements in ``rows``, creating the ones this target has not had before."""
        query = select(s.statements.c.id, s.statements.c.queryid, s.statements.c.user_name).where(s.statements.c.target_id == target_id)
        known = {(r.queryid, r.user_name): r.id for r in conn.execute(query)}
        missing = [
            {"target_id": target_id, "queryid": r["queryid"], "user_name": r["user_name"], "query": r["query"], "first_snapshot_id": snapshot_id}
            for r in rows
            if (r["queryid"], r["user_name"]) not in known
        ]
        if missing:
            self._insert_many(conn, s.statements, missing)
            known = {(r.queryid, r.user_name): r.id for r in conn.execute(query)}
        return known

    def snapshots_frame(self, target_id: int) -> pd.DataFrame:
        """Every snapshot of a target, oldest first."""
        import pandas as pd

        query = (
            select(
                s.snapshots.c.id,
                s.snapshots.c.taken_at,
                s.snapshots.c.pss_stats_reset,
                s.snapshots.c.pss_dealloc,
                s.snapshots.c.db_stats_reset,
                s.snapshots.c.server_started,
                s.snapshots.c.statement_count,
                s.snapshots.c.server_version,
                s.snapshots.c.duration_ms,
            )
            .where(s.snapshots.c.target_id == target_id)
            .order_by(s.snapshots.c.taken_at, s.snapshots.c.id)
        )
        frame = self._frame(query)
        for column in ("taken_at", "pss_stats_reset", "db_stats_reset", "server_started"):
            frame[column] = pd.to_datetime(frame[column])
        return frame

    def _frame(self, query: Any) -> pd.DataFrame:
        """Rows of ``query`` as a DataFrame, built column by column (Row objects are slow to probe)."""
        import pandas as pd

        with self.read() as conn:
            result = conn.execute(query)
            keys = list(result.keys())
            rows = result.cursor.fetchall() if result.cursor is not None else []  # plain DBAPI tuples
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in keys]
        return pd.DataFrame({key: list(values) for key, values in zip(keys, columns, strict=True)}, columns=keys)

    def _numeric_frame(self, query: Any, integer_columns: Sequence[str]) -> pd.DataFrame:
        """Like :meth:`_frame` for all-numeric rows, through one float64 array (NULL becomes NaN)."""
        import numpy as np
        import pandas as pd

        with self.read() as conn:
            result = conn.execute(query)
            keys = list(result.keys())
            rows = result.cursor.fetchall() if result.cursor is not None else []
        frame = pd.DataFrame(np.array(rows, dtype="float64").reshape(len(rows), len(keys)), columns=keys)
        return frame.astype({column: "int64" for column in integer_columns})

    def statement_stats_frame(self, target_id: int, first_id: int, last_id: int) -> pd.DataFrame:
        """Cumulative statement counters of one target's snapshots with ids in [first_id, last_id]."""
        c = s.statement_stats.c
        # Σx² (from calls, mean, stddev) lets a window's stddev be derived from deltas
        sum_sq = (c.calls * (c.stddev_ms * c.stddev_ms + c.mean_ms * c.mean_ms)).label("sum_sq")
        query = select(c.snapshot_id, c.statement_id, c.calls, c.total_ms, c.rows, c.shared_blks_hit, c.shared_blks_read, c.temp_blks, c.io_ms, sum_sq).where(
            c.snapshot_id.in_(select(s.snapshots.c.id).where(s.snapshots.c.target_id == target_id)), c.snapshot_id.between(first_id, last_id)
        )
        return self._numeric_frame(query, ["snapshot_id", "statement_id"])

    def statement_max_frame(self, snapshot_id: int) -> pd.DataFrame:
        """Each statement's highest time (since its last reset) as of one snapshot."""
        c = s.statement_stats.c
        return self._numeric_frame(select(c.statement_id, c.max_ms).where(c.snapshot_id == snapshot_id), ["statement_id"])

    def statements_frame(self, target_id: int) -> pd.DataFrame:
        c = s.statements.c
        return self._frame(select(c.id.label("statement_id"), c.queryid, c.user_name, c.query, c.first_snapshot_id).where(c.target_id == target_id))

    def table_stats_frame(self, target_id: int, first_id: int, last_id: int) -> pd.DataFrame:
        t = s.table_stats
        return self._frame(
            select(t)
            .join(s.snapshots, s.snapshots.c.id == t.c.snapshot_id)
            .where(s.snapshots.c.target_id == target_id, t.c.snapshot_id.between(first_id, last_id))
        )

    def index_stats_frame(self, target_id: int, first_id: int, last_id: int) -> pd.DataFrame:
        t = s.index_stats
        return self._frame(
            select(t)
            .join(s.snapshots, s.snapshots.c.id == t.c.snapshot_id)
            .where(s.snapshots.c.target_id == target_id, t.c.snapshot_id.between(first_id, last_id))
        )

    def prune(self, older_than: datetime, target_id: int | None = None) -> int:
        """Delete snapshots taken before ``older_than`` (and statements no snapshot mentions any more)."""
        self.require_existing()  # pruning a mistyped store must not create it
        with self.write() as conn:
            where = [s.snapshots.c.taken_at < older_than]
            if target_id is not None:
                where.append(s.snapshots.c.target_id == target_id)
            doomed = select(s.snapshots.c.id).where(and_(*where)).scalar_subquery()
            # a run whose window starts or ends in a pruned snapshot goes with it
            runs = s.runs.c
            doomed_runs = select(runs.id).where(runs.start_snapshot_id.in_(doomed) | runs.end_snapshot_id.in_(doomed))
            conn.execute(delete(s.run_statements).where(s.run_statements.c.run_id.in_(doomed_runs.scalar_subquery())))
            conn.execute(delete(s.runs).where(runs.start_snapshot_id.in_(doomed) | runs.end_snapshot_id.in_(doomed)))
            for table in (s.statement_stats, s.table_stats, s.index_stats):
                conn.execute(delete(table).where(table.c.snapshot_id.in_(doomed)))
            count = conn.execute(delete(s.snapshots).where(and_(*where))).rowcount
            still_used = select(s.statement_stats.c.statement_id).distinct()
            conn.execute(delete(s.statements).where(s.statements.c.id.not_in(still_used)))
        return int(count or 0)

    # -- reports -----------------------------------------------------------------------------
    def record_report(self, target_id: int, start: datetime, end: datetime) -> None:
        with self.write() as conn:
            conn.execute(insert(s.reports).values(target_id=target_id, created_at=utcnow(), window_start=start, window_end=end))

    def last_report_end(self, target_id: int) -> datetime | None:
        with self.read() as conn:
            return conn.execute(select(func.max(s.reports.c.window_end)).where(s.reports.c.target_id == target_id)).scalar()

    # -- baselines ---------------------------------------------------------------------------
    def save_baseline(self, name: str, target_id: int | None, source: str, description: str, rows: Sequence[dict[str, Any]]) -> bool:
        """Store (or replace) a baseline; True when one of that name existed."""
        with self.write() as conn:
            old = conn.execute(select(s.baselines.c.id).where(s.baselines.c.name == name)).scalar()
            if old is not None:
                conn.execute(delete(s.baseline_statements).where(s.baseline_statements.c.baseline_id == old))
                conn.execute(delete(s.baselines).where(s.baselines.c.id == old))
            baseline_id = conn.execute(
                insert(s.baselines).values(name=name, target_id=target_id, created_at=utcnow(), **stored({"source": source, "description": description}))
            ).inserted_primary_key[0]
            self._insert_many(conn, s.baseline_statements, [{"baseline_id": baseline_id, **row} for row in rows])
        return old is not None

    def load_baseline(self, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with self.read() as conn:
            head = conn.execute(select(s.baselines).where(s.baselines.c.name == name)).mappings().first()
            if head is None:
                known = conn.execute(select(s.baselines.c.name).order_by(s.baselines.c.name)).scalars().all()
                raise QprofError(
                    f"no baseline {name!r} in history store {self.description}",
                    hint=f"known: {', '.join(known)}" if known else "save one: qprof baseline save NAME …",
                )
            rows = conn.execute(select(s.baseline_statements).where(s.baseline_statements.c.baseline_id == head["id"])).mappings().all()
        return dict(head), [dict(r) for r in rows]

    def baselines(self) -> list[dict[str, Any]]:
        query = (
            select(
                s.baselines.c.name,
                s.baselines.c.source,
                s.baselines.c.created_at,
                s.baselines.c.description,
                func.count(s.baseline_statements.c.key).label("statements"),
            )
            .outerjoin(s.baseline_statements, s.baseline_statements.c.baseline_id == s.baselines.c.id)
            .group_by(s.baselines.c.id, s.baselines.c.name, s.baselines.c.source, s.baselines.c.created_at, s.baselines.c.description)
            .order_by(s.baselines.c.name)
        )
        with self.read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # -- runs (qprof record) -----------------------------------------------------------------
    def start_run(self, name: str, snapshot_id: int, values: dict[str, Any]) -> int:
        """Register a run that starts at ``snapshot_id``; a taken name is a usage error.

        The check and the insert share the writer lock, so two runs started at once with one
        name cannot both have it.
        """
        with self.write() as conn:
            taken = conn.execute(select(s.runs.c.id).where(s.runs.c.name == name)).scalar()
            if taken is not None:
                raise BadInput(
                    f"a run named {name!r} already exists in {self.description}", hint="choose another --name (qprof record keeps every run for compare)"
                )
            target_id = conn.execute(select(s.snapshots.c.target_id).where(s.snapshots.c.id == snapshot_id)).scalar_one()
            return int(
                conn.execute(
                    insert(s.runs).values(
                        name=name, target_id=target_id, start_snapshot_id=snapshot_id, status="running", started_at=utcnow(), **stored(values)
                    )
                ).inserted_primary_key[0]
            )

    def finish_run(self, run_id: int, values: dict[str, Any], statements: Sequence[dict[str, Any]]) -> None:
        """Close a run: its end snapshot, exit code, status and measured percentiles, at once."""
        with self.write() as conn:
            conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(ended_at=utcnow(), **stored(values)))
            conn.execute(delete(s.run_statements).where(s.run_statements.c.run_id == run_id))
            self._insert_many(conn, s.run_statements, [{"run_id": run_id, **row} for row in statements])

    def run_names(self) -> list[str]:
        with self.read() as conn:
            return list(conn.execute(select(s.runs.c.name).order_by(s.runs.c.id)).scalars())

    def find_run(self, name: str) -> dict[str, Any] | None:
        """The run called ``name`` with its measured percentiles (``statements``), or None."""
        with self.read() as conn:
            head = conn.execute(select(s.runs).where(s.runs.c.name == name)).mappings().first()
            if head is None:
                return None
            rows = conn.execute(select(s.run_statements).where(s.run_statements.c.run_id == head["id"])).mappings().all()
        return {**dict(head), "statements": [dict(r) for r in rows]}

    def runs(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(r) for r in conn.execute(select(s.runs).order_by(s.runs.c.id)).mappings()]
