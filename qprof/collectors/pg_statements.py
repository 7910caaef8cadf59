"""Statement statistics from pg_stat_statements, in whichever shape the installed version has."""

from __future__ import annotations

from qprof.collectors import load_sql
from qprof.errors import ExtensionMissing, QprofError
from qprof.model import StatementStats
from qprof.targets.postgres import OWN_TAG, PostgresTarget

HIDDEN_TEXT = "<insufficient privilege>"
CREATE_HINT = "CREATE EXTENSION pg_stat_statements;"
PRELOAD_HINT = (
    "add pg_stat_statements to shared_preload_libraries in postgresql.conf "
    "(shared_preload_libraries = 'pg_stat_statements') and restart the server"
)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def statements_sql_name(extension_version: str) -> str:
    """Which SQL file matches the extension's columns: renamed in 1.8 (PG13), split in 1.11 (PG17)."""
    version = _version_tuple(extension_version)
    if version >= (1, 11):
        return "statements_pss111.sql"
    if version >= (1, 8):
        return "statements_pss18.sql"
    return "statements_pss17.sql"


def require_extension(target: PostgresTarget) -> str:
    """The installed pg_stat_statements version, or an ExtensionMissing that says how to enable it."""
    version = target.extension_version("pg_stat_statements")
    if version is None:
        raise ExtensionMissing(
            f"the pg_stat_statements extension is not created in database {target.database_name!r}",
            hint=f"as a superuser, run in that database: {CREATE_HINT}  "
            f"(it must also be preloaded: {PRELOAD_HINT})",
        )
    return version


def collect_statements(
    target: PostgresTarget,
    *,
    all_databases: bool = False,
    user: str | None = None,
    min_calls: int = 1,
) -> list[StatementStats]:
    """Every pg_stat_statements entry in scope (current database unless ``all_databases``)."""
    version = require_extension(target)
    query = load_sql(statements_sql_name(version))
    try:
        rows = target.fetch_all(
            query,
            {"all_databases": all_databases, "user": user, "min_calls": min_calls, "own_tag": OWN_TAG.strip() + "%"},
            what="reading pg_stat_statements",
        )
    except QprofError as exc:
        if "shared_preload_libraries" in exc.message:
            raise ExtensionMissing("pg_stat_statements is created but not preloaded", hint=PRELOAD_HINT) from None
        raise
    return [_statement(row) for row in rows]


def _statement(row: dict) -> StatementStats:
    visible = row["query"] != HIDDEN_TEXT
    return StatementStats(
        queryid=row["queryid"] or "",
        query=row["query"] or "",
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
    )
