"""Which columns a filter or a statement's WHERE compares — the columns an index would serve.

Shared by the plan rules to turn "this scan filters on X" into a concrete CREATE INDEX.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from .base import qualified, quote_ident

_COMPARISONS = (exp.EQ, exp.In, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.Like, exp.ILike, exp.Is)
_EQUALITY = (exp.EQ, exp.In, exp.Is)


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, (exp.Cast, exp.Paren)):
        node = node.this
    return node


def _compared_columns(tree: exp.Expression, owns=lambda column: True) -> list[str]:
    """Columns compared with something, equality first (the order a B-tree wants).

    In a join condition (``o.customer_id = c.id``) only the side that ``owns`` accepts counts.
    """
    equal: list[str] = []
    other: list[str] = []
    for comparison in tree.find_all(*_COMPARISONS):
        sides = [comparison.this, comparison.args.get("expression")]
        columns = [_unwrap(s) for s in sides if s is not None and isinstance(_unwrap(s), exp.Column)]
        mine = [c for c in columns if owns(c)]
        if len(mine) != 1:
            continue
        name = mine[0].name
        bucket = equal if isinstance(comparison, _EQUALITY) else other
        if name not in equal and name not in other:
            bucket.append(name)
    return equal + other


def filter_columns(text: str | None, names: set[str] | None = None) -> list[str]:
    """Columns of a PostgreSQL plan ``Filter``/``Join Filter`` text, e.g. ``(customer_id = 42)``.

    With ``names`` (a relation and its alias), qualified columns of other relations are skipped.
    """
    if not text:
        return []
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except (SqlglotError, ValueError):
        return []
    if tree is None:
        return []
    if names is None:
        return _compared_columns(tree)
    return _compared_columns(tree, lambda column: not column.table or column.table in names)


def where_columns(sql: str, table: str, alias: str | None = None) -> list[str]:
    """Columns of ``table`` (or its alias) compared in the statement's WHERE and JOIN conditions."""
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except (SqlglotError, ValueError):
        return []
    if tree is None:
        return []
    tables = list(tree.find_all(exp.Table))
    names = {alias or table, table}
    single = len({t.name for t in tables}) == 1

    def owns(column: exp.Column) -> bool:
        return column.table in names if column.table else single

    found: list[str] = []
    for clause in [*tree.find_all(exp.Where), *[j.args.get("on") for j in tree.find_all(exp.Join)]]:
        if clause is None:
            continue
        for name in _compared_columns(clause, owns):
            if name not in found:
                found.append(name)
    return found


def index_sql(engine: str, schema: str | None, table: str, columns: list[str]) -> str:
    """A CREATE INDEX suggestion in the engine's dialect (CONCURRENTLY on PostgreSQL)."""
    target = qualified(schema, table)
    cols = ", ".join(quote_ident(c) for c in columns)
    name = quote_ident("_".join([table, *columns, "idx"])[:63])
    if engine == "postgresql":
        return f"CREATE INDEX CONCURRENTLY {name} ON {target} ({cols});"
    return f"CREATE INDEX {name} ON {target} ({cols});"
