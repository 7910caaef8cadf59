"""Owned builds: every index qprof creates on a real database, the marks that survive the process,
the locks that keep runs apart, and cleanup — by this run, and by the next one when this one was
killed.

Only this module (for ``--verify``/``--apply``) writes to a user's database, and only under an
explicit flag. Each index is built on a dedicated autocommit session (``CONCURRENTLY`` needs it)
with ``lock_timeout`` and no ``statement_timeout`` (``--build-timeout`` bounds a build); a session
advisory lock keeps two qprof builders apart.

Marks. Every index is built under a name of its own, ``qprof_<run>_<n>_<shape>`` (``<run>``: 8
hex digits, this process's run id), and, as soon as the build returns, gets ``COMMENT ON INDEX``
``qprof build run=… pid=… host=… at=…``. The name is there from the first instant (a build killed
half-way leaves an INVALID index under it); the comment says who and when. A kept index
(``--apply``) is renamed to its final name and its comment rewritten: from then on it is the
user's. While a run builds, its session holds a second advisory lock keyed by its run id, so a
later run can tell a live build from a leftover: a leftover is an index with qprof's build name
(and qprof's comment or none) whose run holds no lock. Every ``advise``/``check``/``indexes``
run reports those with the exact DROP; ``advise --cleanup`` drops them (CONCURRENTLY, lock
timeout, retries) and never touches an index without qprof's build name.

Ownership within a run: a build records every index it creates (:class:`Owned`), and cleanup
drops exactly those; an index name that exists already is never built over nor dropped. On a
partitioned table qprof builds ``ON ONLY`` the parent, one index of its own per partition
(``CONCURRENTLY``) and ``ATTACH``es those, so no user's partition index is ever attached to (and
dropped with) a qprof index.

Cleanup (after measuring, a failed or INVALID build, Ctrl-C, SIGTERM, SIGHUP) retries a ``DROP``
that waits for another session's lock with backoff until a deadline, reconnecting once when the
build session itself was terminated; what is still there is a :class:`Leftover` with the exact
command. Every index the run created and has not yet dropped or kept is also in a process-wide
list, so even a second Ctrl-C that stops cleanup leaves a report (:func:`pending_leftovers`).

Finding and dropping the leftovers of earlier runs is :mod:`qprof.advise.leftovers`; the run's
identity and its SQLite scratch folder are :mod:`qprof.advise.runs`.
"""

from __future__ import annotations

import itertools
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from qprof.advise.ddl import BUILD_NAME, create_index, drop_index
from qprof.advise.ddl import text as ddl_text
from qprof.advise.generator import MAX_NAME_BYTES, Recommendation, index_name
from qprof.advise.runs import current_run, run_dir
from qprof.errors import QprofError, StatementFailed
from qprof.owntag import tagged as own_tagged
from qprof.units import timeout_ms

# pg_try_advisory_lock key: "qprof" in ASCII, so other tools are unlikely to collide with it.
ADVISORY_KEY = 0x7170726F66
# Two-int advisory lock (RUN_LOCK_CLASS, run id) held by every live build session of a run.
RUN_LOCK_CLASS = 0x71707266
CLEANUP_SECONDS = 60.0  # how long cleanup keeps retrying a DROP that waits for another session's lock
CLEANUP_LOCK_TIMEOUT = 10.0  # lock wait of one cleanup attempt (longer than a build's)
BUILD_COMMENT = re.compile(r"^qprof build run=([0-9a-f]{8}) pid=([0-9]+) host=(\S*) at=(\S+) mark=([0-9a-f]{8}) \(")
# Not a secret: it only makes qprof's marks unlikely to be written by hand or by another tool, so
# an index a person named or commented like qprof's is never taken for a leftover.
MARK_KEY = b"qprof build mark v1"


_BUILDS = itertools.count(1)  # numbers this process's builds: every build name is its own


