"""QP105 sqlite.plan — SQLite full table SCAN, temp B-tree for ORDER BY/GROUP BY, automatic index.

Anti-patterns: these lines of ``EXPLAIN QUERY PLAN``:

* ``SCAN orders`` — every row read (in a join, once per outer row);
* ``SEARCH t USING AUTOMATIC COVERING INDEX (x=?)`` — SQLite builds a throw-away index on
  every execution because none exists;
* ``USE TEMP B-TREE FOR ORDER BY`` / ``GROUP BY`` / ``DISTINCT`` — rows sorted in a temporary
  structure because no index delivers them in order.

Fix: a permanent index on the searched columns (equality columns first, then the ORDER BY
columns) — ``CREATE INDEX orders_customer_id_idx ON orders (customer_id)`` — and
``ANALYZE`` so the planner knows the table sizes. Small tables are skipped.

Options: ``min_rows`` (table rows below which a scan or sort is harmless).

Example: ``qprof explain --db app.sqlite queries/shop.sql:orders_by_customer``:

    QP105 warning full scan of orders in index order (20,000 rows): SCAN orders USING INDEX orders_created_at_idx
          fix: CREATE INDEX orders_customer_id_idx ON orders (customer_id);

Known problems: ``EXPLAIN QUERY PLAN`` has no row counts, so table sizes come from the table,
not from what the statement read; temp B-tree sorts are reported at ``info``.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding
from qprof.plans.model import Plan

from ._columns import index_sql, where_columns
from .base import PLAN, PlanContext, fmt_int, make_rule


def check(plan: Plan, ctx: PlanContext, options: dict) -> Iterator[Finding]:
    largest = 0
    tables = sorted(plan.relations())
    for table in tables:
        largest = max(largest, ctx.table_rows(table) or 0)
    for node in plan.nodes():
        rows = ctx.table_rows(node.relation) if node.relation else None
        refs = dict(statement=ctx.statement, source=ctx.source, node=node.label, table=node.relation)
        columns = where_columns(plan.sql, node.relation, node.alias) if node.relation else []
        if node.node_type == "SCAN" and columns and (rows or 0) >= options["min_rows"]:
            # a scan the statement filters (a report that reads everything is not a finding)
            order = " in index order" if node.index_name else ""
            suggestion = index_sql("sqlite", None, node.relation, columns)
            yield RULE.finding(
                f"full scan of {node.relation}{order} ({fmt_int(rows)} rows): {node.detail}",
                evidence={"detail": node.detail, "table_rows": rows, "where_columns": columns, "index": node.index_name},
                suggestion=suggestion,
                **refs,
            )
        elif node.extra.get("automatic"):
            yield RULE.finding(
                f"SQLite builds an automatic index on {node.relation} on every execution: {node.detail}",
                evidence={"detail": node.detail, "table_rows": rows, "condition": node.index_cond},
                suggestion=index_sql("sqlite", None, node.relation or "?", columns)
                if columns
                else f"create a permanent index on {node.relation} ({node.index_cond})",
                **refs,
            )
        elif node.node_type == "USE TEMP B-TREE" and largest >= options["min_rows"]:
            purpose = node.extra.get("purpose", "")
            yield RULE.finding(
                f"rows sorted in a temporary B-tree for {purpose} (largest table {fmt_int(largest)} rows)",
                evidence={"detail": node.detail, "purpose": purpose, "largest_table_rows": largest, "tables": tables},
                suggestion=f"an index whose columns are the filter columns followed by the {purpose} columns returns rows already in order",
                severity="info",  # a sort is often fine; the scans above are what to fix first
                **refs,
            )


RULE = make_rule(
    __doc__,
    code="QP105",
    name="sqlite.plan",
    severity="warning",
    title="SQLite full table scan, temp B-tree sort or automatic index",
    scope=PLAN,
    engines=("sqlite",),
    options={"min_rows": 1000},
    check=check,
)
