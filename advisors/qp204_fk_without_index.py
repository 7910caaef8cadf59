"""QP204 schema.fk-without-index — a foreign key whose referencing columns lead no index.

Anti-pattern: ``orders.customer_id REFERENCES customers`` with no index starting with
``customer_id``. Every lookup of a customer's orders scans ``orders``; worse, every DELETE or
key UPDATE on ``customers`` scans ``orders`` to check the constraint (while holding locks).

Fix: an index whose leading columns are the foreign key's columns —
``CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id)``. An existing
index on ``(customer_id, created_at)`` already counts.

Options: ``min_rows`` (ignore referencing tables smaller than this).

Example: ``foreign key orders(customer_id) → customers has no index on its columns (20,000
rows)``, fix ``CREATE INDEX orders_customer_id_idx ON orders (customer_id);``.

Known problems: only valid, non-partial B-tree indexes (or a hash index on a one-column key)
count. A referenced table that is never deleted from or re-keyed may not need the index for the
constraint's sake; the lookups of the children still do.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding
from qprof.model import IndexInfo

from ._columns import index_sql
from .base import DATABASE, fmt_int, make_rule
from .context import DatabaseContext, ForeignKey


def _covers(index: IndexInfo, fk: ForeignKey) -> bool:
    """A valid, non-partial B-tree led by the FK's columns (or a hash index on a one-column FK)."""
    if not index.valid or index.predicate is not None:
        return False
    if index.method != "btree" and not (index.method == "hash" and len(fk.columns) == 1):
        return False  # BRIN/GIN/GiST do not make the referencing-row lookup of a DELETE cheap
    leading = [key.expression for key in index.keys[: len(fk.columns)]]
    return set(leading) == set(fk.columns)


def check(db: DatabaseContext, options: dict) -> Iterator[Finding]:
    for fk in db.foreign_keys:
        indexes = [i for i in db.indexes if i.table == fk.table and i.schema == fk.schema]
        if any(_covers(index, fk) for index in indexes):
            continue
        table = db.table(fk.schema, fk.table)
        rows = table.n_live_tup if table else None
        if (rows or 0) < options["min_rows"]:
            continue
        where = f"{fk.schema}.{fk.table}" if fk.schema not in ("main", "public") else fk.table
        yield RULE.finding(
            f"foreign key {where}({', '.join(fk.columns)}) → {fk.ref_table} has no index on its columns ({fmt_int(rows)} rows)",
            evidence={
                "constraint": fk.name,
                "columns": list(fk.columns),
                "references": f"{fk.ref_table}({', '.join(fk.ref_columns)})",
                "table_rows": rows,
            },
            suggestion=index_sql(db.engine, fk.schema, fk.table, list(fk.columns)),
            table=where,
        )


RULE = make_rule(
    __doc__,
    code="QP204",
    name="schema.fk-without-index",
    severity="warning",
    title="Foreign key without an index on the referencing columns",
    scope=DATABASE,
    options={"min_rows": 0},
    check=check,
)