def mark_digest(*parts: object) -> str:
    """8 hex digits of an HMAC over ``parts``: what ties a build name or comment to its object."""
    import hashlib
    import hmac

    return hmac.new(MARK_KEY, "\x1f".join(map(str, parts)).encode(), hashlib.sha256).hexdigest()[:8]


def build_name(rec_name: str, table: object = "") -> str:
    """The name an index is built under: ``qprof_<run>_<n>_<mark>_<final name>``, cut to 63
    bytes; ``<mark>`` is a digest over run, n, the table (its oid; SQLite: its name) and the rest
    of the name, so only qprof's own builds on that very table carry a valid one."""
    run_id, n = current_run().id, next(_BUILDS)
    head = f"qprof_{run_id}_{n}_"
    rest = rec_name.encode()[: MAX_NAME_BYTES - len(head) - 9].decode(errors="ignore")
    return f"{head}{mark_digest(run_id, n, table, rest)}_{rest}"


def verified_run(name: str, table: object) -> str | None:
    """The run id of a build name whose mark is valid for ``table``; None for any other name."""
    match = BUILD_NAME.match(name)
    if not match:
        return None
    run_id, n, mark = match.groups()
    return run_id if mark_digest(run_id, int(n), table, name[match.end() :]) == mark else None


def verified_comment(comment: str | None, oid: int, name: str, run_id: str) -> bool:
    """Whether a build comment is qprof's own, written on this very index (oid and name) by that run."""
    found = BUILD_COMMENT.match(comment or "")
    return bool(found and found.group(1) == run_id and found.group(5) == mark_digest(oid, name, run_id))


# -- signals -------------------------------------------------------------------------------------
@contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal, a killed ssh session) raise KeyboardInterrupt here,
    so every ``finally`` block drops what was built, as on Ctrl-C."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {}
    try:
        for signum in wanted:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


# -- the writable session --------------------------------------------------------------------------
def run(conn: Any, statement: Any, params: Any = None) -> Any:
    """Execute on the writable connection, tagged ``/* qprof */`` (PostgreSQL)."""
    if isinstance(conn, BuildSession):
        conn = conn.live()
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(statement, tuple(params or ()))
    tagged = own_tagged(statement)
    try:
        return conn.execute(tagged, params)
    except Exception as exc:
        if getattr(conn, "closed", False):  # the server ended the session (pg_terminate_backend, restart)
            raise SessionLost(f"the build session ended: {_first_line(exc)}") from None
        raise


class SessionLost(StatementFailed):
    """The build session died under us; cleanup reconnects."""


