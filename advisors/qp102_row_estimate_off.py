"""QP102 plan.row-estimate-off — the planner's row estimate is off by 10× or more.

Anti-pattern: statistics that no longer describe the data (a bulk load since the last ANALYZE,
skewed values beyond the statistics target, correlated columns the planner treats as
independent). The planner then picks joins and scans for a row count that is not there: a
nested loop for "10 rows" that meets 100,000.

Fix: ``ANALYZE`` the table; for columns filtered together, extended statistics
(``CREATE STATISTICS … (dependencies, ndistinct, mcv) ON a, b FROM t``); for skewed columns a
higher ``ALTER TABLE … ALTER COLUMN … SET STATISTICS 1000``. Only the node where the error
starts is reported, not every node above it that inherits it; nodes below a ``Limit`` that
stopped early are not overestimates.

Options: ``factor`` (how far off), ``min_rows`` (ignore when both figures are below).

Example: ``Hash Join: estimated 12 rows, got 48,210 (4,018× underestimate)``, fix
``ANALYZE orders;`` or ``CREATE STATISTICS`` on the filtered columns.

Known problems: needs executed plans. Only the lowest node where the error appears is
reported, so a second, independent misestimate above it in the same branch is not.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding
from qprof.plans.model import Plan, PlanNode

from ._columns import filter_columns
from .base import PLAN, PlanContext, fmt_int, make_rule, qualified, quote_ident


def _off_by(node: PlanNode, options: dict) -> float | None:
    if node.plan_rows is None or node.actual_rows is None or not node.actual_loops:
        return None
    estimated, actual = node.plan_rows, node.actual_rows
    if max(estimated, actual) < options["min_rows"]:
        return None
    factor = max(estimated, actual) / max(min(estimated, actual), 1.0)
    return factor if factor >= options["factor"] else None


def _under_limit(plan: Plan) -> set[int]:
    """Nodes below a Limit: they stop early by design, so fewer rows than estimated is no error."""
    below: set[int] = set()
    for node in plan.nodes():
        if node.node_type == "Limit":
            below |= {id(n) for _, n in node.walk() if n is not node}
    return below


def check(plan: Plan, ctx: PlanContext, options: dict) -> Iterator[Finding]:
    limited = _under_limit(plan)
    off = {id(node): None if id(node) in limited and (node.actual_rows or 0) < (node.plan_rows or 0) else _off_by(node, options) for node in plan.nodes()}
    for node in plan.nodes():
        factor = off[id(node)]
        if factor is None:
            continue
        if any(off[id(below)] is not None for _, below in node.walk() if below is not node):
            continue  # inherited from a node below: report where it starts
        tables = sorted({n.relation for _, n in node.walk() if n.relation})
        columns = filter_columns(node.filter or node.index_cond)
        steps = [f"ANALYZE {qualified(node.schema, t)};" for t in tables] or ["ANALYZE the tables involved"]
        if node.relation and len(columns) >= 2:
            steps.append(
                f"CREATE STATISTICS {quote_ident(node.relation + '_' + '_'.join(columns) + '_stats')} "
                f"(dependencies, ndistinct, mcv) ON {', '.join(quote_ident(c) for c in columns)} "
                f"FROM {qualified(node.schema, node.relation)};"
            )
        direction = "over" if (node.plan_rows or 0) > (node.actual_rows or 0) else "under"
        yield RULE.finding(
            f"{node.label}: estimated {fmt_int(node.plan_rows)} rows, got {fmt_int(node.actual_rows)} ({factor:,.0f}× {direction}estimate)",
            evidence={
                "estimated_rows": node.plan_rows,
                "actual_rows": node.actual_rows,
                "loops": node.actual_loops,
                "factor": round(factor, 1),
                "direction": direction,
                "tables": tables,
            },
            suggestion=" ".join(steps),
            table=node.relation or (tables[0] if len(tables) == 1 else None),
            statement=ctx.statement,
            source=ctx.source,
            node=node.label,
        )


RULE = make_rule(
    __doc__,
    code="QP102",
    name="plan.row-estimate-off",
    severity="warning",
    title="Row estimate off by 10x or more",
    scope=PLAN,
    engines=("postgresql",),
    options={"factor": 10.0, "min_rows": 100},
    check=check,
)
