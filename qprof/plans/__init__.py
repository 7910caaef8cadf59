"""Plans: one model (:mod:`qprof.plans.model`) for both engines, and the runners that fill it.

``explain(target, sql, params)`` picks the engine's runner; callers that know the engine can
use :func:`qprof.plans.postgres.explain_postgres` / :func:`qprof.plans.sqlite.explain_sqlite`.
"""

from __future__ import annotations

from typing import Any

from qprof.plans.model import Plan, PlanNode


def explain(target: Any, sql: str, params: list | None = None, *, analyze: bool = True, generic: bool = False) -> Plan:
    """The plan of ``sql`` on ``target`` (PostgreSQL or SQLite), executed for real when ``analyze``."""
    if target.engine == "sqlite":
        from qprof.plans.sqlite import explain_sqlite

        return explain_sqlite(target, sql, None if generic else params, analyze=analyze)
    from qprof.plans.postgres import explain_postgres

    return explain_postgres(target, sql, params, analyze=analyze, generic=generic)


__all__ = ["Plan", "PlanNode", "explain"]