class BuildSession:
    """The writable session of a build: autocommit, read-only off, ``lock_timeout`` kept, the read
    session's statement_timeout replaced by ``build_timeout`` (None: no limit), this run's
    advisory lock held — and reopened with the same settings when the server ended it."""

    def __init__(self, target: Any, *, lock_timeout: float, build_timeout: float | None = None) -> None:
        self.target = target
        self.engine = target.engine
        self.lock_timeout = lock_timeout
        self.build_timeout = build_timeout
        self.lock_ms = timeout_ms(lock_timeout)
        self.holds_global_lock = False
        self.conn: Any = self._open()

    def _open(self) -> Any:
        if self.engine == "sqlite":
            from qprof.targets.sqlite import _uri

            run_dir()  # marks this run as alive for its SQLite builds
            try:
                return sqlite3.connect(_uri(self.target.path, "rw"), uri=True, isolation_level=None)
            except sqlite3.Error as exc:
                raise QprofError(f"cannot open {self.target.path} for writing: {exc}") from None
        import psycopg

        try:
            conn = psycopg.connect(self.target._conninfo(), autocommit=True)
        except psycopg.Error as exc:
            raise QprofError(f"cannot open a writable session: {_first_line(exc)}") from None
        try:
            run(conn, "SET SESSION default_transaction_read_only = off")
            run(conn, f"SET lock_timeout = {self.lock_ms}")
            run(conn, f"SET statement_timeout = {timeout_ms(self.build_timeout) if self.build_timeout else 0}")
            run(conn, "SELECT pg_try_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, current_run().lock_id))
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def closed(self) -> bool:
        return bool(getattr(self.conn, "closed", False))

    def live(self) -> Any:
        return self.conn

    def reopen(self) -> None:
        """A new session in place of a dead one (the global builder lock too, when it was held)."""
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001, S110 - it is dead already
            pass
        self.conn = self._open()
        if self.holds_global_lock:
            run(self.conn, "SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,))

    def execute(self, statement: Any, params: Any = None) -> Any:
        return self.conn.execute(statement, params) if self.engine != "sqlite" else self.conn.execute(statement, tuple(params or ()))

    def close(self) -> None:
        self.conn.close()


@contextmanager
def writable_connection(target: Any, *, lock_timeout: float, build_timeout: float | None = None) -> Iterator[BuildSession]:
    """A :class:`BuildSession` for the duration of the block."""
    session = BuildSession(target, lock_timeout=lock_timeout, build_timeout=build_timeout)
    try:
        yield session
    finally:
        session.close()


@contextmanager
def advisory_lock(session: BuildSession, engine: str) -> Iterator[None]:
    """One qprof builder per database at a time."""
    if engine == "sqlite":
        yield
        return
    got = run(session, "SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()[0]
    if not got:
        raise QprofError(
            "another qprof advise --apply/--verify is running against this database",
            hint="wait for it to finish, then run again",
        )
    session.holds_global_lock = True
    try:
        yield
    finally:
        session.holds_global_lock = False
        try:
            run(session, "SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
        except Exception:  # noqa: BLE001, S110 - closing the session releases it anyway
            pass


# -- ownership -----------------------------------------------------------------------------------
@dataclass
class Owned:
    """The indexes one build created, parent first: exactly what its cleanup may drop."""

    names: list[tuple[str, str]] = field(default_factory=list)  # (schema, index) as built
    partitioned: set[tuple[str, str]] = field(default_factory=set)  # relkind 'I': no DROP … CONCURRENTLY
    final: dict[tuple[str, str], str] = field(default_factory=dict)  # the name each gets when kept
    how: str = ""  # how it was built, for the report

    @property
    def index(self) -> tuple[str, str]:
        """The (schema, name) of the index built for the recommendation (the parent)."""
        return self.names[0]


@dataclass
class Leftover:
    """An index qprof built and could not drop again: it stays, and is maintained on every write."""

    index: str  # for people: schema.name, control characters escaped
    drop: str
    reason: str
    table: str | None = None
    comment: str | None = None
    key: tuple[str, str] | None = None  # (schema, name) as in the catalog: what cleanup drops
    partitioned: bool = False

    def to_dict(self) -> dict[str, Any]:
        schema, name = self.key or (None, None)
        return {"index": self.index, "schema": schema, "name": name, "table": self.table, "drop": self.drop, "reason": self.reason, "comment": self.comment}

    def message(self) -> str:
        return f"could not drop {self.index}, which qprof built ({self.reason}): it is still there; run  {self.drop}"


# Indexes this process created and has neither dropped nor kept: reported when an interrupt
# (a second Ctrl-C during cleanup) stops the run before cleanup could finish.
_PENDING: dict[tuple[str, str], Leftover] = {}


def pending_leftovers() -> list[Leftover]:
    return list(_PENDING.values())


def shown(key: tuple[str, str], engine: str = "postgresql") -> str:
    """schema.name for a message: one line whatever the catalog holds (control characters escaped)."""
    from qprof.advise.ddl import needs_escape

    def one(part: str) -> str:
        return part.encode("unicode_escape").decode("ascii") if needs_escape(part) else part

    return one(key[1]) if engine == "sqlite" else f"{one(key[0])}.{one(key[1])}"


def _pending(key: tuple[str, str], engine: str, partitioned: bool) -> None:
    _PENDING[key] = Leftover(
        shown(key, engine),
        _drop_sql(key, partitioned, engine),
        "interrupted before cleanup finished; the next qprof advise/check/indexes run reports it and qprof advise --cleanup drops it",
        key=key,
        partitioned=partitioned,
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _exists_pg(conn: Any, schema: str, name: str) -> bool:
    from psycopg import sql

    ident = sql.Identifier(schema, name).as_string(None)
    return run(conn, "SELECT to_regclass(%s) IS NOT NULL", (ident,)).fetchone()[0]


def _exists_sqlite(conn: Any, name: str) -> bool:
    return bool(run(conn, "SELECT count(*) FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0])


def _create(conn: Any, statement: Any, key: tuple[str, str], owned: Owned, *, partitioned: bool = False) -> None:
    """Run one CREATE INDEX (never IF NOT EXISTS) and own what it made, even when it failed
    half-way (a cancelled CONCURRENTLY build leaves an INVALID index) — but not when the name
    turned out to be taken by someone else."""
    import psycopg

    _pending(key, "postgresql", partitioned)
    try:
        run(conn, statement)
    except psycopg.errors.DuplicateTable as exc:
        _PENDING.pop(key, None)
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


def _mark(conn: Any, owned: Owned, purpose: str) -> None:
    """``COMMENT ON INDEX`` every index of the build: who built it, when, for what."""
    from psycopg import sql

    me = current_run()
    for key in owned.names:
        oid = run(conn, "SELECT to_regclass(%s)::oid", (_ident(key),)).fetchone()[0]
        comment = me.comment(purpose, mark_digest(oid, key[1], me.id))
        run(conn, sql.SQL("COMMENT ON INDEX {} IS {}").format(sql.Identifier(*key), sql.Literal(comment)))


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


def build_owned(session: BuildSession, rec: Recommendation, engine: str, owned: Owned, *, purpose: str = "advise --verify") -> float:
    """Create the index under qprof's build name and mark it; milliseconds taken. Everything
    created is recorded in ``owned`` as it is created (so an interrupt still knows what to drop).
    Raises StatementFailed (SessionLost when the server ended the session)."""
    from psycopg import sql

    started = time.perf_counter()
    if isinstance(session, BuildSession) and session.closed:
        session.reopen()
    if engine == "sqlite":
        if _exists_sqlite(session, rec.name):
            raise StatementFailed(f"an index named {rec.name} already exists: not built, not touched")
        key = ("main", build_name(rec.name, rec.candidate.table))
        _pending(key, engine, False)
        try:
            run(session, create_index(rec.candidate, key[1], "sqlite"))
        except sqlite3.Error as exc:
            raise StatementFailed(f"creating {rec.name} failed: {_first_line(exc)}") from None
        finally:
            if _exists_sqlite(session, key[1]):
                owned.names.append(key)
                owned.final[key] = rec.name
            else:
                _PENDING.pop(key, None)
        owned.how = "CREATE INDEX"
        return (time.perf_counter() - started) * 1000.0
    schema, table = rec.candidate.schema, rec.candidate.table
    if _exists_pg(session, schema, rec.name):
        raise StatementFailed(f"an index named {schema}.{rec.name} already exists: not built, not touched")
    row = run(
        session,
        "SELECT c.oid, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (schema, table),
    ).fetchone()
    if row is None:
        raise StatementFailed(f"table {schema}.{table} does not exist")
    oid, kind = row
    top = (schema, build_name(rec.name, oid))
    owned.final[top] = rec.name
    if kind != "p":
        owned.how = "CREATE INDEX CONCURRENTLY"
        _create(session, create_index(rec.candidate, top[1], on=(schema, table), concurrently=True), top, owned)
        _mark(session, owned, purpose)
        return (time.perf_counter() - started) * 1000.0
    # Partitioned: ON ONLY the parent (attaches nothing by itself), then an index of our own on
    # each partition, attached one by one; the parent's index becomes valid with the last one.
    owned.how = "CREATE INDEX ON ONLY the parent + CONCURRENTLY per partition + ATTACH PARTITION"
    taken: set[tuple[str, str]] = {(schema, rec.name)}
    index_of: dict[int, tuple[str, str]] = {}
    for node in run(session, _PARTITION_TREE, (oid,)).fetchall():
        relid, parent, level, node_kind, node_schema, node_table = node
        if level == 0:
            key = top
        else:
            final = _free_name(session, node_schema, node_table, rec, taken)
            key = (node_schema, build_name(final, relid))
            owned.final[key] = final
        is_parent = node_kind == "p"
        statement = create_index(rec.candidate, key[1], on=(node_schema, node_table), concurrently=not is_parent, only=is_parent)
        _create(session, statement, key, owned, partitioned=is_parent)
        if level > 0 and parent in index_of:
            try:
                run(session, sql.SQL("ALTER INDEX {} ATTACH PARTITION {}").format(sql.Identifier(*index_of[parent]), sql.Identifier(*key)))
            except Exception as exc:
                if isinstance(exc, StatementFailed):
                    raise
                raise StatementFailed(f"attaching {key[1]} to {index_of[parent][1]} failed: {_first_line(exc)}") from None
        index_of[relid] = key
    _mark(session, owned, purpose)
    return (time.perf_counter() - started) * 1000.0


def _ident(key: tuple[str, str]) -> str:
    from psycopg import sql

    return sql.Identifier(*key).as_string(None)


def is_valid(session: Any, owned: Owned, engine: str) -> bool:
    if engine == "sqlite":
        return _exists_sqlite(session, owned.index[1])
    row = run(
        session,
        "SELECT x.indisvalid AND x.indisready FROM pg_index x WHERE x.indexrelid = to_regclass(%s)",
        (_ident(owned.index),),
    ).fetchone()
    return bool(row and row[0])


def real_size(session: Any, owned: Owned, engine: str) -> int | None:
    if engine == "sqlite":
        try:
            row = run(session, "SELECT SUM(pgsize) FROM dbstat WHERE name = ?", (owned.index[1],)).fetchone()
            return int(row[0]) if row and row[0] else None
        except sqlite3.Error:
            return None
    # A partitioned index has no storage of its own: add up its partitions' indexes (all levels).
    ident = _ident(owned.index)
    row = run(
        session,
        "SELECT COALESCE((SELECT sum(pg_relation_size(t.relid)) FROM pg_partition_tree(to_regclass(%s)) t), pg_relation_size(to_regclass(%s)))",
        (ident, ident),
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def keep_owned(session: BuildSession, owned: Owned, rec: Recommendation, engine: str) -> str | None:
    """Make a measured build the user's index: renamed to its final name(s), qprof's build mark
    replaced by a note of who created it. None when done; else why not (the caller drops it)."""
    from psycopg import sql

    try:
        if engine == "sqlite":
            # SQLite cannot rename an index: build it again under its final name, drop ours.
            if _exists_sqlite(session, rec.name):
                return f"an index named {rec.name} appeared meanwhile"
            run(session, create_index(rec.candidate, rec.name, "sqlite"))
            run(session, drop_index("main", owned.index[1], "sqlite"))
            _PENDING.pop(owned.index, None)
            owned.names.clear()
            return None
        note = f"created by qprof advise --apply (run {current_run().id}, {current_run().started:%Y-%m-%d %H:%M UTC})"
        # Every rename and its comment in one transaction: a failure (a name taken meanwhile, a
        # lock timeout) or a kill leaves every index under its build name and mark, for the
        # caller's cleanup or the next run's — never a half-kept partitioned index.
        with session.live().transaction():
            for key in owned.names:
                final = owned.final.get(key, key[1])
                run(session, sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(*key), sql.Identifier(final)))
                run(session, sql.SQL("COMMENT ON INDEX {} IS {}").format(sql.Identifier(key[0], final), sql.Literal(note)))
        for key in owned.names:
            _PENDING.pop(key, None)
        owned.names.clear()
        owned.partitioned.clear()
        return None
    except (StatementFailed, sqlite3.Error) as exc:
        return exc.message if isinstance(exc, StatementFailed) else _first_line(exc)
    except Exception as exc:  # noqa: BLE001 - psycopg.Error
        return _first_line(exc)


def drop_owned(session: Any, owned: Owned, engine: str, *, seconds: float | None = None) -> list[Leftover]:
    """Drop exactly what a build created, parent first (that drops attached partition indexes too).

    A DROP that waits for another session's lock is retried with backoff, each attempt with a
    longer lock wait, until ``seconds`` (default CLEANUP_SECONDS) have passed; a build session the
    server ended is reopened once. Then each index is checked to be gone. What is still there
    comes back as Leftovers. Never raises an error of its own (it runs in cleanup paths); an
    interrupt still propagates (the index stays in :func:`pending_leftovers`).
    """
    if not owned.names:
        return []
    if engine == "sqlite":
        leftovers = []
        for key in owned.names:
            statement = drop_index("main", key[1], "sqlite")
            try:
                run(session, statement)
                _PENDING.pop(key, None)
            except sqlite3.Error as exc:
                leftovers.append(Leftover(key[1], statement + ";", _first_line(exc), key=key))
        return leftovers
    deadline = time.monotonic() + (CLEANUP_SECONDS if seconds is None else seconds)
    reasons: dict[tuple[str, str], str] = {}
    for key in owned.names:
        statement = _drop_sql(key, key in owned.partitioned)
        delay = 0.2
        while True:
            remaining = deadline - time.monotonic()
            try:
                if isinstance(session, BuildSession) and session.closed:
                    session.reopen()  # the server ended it (terminated, restarted): a new one
                run(session, f"SET lock_timeout = {timeout_ms(max(0.05, min(CLEANUP_LOCK_TIMEOUT, remaining)))}")
                run(session, statement)
                reasons.pop(key, None)
                break
            except Exception as exc:  # noqa: BLE001 - psycopg.Error, a broken connection, no reconnect
                reasons[key] = exc.message if isinstance(exc, QprofError) else _first_line(exc)
                if _not_ours_to_drop(exc):
                    reasons[key] += "; only the owner of its table (or a member of that role, or a superuser) can drop it"
                    break  # no wait makes the privilege appear
                # a lock held by another session, or a server that is restarting: back off and try
                # again (a new session each time the old one is gone) until the deadline
                if getattr(session, "closed", False) and not isinstance(session, BuildSession):
                    break
                if time.monotonic() + delay >= deadline:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
    try:
        run(session, f"SET lock_timeout = {getattr(session, 'lock_ms', 5000)}")
    except Exception:  # noqa: BLE001, S110
        pass
    leftovers = []
    for key in owned.names:
        try:
            still = _exists_pg(session, *key)
        except Exception as exc:  # noqa: BLE001 - cannot even look: assume the worst
            still, reasons[key] = True, reasons.get(key) or _first_line(exc)
        if still:
            leftovers.append(
                Leftover(
                    shown(key), _drop_sql(key, key in owned.partitioned), reasons.get(key, "it was not dropped"), key=key, partitioned=key in owned.partitioned
                )
            )
        else:
            _PENDING.pop(key, None)
    return leftovers


def _not_ours_to_drop(exc: BaseException) -> bool:
    """A permission error ("must be owner of index …"): retrying cannot help."""
    return getattr(exc, "sqlstate", None) == "42501"


def _drop_sql(key: tuple[str, str], partitioned: bool, engine: str = "postgresql") -> str:
    return ddl_text(drop_index(*key, engine, concurrently=not partitioned)) + ";"
