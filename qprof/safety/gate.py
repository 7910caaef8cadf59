"""The one gate every execution passes: EXPLAIN ANALYZE, timed runs, bench, --verify timings.

A target carries the names the user allowed (``--allow-function``, lower-cased) and a cache of
verdicts, so a statement timed fifty times is judged once.
"""

from __future__ import annotations

from typing import Any

from qprof.safety.verdict import ExecutionRefused, Verdict


def allowed_names(target: Any) -> frozenset[str]:
    return frozenset(getattr(target, "allowed_functions", frozenset()))


def execution_verdict(target: Any, sql: str, params: Any = None) -> Verdict:
    """Whether ``sql`` (``$n`` placeholders) may be executed on ``target``, and if not, why."""
    cache: dict[tuple[str, frozenset[str]], Verdict] | None = getattr(target, "verdicts", None)
    allowed = allowed_names(target)
    if cache is not None and (sql, allowed) in cache:
        return cache[(sql, allowed)]
    if target.engine == "sqlite":
        verdict = _sqlite(target, sql, params, allowed)
    else:
        from qprof.safety.pg_resolve import postgres_verdict

        verdict = postgres_verdict(target, sql, allowed)
    if cache is not None:
        cache[(sql, allowed)] = verdict
    return verdict


def _sqlite(target: Any, sql: str, params: Any, allowed: frozenset[str]) -> Verdict:
    import sqlite3

    from qprof import sqltext
    from qprof.safety.sqlite import sqlite_verdict

    count = sqltext.placeholder_count(sql)
    values = tuple(list(params or [])[:count]) + (None,) * max(count - len(params or []), 0)
    try:
        return sqlite_verdict(target.conn, sqltext.to_sqlite(sql), values, allowed)
    except sqlite3.Error as exc:
        message = str(exc)
        if message.startswith("no such function"):
            name = message.split(":", 1)[-1].strip()
            return Verdict(False, (f"{name}(): not a SQLite built-in, so what it does is unknown",), (name,))
        if message.startswith("unsafe use of"):  # SQLite's own guard for views and triggers (trusted_schema)
            return Verdict(False, (f"SQLite refuses it: {message}",))
        # SQLite cannot compile it, so it cannot run either: the execution reports the error.
        return Verdict(True)


def require_executable(target: Any, sql: str, params: Any = None) -> None:
    """Raise :class:`ExecutionRefused` unless ``sql`` may be executed."""
    verdict = execution_verdict(target, sql, params)
    if not verdict.allowed:
        raise ExecutionRefused(verdict)
