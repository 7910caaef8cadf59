"""``--apply`` and ``--verify`` builds: create indexes the way a careful DBA would, and never
destroy one qprof did not build.

Only this module and verification write to the database, and only under an explicit flag. Each
index is built on a dedicated autocommit connection (``CONCURRENTLY`` needs it) with
``lock_timeout`` and no ``statement_timeout`` (a build may take long; ``--build-timeout`` bounds
it); a session advisory lock keeps two qprof runs from building at once.

Ownership: a build records every index it creates (:class:`Owned`), and cleanup drops exactly
those. An index name that already exists is never built over nor dropped. On a partitioned
table a plain ``CREATE INDEX`` on the parent would ATTACH a user's matching partition index,
which dropping the parent index would then destroy; so qprof builds ``ON ONLY`` the parent, one
index of its own per partition (leaves ``CONCURRENTLY``) and ``ATTACH``es those.

Cleanup (after verification, a failed or INVALID build, Ctrl-C, SIGTERM) retries a ``DROP``
that waits for another session's lock, with backoff until a deadline; whatever still exists
then is reported as a :class:`Leftover` with the exact command to drop it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from qprof.advise.ddl import create_index, drop_index
from qprof.advise.ddl import text as ddl_text
from qprof.advise.generator import Recommendation, index_name
from qprof.errors import QprofError, StatementFailed
from qprof.units import timeout_ms

# pg_try_advisory_lock key: "qprof" in ASCII, so other tools are unlikely to collide with it.
ADVISORY_KEY = 0x7170726F66
OWN_TAG = "/* qprof */ "  # as PostgresTarget tags its queries: pg_stat_statements results leave them out
CLEANUP_SECONDS = 60.0  # how long cleanup keeps retrying a DROP that waits for another session's lock
CLEANUP_LOCK_TIMEOUT = 10.0  # lock wait of one cleanup attempt (longer than a build's)


def run(conn: Any, statement: Any, params: Sequence | None = None) -> Any:
    """Execute on the writable connection, tagged ``/* qprof */`` (PostgreSQL)."""
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(statement, tuple(params or ()))
    from psycopg import sql

    tagged = OWN_TAG + statement if isinstance(statement, str) else sql.SQL(OWN_TAG) + statement
    return conn.execute(tagged, params)


@contextmanager
def writable_connection(target: Any, *, lock_timeout: float, build_timeout: float | None = None) -> Iterator[Any]:
    """A second connection that may write: autocommit, read-only off, lock_timeout kept, and the
    read session's statement_timeout replaced by ``build_timeout`` (None: no limit)."""
    if target.engine == "sqlite":
        from qprof.targets.sqlite import _uri

        try:
            conn = sqlite3.connect(_uri(target.path, "rw"), uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise QprofError(f"cannot open {target.path} for writing: {exc}") from None
        try:
            yield conn
        finally:
            conn.close()
        return
    import psycopg

    try:
        conn = psycopg.connect(target._conninfo(), autocommit=True)
    except psycopg.Error as exc:
        raise QprofError(f"cannot open a writable session: {exc}") from None
    try:
        run(conn, "SET SESSION default_transaction_read_only = off")
        run(conn, f"SET lock_timeout = {timeout_ms(lock_timeout)}")
        run(conn, f"SET statement_timeout = {timeout_ms(build_timeout) if build_timeout else 0}")
        conn.qprof_lock_ms = timeout_ms(lock_timeout)  # type: ignore[attr-defined]
        yield conn
    finally:
        conn.close()


@contextmanager
def advisory_lock(conn: Any, engine: str) -> Iterator[None]:
    if engine == "sqlite":
        yield
        return
    got = run(conn, "SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()[0]
    if not got:
        raise QprofError(
            "another qprof advise --apply/--verify is running against this database",
            hint="wait for it to finish, then run again",
        )
    try:
        yield
    finally:
        try:
            run(conn, "SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
        except Exception:  # noqa: BLE001 - closing the session releases it anyway
            pass


def qualified_index(rec: Recommendation) -> str:
    from psycopg import sql

    return sql.Identifier(rec.candidate.schema, rec.name).as_string(None)


# -- ownership -----------------------------------------------------------------------------------
@dataclass
class Owned:
    """The indexes one build created, parent first: exactly what its cleanup may drop."""

    names: list[tuple[str, str]] = field(default_factory=list)  # (schema, index)
    partitioned: set[tuple[str, str]] = field(default_factory=set)  # relkind 'I': no DROP … CONCURRENTLY
    how: str = ""  # how it was built, for the report


@dataclass
class Leftover:
    """An index qprof built and could not drop again: it stays, and is maintained on every write."""

    index: str
    drop: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"index": self.index, "drop": self.drop, "reason": self.reason}

    def message(self) -> str:
        return f"could not drop {self.index}, which qprof built ({self.reason}): it is still there; run  {self.drop}"


def _exists_pg(conn: Any, schema: str, name: str) -> bool:
    from psycopg import sql

    ident = sql.Identifier(schema, name).as_string(None)
    return run(conn, "SELECT to_regclass(%s) IS NOT NULL", (ident,)).fetchone()[0]


def _exists_sqlite(conn: Any, name: str) -> bool:
    return bool(conn.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0])


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _create(conn: Any, statement: Any, key: tuple[str, str], owned: Owned, *, partitioned: bool = False) -> None:
    """Run one CREATE INDEX (never IF NOT EXISTS) and own what it made, even when it failed
    half-way (a cancelled CONCURRENTLY build leaves an INVALID index) — but not when the name
    turned out to be taken by someone else."""
    import psycopg

    try:
        run(conn, statement)
    except psycopg.errors.DuplicateTable as exc:
        raise StatementFailed(f"an index named {key[1]} already exists: not built, not touched ({_first_line(exc)})") from None
    except BaseException as exc:
        owned.names.append(key)
        if partitioned:
            owned.partitioned.add(key)
        if isinstance(exc, psycopg.Error):
            raise StatementFailed(f"creating {key[1]} failed: {_first_line(exc)}") from None
        raise
    owned.names.append(key)
    if partitioned:
        owned.partitioned.add(key)


def _index_sql(candidate: Any, name: str, schema: str, table: str, *, concurrently: bool, only: bool) -> Any:
    return create_index(candidate, name, on=(schema, table), concurrently=concurrently, only=only)


_PARTITION_TREE = """
SELECT t.relid::oid AS relid, t.parentrelid::oid AS parent, t.level, c.relkind::text AS kind,
       n.nspname AS schema, c.relname AS name
FROM pg_partition_tree(%s::regclass) t
JOIN pg_class c ON c.oid = t.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY t.level, n.nspname, c.relname
"""


def _free_name(conn: Any, schema: str, table: str, rec: Recommendation, taken: set[tuple[str, str]]) -> str:
    """A readable name for a partition's index that nothing in the schema uses yet."""
    shape = replace(rec.candidate, schema=schema, table=table)
    name = index_name(shape)
    attempt = 0
    while (schema, name) in taken or _exists_pg(conn, schema, name):
        attempt += 1
        name = index_name(shape, {name}) if attempt == 1 else f"{index_name(shape, {name})[:-4][:54]}_{attempt}_idx"
        if attempt > 50:
            raise StatementFailed(f"no free index name on {schema}.{table}")
    taken.add((schema, name))
    return name


def build_owned(conn: Any, rec: Recommendation, engine: str, owned: Owned) -> float:
    """Create the index; milliseconds taken. Everything created is recorded in ``owned`` as it is
    created (so an interrupt still knows what to drop). Raises StatementFailed."""
    from psycopg import sql

    started = time.perf_counter()
    if engine == "sqlite":
        if _exists_sqlite(conn, rec.name):
            raise StatementFailed(f"an index named {rec.name} already exists: not built, not touched")
        try:
            conn.execute(rec.ddl.replace("CREATE INDEX IF NOT EXISTS", "CREATE INDEX", 1))
        except sqlite3.Error as exc:
            raise StatementFailed(f"creating {rec.name} failed: {_first_line(exc)}") from None
        finally:
            if _exists_sqlite(conn, rec.name):
                owned.names.append(("main", rec.name))
        owned.how = "CREATE INDEX"
        return (time.perf_counter() - started) * 1000.0
    schema, table = rec.candidate.schema, rec.candidate.table
    if _exists_pg(conn, schema, rec.name):
        raise StatementFailed(f"an index named {schema}.{rec.name} already exists: not built, not touched")
    row = run(
        conn,
        "SELECT c.oid, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (schema, table),
    ).fetchone()
    if row is None:
        raise StatementFailed(f"table {schema}.{table} does not exist")
    oid, kind = row
    if kind != "p":
        owned.how = "CREATE INDEX CONCURRENTLY"
        _create(conn, _index_sql(rec.candidate, rec.name, schema, table, concurrently=True, only=False), (schema, rec.name), owned)
        return (time.perf_counter() - started) * 1000.0
    # Partitioned: ON ONLY the parent (attaches nothing by itself), then an index of our own on
    # each partition, attached one by one; the parent's index becomes valid with the last one.
    owned.how = "CREATE INDEX ON ONLY the parent + CONCURRENTLY per partition + ATTACH PARTITION"
    taken: set[tuple[str, str]] = {(schema, rec.name)}
    index_of: dict[int, tuple[str, str]] = {}
    for node in run(conn, _PARTITION_TREE, (oid,)).fetchall():
        relid, parent, level, node_kind, node_schema, node_table = node
        if level == 0:
            key = (schema, rec.name)
        else:
            key = (node_schema, _free_name(conn, node_schema, node_table, rec, taken))
        is_parent = node_kind == "p"
        statement = _index_sql(rec.candidate, key[1], node_schema, node_table, concurrently=not is_parent, only=is_parent)
        _create(conn, statement, key, owned, partitioned=is_parent)
        if level > 0 and parent in index_of:
            try:
                run(conn, sql.SQL("ALTER INDEX {} ATTACH PARTITION {}").format(sql.Identifier(*index_of[parent]), sql.Identifier(*key)))
            except Exception as exc:  # noqa: BLE001 - psycopg.Error
                raise StatementFailed(f"attaching {key[1]} to {index_of[parent][1]} failed: {_first_line(exc)}") from None
        index_of[relid] = key
    return (time.perf_counter() - started) * 1000.0


def is_valid(conn: Any, rec: Recommendation, engine: str) -> bool:
    if engine == "sqlite":
        return _exists_sqlite(conn, rec.name)
    row = run(
        conn,
        "SELECT x.indisvalid AND x.indisready FROM pg_index x WHERE x.indexrelid = to_regclass(%s)",
        (qualified_index(rec),),
    ).fetchone()
    return bool(row and row[0])


def real_size(conn: Any, rec: Recommendation, engine: str) -> int | None:
    if engine == "sqlite":
        try:
            row = conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = ?", (rec.name,)).fetchone()
            return int(row[0]) if row and row[0] else None
        except sqlite3.Error:
            return None
    # A partitioned index has no storage of its own: add up its partitions' indexes (all levels).
    row = run(
        conn,
        "SELECT COALESCE((SELECT sum(pg_relation_size(t.relid)) FROM pg_partition_tree(to_regclass(%s)) t), "
        "pg_relation_size(to_regclass(%s)))",
        (qualified_index(rec), qualified_index(rec)),
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def drop_owned(conn: Any, owned: Owned, engine: str, *, seconds: float | None = None) -> list[Leftover]:
    """Drop exactly what a build created, parent first (that drops attached partition indexes too).

    A DROP that waits for another session's lock is retried with backoff, each attempt with a
    longer lock wait, until ``seconds`` (default CLEANUP_SECONDS) have passed; then each index
    is checked to be gone. What is still there comes back as Leftovers. Never raises an error
    of its own (it runs in cleanup paths); an interrupt still propagates.
    """
    if not owned.names:
        return []
    if engine == "sqlite":
        leftovers = []
        for _, name in owned.names:
            statement = drop_index("main", name, "sqlite")
            try:
                conn.execute(statement)
            except sqlite3.Error as exc:
                leftovers.append(Leftover(name, statement + ";", _first_line(exc)))
        return leftovers
    deadline = time.monotonic() + (CLEANUP_SECONDS if seconds is None else seconds)
    reasons: dict[tuple[str, str], str] = {}
    for key in owned.names:
        statement = _drop_sql(key, key in owned.partitioned)
        delay = 0.2
        while True:
            remaining = deadline - time.monotonic()
            try:
                run(conn, f"SET lock_timeout = {timeout_ms(max(0.05, min(CLEANUP_LOCK_TIMEOUT, remaining)))}")
                run(conn, statement)
                reasons.pop(key, None)
                break
            except Exception as exc:  # noqa: BLE001 - psycopg.Error, a broken connection
                reasons[key] = _first_line(exc)
                if getattr(conn, "closed", False) or time.monotonic() + delay >= deadline:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
    try:
        run(conn, f"SET lock_timeout = {getattr(conn, 'qprof_lock_ms', 5000)}")
    except Exception:  # noqa: BLE001
        pass
    leftovers = []
    for key in owned.names:
        try:
            still = _exists_pg(conn, *key)
        except Exception as exc:  # noqa: BLE001 - cannot even look: assume the worst
            still, reasons[key] = True, reasons.get(key) or _first_line(exc)
        if still:
            leftovers.append(Leftover(f"{key[0]}.{key[1]}", _drop_sql(key, key in owned.partitioned),
                                      reasons.get(key, "it was not dropped")))
    return leftovers


def _drop_sql(key: tuple[str, str], partitioned: bool) -> str:
    return ddl_text(drop_index(*key, concurrently=not partitioned)) + ";"


def apply_recommendations(
    target: Any,
    recs: Sequence[Recommendation],
    *,
    lock_timeout: float,
    build_timeout: float | None = None,
    leftovers: list[Leftover] | None = None,
    cleanup_seconds: float | None = None,
) -> list[dict[str, Any]]:
    """Create each index not already applied; report per index (created, valid, ms, size, error).

    A build that fails, ends INVALID or is interrupted (Ctrl-C, SIGTERM) has what it created
    dropped again before the error or interrupt goes on; what cannot be dropped is appended to
    ``leftovers``.
    """
    from qprof.advise.verify import sigterm_as_interrupt

    leftovers = leftovers if leftovers is not None else []
    report = []
    with sigterm_as_interrupt(), writable_connection(target, lock_timeout=lock_timeout, build_timeout=build_timeout) as conn, \
            advisory_lock(conn, target.engine):
        for rec in recs:
            if rec.applied:
                report.append({"index": rec.name, "created": True, "valid": rec.valid, "note": "kept from --verify"})
                continue
            entry: dict[str, Any] = {"index": rec.name, "created": False, "valid": False}
            owned = Owned()
            done = False
            try:
                ms = build_owned(conn, rec, target.engine, owned)
                entry["ms"] = round(ms, 1)
                valid = is_valid(conn, rec, target.engine)
                entry["valid"] = valid
                if not valid:
                    entry["error"] = "the index was built INVALID and has been dropped again"
                else:
                    done = True
                    entry["created"] = True
                    rec.applied, rec.valid = True, True
                    rec.real_size_bytes = rec.real_size_bytes or real_size(conn, rec, target.engine)
                    entry["size_bytes"] = rec.real_size_bytes
                    if rec.partitioned:
                        entry["how"] = owned.how
            except StatementFailed as exc:
                entry["error"] = exc.message
            finally:
                # Failed, INVALID or interrupted: drop what this build created (and only that).
                if not done and owned.names:
                    left = drop_owned(conn, owned, target.engine, seconds=cleanup_seconds)
                    leftovers.extend(left)
                    if left:
                        entry["leftover"] = [item.to_dict() for item in left]
            if entry.get("error"):
                rec.error = entry["error"]
            report.append(entry)
    return report
