"""QP103 plan.spill-to-disk — a sort or hash did not fit in work_mem and spilled to disk.

Anti-pattern: ``Sort Method: external merge  Disk: 48MB`` or ``Hash Batches: 8``: the
operation wrote temporary files and read them back, often 10× slower than in memory. Usually a
large ORDER BY/GROUP BY/hash join over more rows than the query needs, or a ``work_mem`` sized
for a tiny server.

Fix: sort fewer rows (filter first; an index that returns rows already in order removes the
sort), or give this workload more memory: ``SET work_mem = '64MB'`` for the session or role that
runs it (``ALTER ROLE reporting SET work_mem = '64MB'``) rather than raising it server-wide.

Options: ``min_disk_kb`` (ignore smaller spills).

Example: ``Sort spilled to disk: sort (external merge), 48,000 kB on disk``, fix
``SET work_mem = '94MB' for the session or role running it (now 4MB)``, or an index that returns
the rows in order.

Known problems: needs executed plans (spills are only reported by ``EXPLAIN ANALYZE``). A hash
join that spilled reports batches, not kilobytes, so ``min_disk_kb`` cannot filter it.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding
from qprof.plans.model import Plan, PlanNode

from .base import PLAN, PlanContext, make_rule


def _spill(node: PlanNode) -> dict | None:
    if node.sort_space_type == "Disk" or (node.sort_method or "").startswith("external"):
        return {"kind": "sort", "sort_method": node.sort_method, "disk_kb": node.sort_space_kb}
    batches = max(node.hash_batches or 0, node.original_hash_batches or 0)
    if node.node_type == "Hash" and batches > 1:
        return {
            "kind": "hash",
            "hash_batches": node.hash_batches,
            "original_hash_batches": node.original_hash_batches,
            "peak_memory_kb": node.peak_memory_kb,
            "disk_kb": None,
        }
    agg_batches = node.extra.get("HashAgg Batches") or 0
    if node.node_type == "Aggregate" and (agg_batches > 1 or (node.extra.get("Disk Usage") or 0) > 0):
        return {"kind": "hash aggregate", "hashagg_batches": agg_batches, "disk_kb": node.extra.get("Disk Usage")}
    return None


def _work_mem_advice(disk_kb: int | None, current: str) -> str:
    if disk_kb:
        needed_mb = max(int(disk_kb * 2 / 1024) + 1, 8)
        return f"SET work_mem = '{needed_mb}MB' for the session or role running it (now {current})"
    return f"raise work_mem for the session or role running it (now {current})"


def check(plan: Plan, ctx: PlanContext, options: dict) -> Iterator[Finding]:
    work_mem = plan.settings.get("work_mem", "4MB (default)")
    for node in plan.nodes():
        spill = _spill(node)
        if spill is None or (spill.get("disk_kb") or 0) < options["min_disk_kb"] and spill.get("disk_kb") is not None:
            continue
        disk = f", {spill['disk_kb']:,} kB on disk" if spill.get("disk_kb") else ""
        if spill["kind"] == "sort":
            what = f"sort ({node.sort_method})"
        elif spill["kind"] == "hash":
            what = f"hash in {spill['hash_batches']} batches"
        else:
            what = spill["kind"]
        alternative = " or an index that returns the rows in order" if spill["kind"] == "sort" else ""
        yield RULE.finding(
            f"{node.label} spilled to disk: {what}{disk}",
            evidence={**spill, "work_mem": work_mem, "temp_written_blocks": node.buffers.get("temp_written")},
            suggestion=_work_mem_advice(spill.get("disk_kb"), work_mem) + "; sort/hash fewer rows" + alternative,
            table=node.relation,
            statement=ctx.statement,
            source=ctx.source,
            node=node.label,
        )


RULE = make_rule(
    __doc__,
    code="QP103",
    name="plan.spill-to-disk",
    severity="warning",
    title="Sort or hash spilled to disk",
    scope=PLAN,
    engines=("postgresql",),
    options={"min_disk_kb": 0},
    check=check,
)
