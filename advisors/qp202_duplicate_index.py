"""QP202 index.duplicate — an index duplicates another, or is a leading prefix of one.

Anti-pattern: ``CREATE INDEX ix_a ON t (a)`` next to an identical ``t_a_idx (a)`` (an ORM's
``index=True`` plus a hand-written one), or ``(a)`` next to ``(a, b)``: the wider index serves
every lookup the narrow one does, so the narrow one only costs writes and space.

Fix: drop the redundant one (``DROP INDEX CONCURRENTLY`` on PostgreSQL). The rule keeps the
index that enforces a constraint, and never reports a unique index whose uniqueness the wider
index would not enforce.

Example: ``index ix_campaigns_client_id (client_id) on main.campaigns is a duplicate of
campaigns_client_id_idx (4.0 kB)``, fix ``DROP INDEX ix_campaigns_client_id;``.

Known problems: only B-tree key columns, expressions, method and predicate are compared; a
narrower index can still be the faster one for an index-only scan of a very wide table (the
wider one has more pages to read) — measure before dropping on a hot path.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding
from qprof.index_classes import DUPLICATE, REDUNDANT
from qprof.units import format_bytes

from .base import DATABASE, make_rule, qualified
from .context import DatabaseContext


def check(db: DatabaseContext, options: dict) -> Iterator[Finding]:
    concurrently = " CONCURRENTLY" if db.engine == "postgresql" else ""
    for index in db.indexes:
        kind = DUPLICATE if DUPLICATE in index.classes else REDUNDANT if REDUNDANT in index.classes else None
        if kind is None:
            continue
        relation = "a duplicate of" if kind == DUPLICATE else "a leading prefix of"
        yield RULE.finding(
            f"index {index.name} ({', '.join(index.columns)}) on {index.qualified_table} is {relation} {index.covered_by} ({format_bytes(index.size_bytes)})",
            evidence={
                "kind": kind,
                "columns": index.columns,
                "covered_by": index.covered_by,
                "size_bytes": index.size_bytes,
                "definition": index.definition,
            },
            suggestion=f"DROP INDEX{concurrently} {qualified(index.schema, index.name)};",
            table=index.qualified_table,
            index=index.name,
        )


RULE = make_rule(
    __doc__,
    code="QP202",
    name="index.duplicate",
    severity="warning",
    title="Duplicate or redundant index",
    scope=DATABASE,
    options={},
    check=check,
)
