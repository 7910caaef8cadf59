"""QP104 plan.nested-loop-no-index — a nested loop re-scans its inner side without an index.

Anti-pattern: ``Nested Loop`` whose inner side is a ``Seq Scan`` executed once per outer row
(``loops=5000``): the join costs outer rows × inner table size. It usually means the join column
of the inner table has no index (a foreign key without one), or the planner underestimated the
outer side (see QP102).

Fix: index the inner table's join column(s) so each loop is an index lookup —
``CREATE INDEX CONCURRENTLY … ON inner_table (join_column)`` — and ANALYZE if the outer
estimate was wrong.

Options: ``min_loops`` (inner executions before it matters).

Example: ``Nested Loop runs Seq Scan on orders 5,000 times without an index``, fix
``CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);``.

Known problems: needs executed plans. An inner side reached through a ``Materialize`` or
``Memoize`` node is still reported when it has no index scan below it, although its loops may
be cheap.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding
from qprof.plans.model import Plan, PlanNode

from ._columns import filter_columns, index_sql
from .base import PLAN, PlanContext, fmt_int, make_rule

_INDEXED = ("Index Scan", "Index Only Scan", "Bitmap Index Scan", "Bitmap Heap Scan")


def _inner(node: PlanNode) -> PlanNode | None:
    for child in node.children:
        if child.parent_relationship == "Inner":
            return child
    return node.children[1] if len(node.children) > 1 else None


def check(plan: Plan, ctx: PlanContext, options: dict) -> Iterator[Finding]:
    for node in plan.nodes():
        if node.node_type != "Nested Loop":
            continue
        inner = _inner(node)
        if inner is None or (inner.actual_loops or 0) < options["min_loops"]:
            continue
        below = [n for _, n in inner.walk()]
        if any(n.node_type in _INDEXED for n in below):
            continue
        scans = [n for n in below if n.node_type == "Seq Scan"]
        if not scans:
            continue
        scan = scans[0]
        columns = filter_columns(node.extra.get("Join Filter") or scan.filter, {scan.relation or "", scan.alias or ""})
        suggestion = (
            index_sql("postgresql", scan.schema, scan.relation or "?", columns) if columns and scan.relation else f"index the join column(s) of {scan.relation}"
        )
        removed = (node.rows_removed_by_join_filter or 0) * (node.actual_loops or 1) + (scan.rows_removed_total or 0)
        yield RULE.finding(
            f"{node.label} runs {scan.label} {fmt_int(inner.actual_loops)} times without an index",
            evidence={
                "inner_loops": inner.actual_loops,
                "inner_node": scan.label,
                "rows_removed": removed,
                "inner_inclusive_ms": inner.inclusive_ms,
                "join_filter": node.extra.get("Join Filter"),
                "filter": scan.filter,
            },
            suggestion=suggestion,
            table=scan.relation,
            statement=ctx.statement,
            source=ctx.source,
            node=node.label,
        )


RULE = make_rule(
    __doc__,
    code="QP104",
    name="plan.nested-loop-no-index",
    severity="warning",
    title="Nested loop runs its inner side many times without an index",
    scope=PLAN,
    engines=("postgresql",),
    options={"min_loops": 100},
    check=check,
)
