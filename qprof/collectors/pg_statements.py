"""Statement statistics from pg_stat_statements, in whichever shape the installed version has."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qprof import redact
from qprof.sqlfiles import load_sql
from qprof.errors import ExtensionMissing, QprofError
from qprof.extension_hints import PSS_PRELOAD, pg_stat_statements_hint
from qprof.model import StatementStats
from qprof.owntag import OWN_TAG
from qprof.targets.postgres import PostgresTarget

HIDDEN_TEXT = "<insufficient privilege>"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def statements_sql_name(extension_version: str) -> str:
    """Which SQL file matches the extension's columns: renamed in 1.8 (PG13), ``toplevel`` since
    1.9 (PG14), block times split in 1.11 (PG17)."""
    version = _version_tuple(extension_version)
    if version >= (1, 11):
        return "statements_pss111.sql"
    if version >= (1, 9):
        return "statements_pss19.sql"
    if version >= (1, 8):
        return "statements_pss18.sql"
    return "statements_pss17.sql"


def require_extension(target: PostgresTarget) -> str:
    """The installed pg_stat_statements version, or an ExtensionMissing that says how to enable it."""
    version = target.extension_version("pg_stat_statements")
    if version is None:
        raise ExtensionMissing(
            f"the pg_stat_statements extension is not created in database {target.database_name!r}",
            hint=pg_stat_statements_hint(target),
        )
    return version


@dataclass
class StatementScope:
    """Every statement of the scope, and the time the ``% of all statement time`` shares refer to.

    ``total_ms`` counts top-level entries only: with ``pg_stat_statements.track = all`` a
    statement run inside a function is also inside its caller's time, and counting it twice
    would shrink every share.
    """

    statements: list[StatementStats]
    total_ms: float


def collect_statement_scope(target: PostgresTarget, *, all_databases: bool = False) -> StatementScope:
    """All pg_stat_statements entries of the current database (or all), one per statement and role."""
    version = require_extension(target)
    query = load_sql("qprof.collectors", statements_sql_name(version))
    try:
        rows = target.fetch_all(
            query,
            {"all_databases": all_databases, "own_tag": OWN_TAG + "%"},
            what="reading pg_stat_statements",
        )
    except QprofError as exc:
        if "shared_preload_libraries" in exc.message:
            raise ExtensionMissing("pg_stat_statements is created but not preloaded", hint=PSS_PRELOAD) from None
        raise
    total_ms = sum(float(row["total_ms"]) for row in rows if row["toplevel"])
    return StatementScope(merge_entries(_statement(row) for row in rows), total_ms)


def collect_statements(
    target: PostgresTarget,
    *,
    all_databases: bool = False,
    user: str | None = None,
    min_calls: int = 1,
) -> list[StatementStats]:
    """The scope's statements run by ``user`` (any role when None) at least ``min_calls`` times."""
    scope = collect_statement_scope(target, all_databases=all_databases)
    return [s for s in scope.statements if (user is None or s.user == user) and s.calls >= min_calls]


def merge_entries(entries: Iterable[StatementStats]) -> list[StatementStats]:
    """One row per (database, role, queryid): a statement's top-level and nested entries summed.

    Mean and standard deviation are pooled from the parts, so the merged row reads as if
    pg_stat_statements had kept a single entry. Entries whose text (and queryid) another role
    may not see become one row per role.
    """
    merged: dict[tuple[str | None, str | None, str], StatementStats] = {}
    for entry in entries:
        key = (entry.database, entry.user, entry.queryid)
        into = merged.get(key)
        if into is None:
            merged[key] = entry
            continue
        calls = into.calls + entry.calls
        squares = sum(e.calls * (e.stddev_ms**2 + e.mean_ms**2) for e in (into, entry))
        into.total_ms += entry.total_ms
        into.mean_ms = into.total_ms / calls if calls else 0.0
        into.stddev_ms = max(squares / calls - into.mean_ms**2, 0.0) ** 0.5 if calls else 0.0
        into.calls = calls
        if into.toplevel_ms is not None or entry.toplevel_ms is not None:
            into.toplevel_ms = (into.toplevel_ms or 0.0) + (entry.toplevel_ms or 0.0)
        into.max_ms = max(into.max_ms, entry.max_ms)
        into.rows += entry.rows
        for name in ("shared_blks_hit", "shared_blks_read", "temp_blks", "io_ms"):
            setattr(into, name, (getattr(into, name) or 0) + (getattr(entry, name) or 0))
    return list(merged.values())


def _statement(row: dict) -> StatementStats:
    visible = row["query"] != HIDDEN_TEXT
    return StatementStats(
        queryid=row["queryid"] or "",
        query=redact.statement(row["query"] or ""),
        calls=int(row["calls"]),
        total_ms=float(row["total_ms"]),
        mean_ms=float(row["mean_ms"]),
        stddev_ms=float(row["stddev_ms"]),
        max_ms=float(row["max_ms"]),
        rows=int(row["rows"]),
        shared_blks_hit=int(row["shared_blks_hit"]),
        shared_blks_read=int(row["shared_blks_read"]),
        temp_blks=int(row["temp_blks"]),
        io_ms=float(row["io_ms"]),
        database=row["database"],
        user=row["user"],
        text_visible=visible,
        toplevel_ms=float(row["total_ms"]) if row["toplevel"] else 0.0,
    )
