"""The plan model: one tree shape for PostgreSQL's EXPLAIN JSON and SQLite's EXPLAIN QUERY PLAN.

Advisors read plans only through these dataclasses, so a rule never needs to know which engine
produced the plan. Timings follow PostgreSQL's conventions where they exist: ``actual_rows`` and
``actual_total_ms`` are *per loop* (as EXPLAIN prints them); the ``*_total`` properties and
``inclusive_ms``/``exclusive_ms`` are over all loops, which is what "where did the time go" needs.
No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlanNode:
    """One operator of a plan (a PostgreSQL plan node, or one line of SQLite's query plan)."""

    node_type: str
    relation: str | None = None
    schema: str | None = None
    alias: str | None = None
    index_name: str | None = None
    startup_cost: float | None = None
    total_cost: float | None = None
    plan_rows: float | None = None
    actual_rows: float | None = None  # per loop
    actual_loops: int | None = None
    actual_total_ms: float | None = None  # per loop, inclusive of children
    processes: int = 1  # below a Gather: the processes (workers + leader) that shared the loops
    exclusive_ms: float | None = None  # over all loops, children subtracted
    rows_removed_by_filter: float | None = None  # per loop
    rows_removed_by_join_filter: float | None = None  # per loop
    buffers: dict[str, int] = field(default_factory=dict)
    sort_method: str | None = None
    sort_space_type: str | None = None  # Memory | Disk
    sort_space_kb: int | None = None
    hash_batches: int | None = None
    original_hash_batches: int | None = None
    peak_memory_kb: int | None = None
    filter: str | None = None
    index_cond: str | None = None
    join_type: str | None = None
    parent_relationship: str | None = None  # Outer | Inner | SubPlan | InitPlan …
    detail: str | None = None  # SQLite: the EXPLAIN QUERY PLAN text of this line
    children: list[PlanNode] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # engine-specific keys worth keeping

    @property
    def inclusive_ms(self) -> float | None:
        """Time spent in this node and below, over all loops, as elapsed time.

        PostgreSQL prints per-loop averages; below a Gather the loops are spread over parallel
        processes that run at the same time (``Actual Loops`` counts each worker's and the
        leader's), so per-loop time × loops would add up their times — a child "longer" than
        its Gather. Divided by the processes, it is the time one of them spent, on average.
        """
        if self.actual_total_ms is None:
            return None
        return self.actual_total_ms * (self.actual_loops or 1) / max(self.processes, 1)

    @property
    def actual_rows_total(self) -> float | None:
        if self.actual_rows is None:
            return None
        return self.actual_rows * (self.actual_loops or 1)

    @property
    def rows_removed_total(self) -> float | None:
        if self.rows_removed_by_filter is None:
            return None
        return self.rows_removed_by_filter * (self.actual_loops or 1)

    @property
    def label(self) -> str:
        """``Seq Scan on orders o`` / ``Index Scan using idx on orders`` — how people name a node."""
        text = self.extra.get("Operation") if self.node_type == "ModifyTable" and self.extra.get("Operation") else self.node_type
        if self.detail is not None:  # SQLite: its own wording is the clearest
            return self.detail
        if self.extra.get("Partial Mode") in ("Partial", "Finalize"):  # as EXPLAIN's text format names them
            text = f"{self.extra['Partial Mode']} {text}"
        if self.extra.get("Parallel Aware"):
            text = f"Parallel {text}"
        if self.index_name and "Index" in self.node_type:
            text += f" using {self.index_name}"
        if self.relation:
            text += f" on {self.relation}"
            if self.alias and self.alias != self.relation:
                text += f" {self.alias}"
        return text

    def walk(self, depth: int = 0) -> Iterator[tuple[int, PlanNode]]:
        """This node and its descendants, depth first, with their depth."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "node_type": self.node_type,
            "relation": self.relation,
            "schema": self.schema,
            "alias": self.alias,
            "index_name": self.index_name,
            "startup_cost": self.startup_cost,
            "total_cost": self.total_cost,
            "plan_rows": self.plan_rows,
            "actual_rows": self.actual_rows,
            "actual_loops": self.actual_loops,
            "actual_total_ms": self.actual_total_ms,
            "inclusive_ms": self.inclusive_ms,
            "processes": self.processes,
            "exclusive_ms": self.exclusive_ms,
            "rows_removed_by_filter": self.rows_removed_by_filter,
            "rows_removed_by_join_filter": self.rows_removed_by_join_filter,
            "buffers": dict(self.buffers),
            "sort_method": self.sort_method,
            "sort_space_type": self.sort_space_type,
            "sort_space_kb": self.sort_space_kb,
            "hash_batches": self.hash_batches,
            "original_hash_batches": self.original_hash_batches,
            "peak_memory_kb": self.peak_memory_kb,
            "filter": self.filter,
            "index_cond": self.index_cond,
            "join_type": self.join_type,
            "parent_relationship": self.parent_relationship,
            "detail": self.detail,
            "children": [child.to_dict() for child in self.children],
        }
        return data


@dataclass
class Plan:
    """A statement's plan with its measured totals; ``analyzed`` is False for estimates only."""

    engine: str  # postgresql | sqlite
    root: PlanNode
    sql: str = ""
    params: list[Any] = field(default_factory=list)
    param_sources: list[str] = field(default_factory=list)
    analyzed: bool = False
    generic: bool = False  # a generic plan: parameters unknown, figures are estimates
    planning_ms: float | None = None
    execution_ms: float | None = None
    settings: dict[str, str] = field(default_factory=dict)  # non-default planner settings (SETTINGS)
    rolled_back: bool = False  # a data-modifying statement ran inside a rolled-back transaction
    raw: Any = None  # the engine's own output (PostgreSQL JSON, SQLite rows)

    @property
    def total_cost(self) -> float | None:
        """The planner's total cost of the root node (None on SQLite, which exposes no costs)."""
        return self.root.total_cost

    def nodes(self) -> Iterator[PlanNode]:
        """Every node, depth first from the root."""
        for _, node in self.root.walk():
            yield node

    def walk(self) -> Iterator[tuple[int, PlanNode]]:
        return self.root.walk()

    def relations(self) -> set[str]:
        return {node.relation for node in self.nodes() if node.relation}

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "analyzed": self.analyzed,
            "generic": self.generic,
            "total_cost": self.total_cost,
            "planning_ms": self.planning_ms,
            "execution_ms": self.execution_ms,
            "params": list(self.params),
            "param_sources": list(self.param_sources),
            "settings": dict(self.settings),
            "rolled_back": self.rolled_back,
            "root": self.root.to_dict(),
        }


def spread_parallel_loops(root: PlanNode, leader_participates: bool = True) -> None:
    """Mark every node below a Gather / Gather Merge with the processes that ran it:
    the workers launched, plus the leader (which joins in unless parallel_leader_participation
    is off, and always runs the plan itself when no worker could be launched)."""
    for _, node in root.walk():
        if node.node_type in ("Gather", "Gather Merge") and node.actual_loops:
            launched = int(node.extra.get("Workers Launched") or 0)
            processes = launched + (1 if leader_participates or launched == 0 else 0)
            for child in node.children:
                for _, below in child.walk():
                    below.processes = processes


def fill_exclusive_times(root: PlanNode) -> None:
    """``exclusive_ms`` = inclusive time minus the children's inclusive time (never below 0).

    InitPlans run once for the parent and are counted in its time, like other children;
    CTE scans may double-count their CTE, which the clamp at zero keeps from going negative.
    """
    for _, node in root.walk():
        own = node.inclusive_ms
        if own is None:
            continue
        below = sum(child.inclusive_ms or 0.0 for child in node.children)
        node.exclusive_ms = max(own - below, 0.0)
