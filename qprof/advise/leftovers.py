"""Leftovers of earlier runs: indexes a killed qprof run built and never dropped.

A leftover carries qprof's build name (``qprof_<run>_<n>_…``) and qprof's comment (or none: a
build killed half-way), and its run holds no advisory lock any more (PostgreSQL) or has no live
process (SQLite, by its run folder). Every ``advise``/``check``/``indexes`` run reports them with
the exact DROP; ``qprof advise --cleanup`` drops them with the safety of any cleanup
(CONCURRENTLY, lock timeout, retries) — and never an index without qprof's build name.
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
    signals_as_interrupt,
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


def find_leftovers(conn: Any, engine: str) -> tuple[list[Leftover], list[str]]:
    """Indexes earlier qprof runs built and never dropped (their run is gone), and the names of
    those a live run is still building or measuring (left alone). ``conn``: a target or a session."""
    me = current_run().id
    leftovers, live = [], []
    if engine == "sqlite":
        alive = live_run_ids()
        rows = _fetch(conn, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE 'qprof!_%' ESCAPE '!'")
        for row in rows:
            match = BUILD_NAME.match(row["name"])
            if not match or match.group(1) == me:
                continue
            if match.group(1) in alive:
                live.append(row["name"])
                continue
            leftovers.append(Leftover(row["name"], _drop_sql(("main", row["name"]), False, "sqlite"),
                                      "left behind when that run was killed", table=row["tbl_name"]))
        return leftovers, live
    from qprof.collectors import load_sql

    running = {int(row["run"]) for row in _fetch(conn, load_sql("qprof_live_runs.sql"), {"lock_class": RUN_LOCK_CLASS})}
    for row in _fetch(conn, load_sql("qprof_builds.sql")):
        match = BUILD_NAME.match(row["name"])
        comment = row["comment"]
        if not match or match.group(1) == me:
            continue
        if comment is not None and not BUILD_COMMENT.match(comment):
            continue  # someone wrote their own comment on it: not ours to judge
        if int(match.group(1), 16) in running:
            live.append(f"{row['schema']}.{row['name']}")
            continue
        state = "INVALID: its build never finished" if not row["valid"] else "valid"
        leftovers.append(Leftover(
            f"{row['schema']}.{row['name']}",
            _drop_sql((row["schema"], row["name"]), row["kind"] == "I"),
            f"left behind when that run was killed ({state})",
            table=f"{row['table_schema']}.{row['table_name']}",
            comment=comment,
        ))
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
    name = item.index.rsplit(".", 1)[-1]
    built = BUILD_COMMENT.match(item.comment or "")
    named = BUILD_NAME.match(name)
    who = f"qprof run {built.group(1)} (pid {built.group(2)} on {built.group(3)}, {built.group(4)})" if built else (
        f"qprof run {named.group(1)}" if named else "qprof")
    on = f" on {item.table}" if item.table else ""
    return (f"index {item.index}{on}, built by {who}, was {item.reason}; it is maintained on every write and "
            f"the planner uses it: drop it with  {item.drop}  (or: qprof advise --cleanup)")


def cleanup_leftovers(target: Any, *, lock_timeout: float, seconds: float | None = None) -> tuple[list[Leftover], list[Leftover], list[str]]:
    """``qprof advise --cleanup``: drop every leftover of an earlier run (only indexes with qprof's
    build name whose run holds no lock; CONCURRENTLY, lock timeout, retried). Returns (dropped,
    still there, live builds left alone)."""
    with signals_as_interrupt(), writable_connection(target, lock_timeout=lock_timeout) as session:
        found, live = find_leftovers(session, target.engine)
        dropped, failed = [], []
        for item in found:
            if target.engine == "sqlite":
                key = ("main", item.index)
            else:
                schema, _, name = item.index.partition(".")
                key = (schema, name)
            owned = Owned(names=[key], partitioned={key} if "CONCURRENTLY" not in item.drop and target.engine != "sqlite" else set())
            left = drop_owned(session, owned, target.engine, seconds=seconds)
            (failed if left else dropped).append(left[0] if left else item)
    return dropped, failed, live
