"""QP401 table.maintenance — dead tuples pile up, or planner statistics are stale.

Anti-patterns: a table with many dead row versions (autovacuum not keeping up: bloat, slower
scans, index bloat), or one modified heavily since its last ANALYZE — or never analyzed — so
the planner estimates from numbers that no longer hold (see QP102).

Fix: ``VACUUM (ANALYZE) the_table;`` now, then let autovacuum keep up on that table:
``ALTER TABLE the_table SET (autovacuum_vacuum_scale_factor = 0.05,
autovacuum_analyze_scale_factor = 0.02);`` (and check that autovacuum is on and not blocked by
long transactions).

Options: ``min_dead_rows``, ``max_dead_pct``, ``min_modified_rows``, ``max_modified_pct``.

Example: ``public.orders: 48,000 dead rows (32.0% of the table)``, fix
``VACUUM (ANALYZE) public.orders;``.

Known problems: the counters are estimates kept by the cumulative statistics system and reset
with it; after a crash or ``pg_stat_reset()`` a table looks never analyzed until autovacuum or
``ANALYZE`` runs again.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding

from .base import DATABASE, fmt_int, make_rule, qualified
from .context import DatabaseContext


def check(db: DatabaseContext, options: dict) -> Iterator[Finding]:
    autovacuum = db.settings.get("autovacuum")
    for table in db.tables:
        name = qualified(table.schema, table.name)
        tune = f"ALTER TABLE {name} SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);"
        if autovacuum == "off":
            tune = "autovacuum is off: turn it on (autovacuum = on in postgresql.conf)"
        dead, live = table.n_dead_tup or 0, table.n_live_tup or 0
        dead_pct = table.dead_pct or 0.0
        if dead >= options["min_dead_rows"] and dead_pct >= options["max_dead_pct"]:
            yield RULE.finding(
                f"{table.qualified_name}: {fmt_int(dead)} dead rows ({dead_pct:.1f}% of the table)",
                evidence={
                    "problem": "dead_tuples",
                    "n_dead_tup": dead,
                    "n_live_tup": live,
                    "dead_pct": round(dead_pct, 2),
                    "last_vacuum": table.last_vacuum,
                    "last_autovacuum": table.last_autovacuum,
                },
                suggestion=f"VACUUM (ANALYZE) {name};  then {tune}",
                table=table.qualified_name,
            )
        never = live > 0 and not table.last_analyze and not table.last_autoanalyze
        modified = (db.maintenance.get(table.qualified_name) or {}).get("n_mod_since_analyze") or 0
        stale = modified >= options["min_modified_rows"] and modified >= options["max_modified_pct"] / 100 * max(live, 1)
        if never or stale:
            why = "never analyzed" if never else f"{fmt_int(modified)} rows modified since the last ANALYZE"
            yield RULE.finding(
                f"{table.qualified_name}: statistics are stale ({why}; {fmt_int(live)} live rows)",
                evidence={
                    "problem": "stale_statistics",
                    "never_analyzed": never,
                    "n_mod_since_analyze": modified,
                    "n_live_tup": live,
                    "last_analyze": table.last_analyze,
                    "last_autoanalyze": table.last_autoanalyze,
                },
                suggestion=f"ANALYZE {name};  then {tune}",
                table=table.qualified_name,
            )


RULE = make_rule(
    __doc__,
    code="QP401",
    name="table.maintenance",
    severity="warning",
    title="Dead tuples or stale statistics",
    scope=DATABASE,
    engines=("postgresql",),
    options={"min_dead_rows": 1000, "max_dead_pct": 20.0, "min_modified_rows": 1000, "max_modified_pct": 20.0},
    check=check,
)
