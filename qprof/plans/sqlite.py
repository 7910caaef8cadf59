"""SQLite plans: EXPLAIN QUERY PLAN parsed into the plan model, plus a measured execution.

SQLite shows no costs or row counts, only the strategy per table, one line each with a parent
id. The lines become PlanNodes whose ``node_type`` is the strategy (``SCAN``, ``SEARCH``,
``USE TEMP B-TREE``, ``SUBQUERY``, ``CO-ROUTINE``, …) with the table, index and the flags rules
need in ``extra`` (``covering``, ``automatic``, ``correlated``, ``purpose``). Aliases printed by
SQLite (``SCAN o``) are mapped back to table names from the parsed statement.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

from qprof import sqltext
from qprof.errors import BadInput
from qprof.plans.model import Plan, PlanNode
from qprof.plans.postgres import check_explainable, clean_sql

_TABLE_STEP = re.compile(
    r"^(?P<op>SCAN|SEARCH)\s+(?:TABLE\s+)?(?P<name>\S+)(?:\s+AS\s+(?P<alias>\S+))?"
    r"(?:\s+USING\s+(?P<using>.*?))?(?:\s+\((?P<cond>.*)\))?$"
)
_INDEX_USE = re.compile(r"^(?P<auto>AUTOMATIC\s+)?(?P<partial>PARTIAL\s+)?(?P<covering>COVERING\s+)?INDEX(?:\s+(?P<index>\S+))?$")
_SUBQUERY = re.compile(r"^(?P<correlated>CORRELATED\s+)?(?P<kind>SCALAR|LIST)\s+SUBQUERY(?:\s+(?P<n>\d+))?")
_TEMP_BTREE = re.compile(r"^USE TEMP B-TREE FOR (?P<purpose>.+)$")


def _aliases(sql: str) -> dict[str, str]:
    """alias → table name for every table the statement names."""
    try:
        tree = sqltext.parse(sql, "postgresql")
    except BadInput:
        return {}
    mapping: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        if table.name:
            mapping.setdefault(table.alias_or_name, table.name)
    return mapping


def parse_detail(detail: str, aliases: dict[str, str] | None = None) -> PlanNode:
    """One EXPLAIN QUERY PLAN line as a PlanNode (without children)."""
    aliases = aliases or {}
    text = detail.strip()
    node = PlanNode(node_type=text.split(" ")[0] if text else "?", detail=text)
    step = _TABLE_STEP.match(text)
    if step:
        name = step.group("name")
        alias = step.group("alias") or name
        node.node_type = step.group("op")
        node.relation = aliases.get(name, name)
        node.alias = alias
        using = step.group("using") or ""
        if using:
            index = _INDEX_USE.match(using)
            if index:
                node.index_name = index.group("index") or ("(automatic)" if index.group("auto") else None)
                node.extra["covering"] = bool(index.group("covering"))
                node.extra["automatic"] = bool(index.group("auto"))
            elif "PRIMARY KEY" in using:
                node.index_name = "PRIMARY KEY" if "INTEGER" not in using else "INTEGER PRIMARY KEY"
                node.extra["rowid"] = "INTEGER" in using
            node.extra["using"] = using
        if step.group("cond"):
            node.index_cond = step.group("cond")
        return node
    subquery = _SUBQUERY.match(text)
    if subquery:
        node.node_type = "SUBQUERY"
        node.extra["correlated"] = bool(subquery.group("correlated"))
        node.extra["kind"] = subquery.group("kind").lower()
        return node
    temp = _TEMP_BTREE.match(text)
    if temp:
        node.node_type = "USE TEMP B-TREE"
        node.extra["purpose"] = temp.group("purpose")
        return node
    for prefix in ("CO-ROUTINE", "MATERIALIZE", "COMPOUND QUERY", "LEFT-MOST SUBQUERY", "MULTI-INDEX OR", "BLOOM FILTER"):
        if text.startswith(prefix):
            node.node_type = prefix
            break
    return node


def build_tree(rows: list[tuple[int, int, str]], aliases: dict[str, str] | None = None) -> PlanNode:
    """(id, parent, detail) rows as a tree under a synthetic ``QUERY PLAN`` root."""
    root = PlanNode(node_type="QUERY PLAN", detail="QUERY PLAN")
    by_id: dict[int, PlanNode] = {0: root}
    for node_id, parent, detail in rows:
        node = parse_detail(detail, aliases)
        by_id.get(parent, root).children.append(node)
        by_id[node_id] = node
    return root


def explain_sqlite(target: Any, sql: str, params: list | None = None, *, analyze: bool = True) -> Plan:
    """``EXPLAIN QUERY PLAN`` of ``sql`` on a SqliteTarget, with one measured execution.

    ``$n`` placeholders are rewritten to SQLite's ``?n``. Without ``params`` a statement with
    placeholders is planned only (``plan.generic``). With ``analyze`` the statement also runs
    once to fill ``execution_ms`` — a data-modifying one on the read-write connection inside a
    transaction that is rolled back. DDL/utility statements raise BadInput.
    """
    sql = clean_sql(sql)
    modifying = check_explainable(sql, "postgresql")
    count = sqltext.placeholder_count(sql)
    values = list(params or [])[:count]
    if count and params is not None and len(values) < count:
        raise BadInput(f"the statement uses {count} parameter(s) but {len(values)} value(s) were given")
    query = sqltext.to_sqlite(sql)
    bound = tuple(values) if count and params is not None else tuple([None] * count)
    rows = target.fetch_all("EXPLAIN QUERY PLAN " + query, bound, what="EXPLAIN QUERY PLAN")
    triples = [(int(r["id"]), int(r["parent"]), str(r["detail"])) for r in rows]
    plan = Plan(
        engine="sqlite",
        root=build_tree(triples, _aliases(sql)),
        sql=sql,
        params=values if params is not None else [],
        generic=bool(count) and params is None,
        raw=[list(t) for t in triples],
    )
    if analyze and not plan.generic:
        timing = target.execute_timed(sql, values, modifying=modifying)
        plan.execution_ms = timing.ms
        plan.analyzed = True
        plan.rolled_back = modifying
        plan.root.actual_rows = float(timing.rows)
        plan.root.actual_loops = 1
        plan.root.actual_total_ms = timing.ms
    return plan
