"""Leftovers of earlier runs: indexes a killed qprof run built and never dropped.

A leftover is an index whose build name carries a valid qprof mark (``qprof_<run>_<n>_<mark>_…``,
the mark a digest over run, n and the table's oid — see :mod:`qprof.advise.builds`) and either
no comment (a build killed before its comment) or qprof's build comment with a mark valid for
that very index; and its run holds no advisory lock any more (PostgreSQL) or has no live process
(SQLite). An index a person named or commented like qprof's is never one. Every
``advise``/``check``/``indexes`` run reports leftovers with the exact DROP; ``qprof advise
--cleanup`` (and ``--verify``/``--apply`` before measuring) drops them with the safety of any
cleanup (CONCURRENTLY, lock timeout, retries), checking right before each DROP that the run is
still gone.
"""

from __future__ import annotations

from typing import Any

from qprof.advise.builds import (
    BUILD_COMMENT,
    RUN_LOCK_CLASS,
    Leftover,
    Owned,
    _drop_sql,
    drop_owned,
    run,
    shown,
    signals_as_interrupt,
    verified_comment,
    verified_run,
    writable_connection,
)
from qprof.advise.ddl import BUILD_NAME
from qprof.advise.runs import current_run, live_run_ids
from qprof.errors import QprofError


def _fetch(conn: Any, query: str, params: Any = ()) -> list[dict[str, Any]]:
    """Rows as dicts from a read-only target or a build session."""
    if hasattr(conn, "fetch_all"):
        return conn.fetch_all(query, params or None, what="looking for indexes left by earlier qprof runs")
    cursor = run(conn, query, params or None)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _running(conn: Any, engine: str) -> set[str]:
    """The run ids of the qprof runs alive now."""
    if engine == "sqlite":
        return live_run_ids()
    from qprof.sqlfiles import load_sql

    rows = _fetch(conn, load_sql("qprof.collectors", "qprof_live_runs.sql"), {"lock_class": RUN_LOCK_CLASS})
    return {f"{int(row['run']) & 0xFFFFFFFF:08x}" for row in rows}


def find_leftovers(conn: Any, engine: str) -> tuple[list[Leftover], list[str]]:
    """Indexes earlier qprof runs built and never dropped (their run is gone), and the names of
    those a live run is still building or measuring (left alone). ``conn``: a target or a session.

    The indexes are listed before the live runs are read: a run takes its lock before it builds,
    so an index listed first whose run holds no lock afterwards belongs to a run that is gone."""
    me = current_run().id
    leftovers: list[Leftover] = []
    live: list[str] = []
    if engine == "sqlite":
        rows = _fetch(conn, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE 'qprof!_%' ESCAPE '!'")
        alive = _running(conn, engine)
        for row in rows:
            run_id = verified_run(row["name"], row["tbl_name"])
            if run_id is None or run_id == me:
                continue
            if run_id in alive:
                live.append(shown(("main", row["name"]), engine))
                continue
            key = ("main", row["name"])
            leftovers.append(
                Leftover(shown(key, engine), _drop_sql(key, False, "sqlite"), "left behind when that run was killed", table=row["tbl_name"], key=key)
            )
        return leftovers, live
    from qprof.sqlfiles import load_sql

    rows = _fetch(conn, load_sql("qprof.collectors", "qprof_builds.sql"))
    alive = _running(conn, engine)
    ours: dict[tuple[str, str], str] = {}  # every verified qprof build, by (schema, name): its run
    for row in rows:
        run_id = verified_run(row["name"], int(row["table_oid"]))
        comment = row["comment"]
        if run_id is None or (comment is not None and not verified_comment(comment, int(row["oid"]), row["name"], run_id)):
            continue  # not qprof's mark, or someone wrote their own comment on it: not ours to judge
        ours[(row["schema"], row["name"])] = run_id
    for row in rows:
        key = (row["schema"], row["name"])
        run_id = ours.get(key)
        if run_id is None or run_id == me:
            continue
        if run_id in alive:
            live.append(shown(key))
            continue
        parent = (row["parent_schema"], row["parent_name"]) if row["parent_name"] else None
        if parent in ours:
            continue  # a partition's index attached to a qprof build: dropping that one drops it
        table = shown((row["table_schema"], row["table_name"]))
        if parent is not None:
            # attached to an index that is not a build any more (an --apply renamed the parent and
            # was killed before this one): it is part of that index now; give it its final name
            from psycopg import sql

            final = row["name"][BUILD_NAME.match(row["name"]).end() :]
            rename = sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(*key), sql.Identifier(final)).as_string(None)
            leftovers.append(
                Leftover(
                    shown(key),
                    rename + ";",
                    f"attached to {shown(parent)}, which is no qprof build any more: it is part of that index and cannot be dropped alone; rename it",
                    table=table,
                    comment=comment,
                    key=key,
                    partitioned=True,
                )
            )
            continue
        state = "INVALID: its build never finished" if not row["valid"] else "valid"
        leftovers.append(
            Leftover(
                shown(key),
                _drop_sql(key, row["kind"] == "I"),
                f"left behind when that run was killed ({state})",
                table=table,
                comment=comment,
                key=key,
                partitioned=row["kind"] == "I",
            )
        )
    return leftovers, live


