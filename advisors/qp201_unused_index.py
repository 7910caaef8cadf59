"""QP201 index.unused — an index no query has used since statistics were reset.

Anti-pattern: indexes created "just in case" or left behind by a changed query. Each one
slows every INSERT/UPDATE/DELETE on the table, takes disk and cache, and lengthens VACUUM —
for no reads at all (``idx_scan = 0``).

Fix: confirm the statistics cover a representative period (including monthly jobs and
replicas, whose usage the primary does not count), then ``DROP INDEX CONCURRENTLY``. Indexes
that enforce a constraint (primary key, unique, exclusion) are never reported.

Options: ``min_size_bytes`` (ignore smaller indexes), ``min_stats_age_days`` (ignore when
the counters were reset more recently).

Example: ``index orders_total_cents_idx on public.orders has 0 scans since 2026-11-21T23:15:45
(1.1 MB)``, fix ``DROP INDEX CONCURRENTLY orders_total_cents_idx;``.

Known problems: ``idx_scan`` counts this server only — an index used only on a replica, or by
a monthly job since the last statistics reset, looks unused here. SQLite keeps no usage
counters, so the rule is PostgreSQL only.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding
from qprof.index_classes import UNUSED
from qprof.units import format_bytes

from .base import DATABASE, make_rule, qualified
from .context import DatabaseContext


def check(db: DatabaseContext, options: dict) -> Iterator[Finding]:
    age = db.stats_reset.get("age_seconds")
    if age is not None and age < options["min_stats_age_days"] * 86400:
        return
    since = db.stats_reset.get("stats_reset") or db.stats_reset.get("server_started") or "statistics began"
    for index in db.indexes:
        if UNUSED not in index.classes or (index.size_bytes or 0) < options["min_size_bytes"]:
            continue
        yield RULE.finding(
            f"index {index.name} on {index.qualified_table} has 0 scans since {since} ({format_bytes(index.size_bytes)})",
            evidence={
                "idx_scan": index.idx_scan,
                "size_bytes": index.size_bytes,
                "stats_reset": db.stats_reset.get("stats_reset"),
                "stats_age_seconds": age,
                "definition": index.definition,
            },
            suggestion=f"DROP INDEX CONCURRENTLY {qualified(index.schema, index.name)};  (check replicas and periodic jobs first)",
            table=index.qualified_table,
            index=index.name,
        )


RULE = make_rule(
    __doc__,
    code="QP201",
    name="index.unused",
    severity="warning",
    title="Unused index",
    scope=DATABASE,
    engines=("postgresql",),
    options={"min_size_bytes": 0, "min_stats_age_days": 0},
    check=check,
)
