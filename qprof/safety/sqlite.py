"""SQLite: what a statement calls, as SQLite itself reports it while compiling the statement.

An authorizer callback sees every function, view body and trigger program the statement
compiles to (``EXPLAIN`` compiles without running anything), so nothing hides behind a view
or a trigger. Built-in functions run, except the few that load code or touch files.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from qprof.safety.allowlist import SQLITE_REFUSED, SQLITE_REFUSED_ACTIONS
from qprof.safety.verdict import Verdict

_ACTIONS = {sqlite3.SQLITE_ATTACH: "ATTACH", sqlite3.SQLITE_DETACH: "DETACH"}
SQLITE_FUNCTION = 31  # sqlite3 exposes it as SQLITE_FUNCTION only on newer Pythons


def _builtins(conn: sqlite3.Connection) -> set[str] | None:
    """Names of the functions SQLite was built with; None when PRAGMA function_list is missing (< 3.30)."""
    try:
        return {str(row[0]).lower() for row in conn.execute("PRAGMA function_list") if int(row[1])}
    except sqlite3.Error:
        return None


def sqlite_calls(conn: sqlite3.Connection, sql: str, params: Any = ()) -> tuple[list[tuple[str, str]], list[str]]:
    """(function name, where: the view or trigger or "" for the statement) pairs, and the
    database-level actions (ATTACH/DETACH) the statement would take."""
    functions: list[tuple[str, str]] = []
    actions: list[str] = []

    def authorizer(action: int, first: str | None, second: str | None, database: str | None, source: str | None) -> int:
        if action == SQLITE_FUNCTION and second:
            functions.append((second.lower(), source or ""))
        elif action in _ACTIONS:
            actions.append(_ACTIONS[action])
        return sqlite3.SQLITE_OK

    conn.set_authorizer(authorizer)
    try:
        conn.execute("EXPLAIN " + sql, params).fetchall()
    finally:
        conn.set_authorizer(None)
    return functions, actions


def sqlite_verdict(conn: sqlite3.Connection, sql: str, params: Any, allowed: frozenset[str]) -> Verdict:
    functions, actions = sqlite_calls(conn, sql, params)
    builtins = _builtins(conn)
    reasons, blocking = [], []
    for action in dict.fromkeys(actions):
        reasons.append(f"{action}: {SQLITE_REFUSED_ACTIONS[action]}")
    for name, source in dict.fromkeys(functions):
        if name in allowed:
            continue
        where = f" via {source}" if source else ""
        if name in SQLITE_REFUSED:
            reasons.append(f"{name}(){where}: {SQLITE_REFUSED[name]}")
        elif builtins is not None and name not in builtins:
            reasons.append(f"{name}(){where}: not a SQLite built-in, so what it does is unknown")
        else:
            continue
        blocking.append(name)
    return Verdict(not reasons, tuple(reasons), tuple(dict.fromkeys(blocking)))
