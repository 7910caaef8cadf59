"""What to tell a user about a missing extension: install the package, create it, or preload it.

"Not installed" only when the server has no package for it (``pg_available_extensions``);
"CREATE EXTENSION" when the package is there; "preload" only when the library is not loaded
(a library in shared_preload_libraries defines its settings, e.g. pg_stat_statements.track).
"""

from __future__ import annotations

from typing import Any

PSS_PRELOAD = "add pg_stat_statements to shared_preload_libraries in postgresql.conf (shared_preload_libraries = 'pg_stat_statements') and restart the server"


def extension_available(target: Any, name: str) -> bool:
    """Whether the server has the extension's package installed (it may still need CREATE EXTENSION)."""
    return bool(target.fetch_value("SELECT count(*) FROM pg_available_extensions WHERE name = %s", (name,)))


def pss_preloaded(target: Any) -> bool:
    """Whether the pg_stat_statements library is loaded (its settings exist only then)."""
    return target.fetch_value("SELECT current_setting('pg_stat_statements.track', true)") is not None


def pg_stat_statements_hint(target: Any) -> str:
    """How to get pg_stat_statements working when the extension is not created in this database."""
    if not extension_available(target, "pg_stat_statements"):
        return "the server has no pg_stat_statements package: install PostgreSQL's contrib package, then " + (
            "CREATE EXTENSION pg_stat_statements;" if pss_preloaded(target) else PSS_PRELOAD + ", then CREATE EXTENSION pg_stat_statements;"
        )
    step = "as a superuser, run in that database: CREATE EXTENSION pg_stat_statements;"
    return step if pss_preloaded(target) else f"{step}  (it must also be preloaded: {PSS_PRELOAD})"


def hypopg_missing_message(target: Any) -> str:
    """Why the index advisor falls back to its heuristic, and the one step that fixes it."""
    if extension_available(target, "hypopg"):
        return (
            f"the hypopg extension is installed on the server but not created in database {target.database_name!r}: "
            "ranking with a rough heuristic (not the planner). Run CREATE EXTENSION hypopg; (or use --whatif build on staging)."
        )
    return (
        "HypoPG is not installed on the server: ranking with a rough heuristic (not the planner). "
        "Install HypoPG (e.g. postgresql-<major>-hypopg), or use --whatif build on staging for planner costs."
    )


def hypopg_create_hint(target: Any) -> str:
    """The step that makes HypoPG usable in this database."""
    if extension_available(target, "hypopg"):
        return "CREATE EXTENSION hypopg;"
    return "install HypoPG on the server (e.g. postgresql-<major>-hypopg), then CREATE EXTENSION hypopg;"
