"""QP203 index.invalid — an index left INVALID by a failed CREATE INDEX CONCURRENTLY.

Anti-pattern: ``CREATE INDEX CONCURRENTLY`` (or ``REINDEX CONCURRENTLY``) that failed —
a deadlock, a unique violation, a cancelled session — leaves the index behind, marked
invalid. The planner never uses it, but every write still maintains it.

Fix: ``DROP INDEX CONCURRENTLY`` it and create it again, or ``REINDEX INDEX CONCURRENTLY``
(fix the cause first: for a unique index, the duplicate rows).

Example: ``index orders_code_idx on public.orders is invalid: never used, still maintained on
every write``, fix ``REINDEX INDEX CONCURRENTLY orders_code_idx;``.

Known problems: an index that a ``CREATE INDEX CONCURRENTLY`` is building right now is invalid
too until it finishes: run ``qprof check`` again before dropping one you did not expect.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding
from qprof.index_classes import INVALID

from .base import DATABASE, make_rule, qualified
from .context import DatabaseContext


def check(db: DatabaseContext, options: dict) -> Iterator[Finding]:
    for index in db.indexes:
        if INVALID not in index.classes:
            continue
        name = qualified(index.schema, index.name)
        yield RULE.finding(
            f"index {index.name} on {index.qualified_table} is invalid: never used, still maintained on every write",
            evidence={"valid": index.valid, "definition": index.definition, "size_bytes": index.size_bytes},
            suggestion=f"REINDEX INDEX CONCURRENTLY {name};  or  DROP INDEX CONCURRENTLY {name}; and create it again",
            table=index.qualified_table,
            index=index.name,
        )


RULE = make_rule(
    __doc__,
    code="QP203",
    name="index.invalid",
    severity="error",
    title="Invalid index",
    scope=DATABASE,
    engines=("postgresql",),
    options={},
    check=check,
)
