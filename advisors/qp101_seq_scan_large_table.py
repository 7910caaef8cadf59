"""QP101 plan.seq-scan-large-table — a sequential scan reads a large table to keep a few rows.

Anti-pattern: ``SELECT … FROM orders WHERE customer_id = $1`` with no index on ``customer_id``:
PostgreSQL reads every row (``Seq Scan``) and throws almost all of them away (``Rows Removed by
Filter``). The cost grows with the table, not with the answer, and every execution competes for
shared buffers and I/O.

Fix: an index on the filtered column(s) — equality columns first — created with
``CREATE INDEX CONCURRENTLY`` (``qprof advise`` measures it before you commit to it). If the
filter keeps most rows, the scan is the right plan and this rule does not fire.

Options: ``min_rows_scanned`` (rows the scan read, all loops), ``min_removed_ratio`` (rows
removed per row kept).

Example: ``qprof explain queries/shop.sql:orders_by_customer`` on the sample database:

    QP101 warning Seq Scan on orders read 20,000 rows to keep 31 (0.15%)
          fix: CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);

Known problems: needs executed plans (``--analyze``, the default): with ``--no-analyze`` there
are no actual rows and the rule stays silent. The suggested columns are read from the filter
text; a filter on an expression (``lower(email) = $1``) gets "index the filtered columns"
instead of DDL.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding
from qprof.plans.model import Plan

from ._columns import filter_columns, index_sql
from .base import PLAN, PlanContext, fmt_int, make_rule


def check(plan: Plan, ctx: PlanContext, options: dict) -> Iterator[Finding]:
    for node in plan.nodes():
        if node.node_type != "Seq Scan" or node.actual_rows is None or node.rows_removed_by_filter is None:
            continue
        loops = node.actual_loops or 1
        kept = node.actual_rows * loops
        removed = node.rows_removed_by_filter * loops
        scanned = kept + removed
        if scanned < options["min_rows_scanned"] or removed < options["min_removed_ratio"] * max(kept, 1):
            continue
        columns = filter_columns(node.filter)
        kept_pct = 100.0 * kept / scanned if scanned else 0.0
        suggestion = (
            index_sql("postgresql", node.schema, node.relation or "?", columns) + "  (measure it first: qprof advise)"
            if columns and node.relation
            else "add an index on the filtered columns; qprof advise can propose and measure one"
        )
        yield RULE.finding(
            f"{node.label} read {fmt_int(scanned)} rows to keep {fmt_int(kept)} ({kept_pct:.2f}%)",
            evidence={
                "rows_scanned": scanned,
                "rows_returned": kept,
                "rows_removed_by_filter": removed,
                "kept_pct": round(kept_pct, 4),
                "loops": loops,
                "filter": node.filter,
                "filter_columns": columns,
                "exclusive_ms": node.exclusive_ms,
            },
            suggestion=suggestion,
            table=node.relation,
            statement=ctx.statement,
            source=ctx.source,
            node=node.label,
        )


RULE = make_rule(
    __doc__,
    code="QP101",
    name="plan.seq-scan-large-table",
    severity="warning",
    title="Sequential scan of a large table keeps a small fraction of its rows",
    scope=PLAN,
    engines=("postgresql",),
    options={"min_rows_scanned": 10000, "min_removed_ratio": 10.0},
    check=check,
)
