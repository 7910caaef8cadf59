"""A plan as a table for people: the tree, estimated vs actual rows, time, buffers, hot spots.

The nodes that took the largest share of the execution (exclusive time) are marked ``◀``, so
the eye goes to where the time went rather than to the root, whose inclusive time is everything.
"""

from __future__ import annotations

from typing import Any

from qprof.output import Column, OutputFormat
from qprof.plans.model import Plan, PlanNode

HOT_SHARE = 0.10  # a node is highlighted when it took at least this share of the time …
HOT_COUNT = 3  # … and is among the slowest few


def _rows_text(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 10 or float(value).is_integer() else f"{value:,.1f}"


def _ms_text(value: float | None) -> str:
    return "" if value is None else f"{value:,.3f}"


def _buffers_text(node: PlanNode) -> str:
    parts = []
    for key, label in (("shared_hit", "hit"), ("shared_read", "read"), ("shared_dirtied", "dirtied"), ("temp_written", "temp")):
        if node.buffers.get(key):
            parts.append(f"{label}={node.buffers[key]:,}")
    return " ".join(parts)


def _notes(node: PlanNode) -> str:
    notes = []
    if node.index_cond and node.detail is None:
        notes.append(f"cond {node.index_cond}")
    if node.filter:
        notes.append(f"filter {node.filter}")
    if node.rows_removed_by_filter:
        notes.append(f"removed {node.rows_removed_total:,.0f}")
    if node.sort_method:
        space = f" {node.sort_space_kb:,} kB {node.sort_space_type}" if node.sort_space_kb is not None else ""
        notes.append(f"{node.sort_method}{space}")
    if node.hash_batches and node.hash_batches > 1:
        notes.append(f"batches={node.hash_batches}")
    if node.extra.get("never_executed"):
        notes.append("never executed")
    return "; ".join(notes)


def hot_nodes(plan: Plan) -> dict[int, float]:
    """id(node) → share of execution for the slowest nodes worth pointing at."""
    total = plan.root.inclusive_ms or plan.execution_ms
    if not total:
        return {}
    timed = sorted((n for n in plan.nodes() if n.exclusive_ms), key=lambda n: n.exclusive_ms or 0.0, reverse=True)
    return {id(n): (n.exclusive_ms or 0.0) / total for n in timed[:HOT_COUNT] if (n.exclusive_ms or 0.0) / total >= HOT_SHARE}


def _tree(node: PlanNode, lead: str = "", branch: str = "") -> list[tuple[str, PlanNode]]:
    """(drawn prefix, node) pairs: ``├─``/``└─`` branches with ``│`` continuing open parents."""
    out = [(lead + branch, node)]
    below = lead + ("│  " if branch == "├─ " else "   " if branch else "")
    for position, child in enumerate(node.children):
        last = position == len(node.children) - 1
        out += _tree(child, below, "└─ " if last else "├─ ")
    return out


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    hot = hot_nodes(plan)
    total = plan.root.inclusive_ms or plan.execution_ms or 0.0
    rows = []
    for prefix, node in _tree(plan.root):
        share = (node.exclusive_ms or 0.0) / total if total and node.exclusive_ms is not None else None
        rows.append(
            {
                "node": prefix + node.label,
                "est_rows": _rows_text(node.plan_rows),
                "act_rows": _rows_text(node.actual_rows),
                "loops": "" if node.actual_loops is None else f"{node.actual_loops:,}",
                "incl_ms": _ms_text(node.inclusive_ms),
                "excl_ms": _ms_text(node.exclusive_ms),
                "pct": "" if share is None else f"{share:.0%}" + (" ◀" if id(node) in hot else ""),
                "buffers": _buffers_text(node),
                "notes": _notes(node),
            }
        )
    return rows


def render_plan(plan: Plan, fmt: OutputFormat = OutputFormat.table) -> str:
    """The plan tree as a table (or GitHub markdown); SQLite plans show only what SQLite reports."""
    if plan.engine == "sqlite":
        columns = [Column("node", "plan", align="left")]
    elif not plan.analyzed:
        columns = [Column("node", "node", align="left"), Column("est_rows", "est rows"), Column("notes", "notes", align="left")]
    else:
        columns = [
            Column("node", "node", align="left"),
            Column("est_rows", "est rows"),
            Column("act_rows", "act rows"),
            Column("loops", "loops"),
            Column("incl_ms", "incl ms"),
            Column("excl_ms", "excl ms"),
            Column("pct", "% time"),
            Column("buffers", "buffers", align="left"),
            Column("notes", "notes", align="left"),
        ]
    from qprof import redact

    # filters and conditions quote the statement's literals (password = 'x'::text)
    rows = [redact.document(row) for row in plan_rows(plan)]
    if plan.engine == "sqlite":  # drop the synthetic root and one level of indentation
        rows = [dict(row, node=row["node"][3:]) for row in rows[1:]] or [{"node": "(no table access)"}]
    from tabulate import tabulate

    return tabulate(
        [[row.get(c.key, "") for c in columns] for row in rows],
        headers=[c.header for c in columns],
        tablefmt="github" if fmt is OutputFormat.markdown else "simple",
        colalign=[c.align for c in columns],
        disable_numparse=True,
        preserve_whitespace=True,  # the tree's indentation is meaningful
    )