def leftover_notes(target: Any) -> tuple[list[Leftover], list[str]]:
    """What every ``advise``/``check``/``indexes`` run says about earlier runs' leftovers: the
    leftovers, and one line each (``qprof advise --cleanup`` drops them). Never fails the run."""
    try:
        found, _ = find_leftovers(target, target.engine)
    except QprofError as exc:
        return [], [f"could not look for indexes left by earlier qprof runs: {exc.message}"]
    return found, [leftover_line(item) for item in found]


def report_leftovers(target: Any, warn: Any) -> list[Leftover]:
    """The hook of ``advise``/``check``/``indexes``: one warning per leftover of an earlier run."""
    found, lines = leftover_notes(target)
    for line in lines:
        warn(line)
    return found


def leftover_line(item: Leftover) -> str:
    """One line a user can act on: which index, who built it, and the exact DROP."""
    name = (item.key or ("", item.index))[1]
    built = BUILD_COMMENT.match(item.comment or "")
    named = BUILD_NAME.match(name)
    who = (
        f"qprof run {built.group(1)} (pid {built.group(2)} on {shown(('', built.group(3)), 'sqlite')}, {built.group(4)})"
        if built
        else (f"qprof run {named.group(1)}" if named else "qprof")
    )
    on = f" on {item.table}" if item.table else ""
    if item.drop.startswith("ALTER INDEX"):
        return f"index {item.index}{on}, built by {who}, was {item.reason}:  {item.drop}  (or: qprof advise --cleanup)"
    cost = (
        "it is maintained on every write and the planner uses it"
        if "INVALID" not in item.reason
        else "it is maintained on every write, though the planner cannot use it"
    )
    how = "" if "can drop it" in item.reason else "  (or: qprof advise --cleanup)"
    return f"index {item.index}{on}, built by {who}, was {item.reason}; {cost}: drop it with  {item.drop}{how}"


def cleanup_leftovers(
    target: Any, *, lock_timeout: float, seconds: float | None = None, on_progress: Any = None
) -> tuple[list[Leftover], list[Leftover], list[str]]:
    """``qprof advise --cleanup``: drop every leftover of an earlier run (CONCURRENTLY, lock
    timeout, retried), each only after checking once more that its run is still gone. Returns
    (dropped, still there, live builds left alone). ``on_progress(dropped, remaining)`` is called
    before each DROP, so an interrupt can say what remains."""
    with signals_as_interrupt(), writable_connection(target, lock_timeout=lock_timeout) as session:
        found, live = find_leftovers(session, target.engine)
        dropped: list[Leftover] = []
        failed: list[Leftover] = []
        for position, item in enumerate(found):
            if on_progress is not None:
                on_progress(dropped, found[position:])
            key = item.key or ("main", item.index)
            run_id = BUILD_NAME.match(key[1]).group(1)
            if run_id in _running(session, target.engine):  # it came back (a build session reopened)
                live.append(item.index)
                continue
            if item.drop.startswith("ALTER INDEX"):
                try:
                    run(session, item.drop.rstrip(";"))
                    dropped.append(item)
                except Exception as exc:  # noqa: BLE001 - psycopg.Error: reported with the command
                    failed.append(
                        Leftover(
                            item.index, item.drop, f"{item.reason}; renaming failed: {str(exc).strip().splitlines()[0]}", item.table, item.comment, key, True
                        )
                    )
                continue
            owned = Owned(names=[key], partitioned={key} if item.partitioned else set())
            left = drop_owned(session, owned, target.engine, seconds=seconds)
            if left:
                if "can drop it" in left[0].reason:
                    left[0].reason += f" (the owner is role {_owner(session, key)})"
                failed.append(
                    Leftover(
                        item.index, item.drop, f"{item.reason}, and could not be dropped now: {left[0].reason}", item.table, item.comment, key, item.partitioned
                    )
                )
            else:
                dropped.append(item)
    return dropped, failed, live


def _owner(session: Any, key: tuple[str, str]) -> str:
    """The role that owns an index (its table's owner), for a "who can drop it" message."""
    from psycopg import sql

    try:
        row = run(session, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(%s)", (sql.Identifier(*key).as_string(None),)).fetchone()
    except Exception:  # noqa: BLE001 - only for the message
        return "unknown"
    return shown(("", row[0]), "sqlite") if row and row[0] else "unknown"
