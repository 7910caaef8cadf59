"""PostgreSQL plans: run EXPLAIN safely and parse its JSON into the plan model.

* ``EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON)`` for a real execution — only after
  :mod:`qprof.safety` cleared every function the statement may call (else ExecutionRefused);
  a read-only statement runs in the session's read-only transaction, a data-modifying one
  (DML, or a data-modifying CTE) inside :meth:`PostgresTarget.rolled_back_transaction`, always
  rolled back, so nothing it changes survives.
* A generic plan for ``$n`` statements whose values are unknown: ``EXPLAIN (GENERIC_PLAN)`` on
  PostgreSQL 16+, else ``PREPARE`` + ``SET LOCAL plan_cache_mode = force_generic_plan`` +
  ``EXPLAIN EXECUTE name(NULL, …)``; estimates only, nothing executes.
* DDL and utility statements are refused before anything is sent.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from typing import Any

from qprof import sqltext
from qprof.errors import BadInput
from qprof.plans.model import (
    Plan,
    PlanNode,
    fill_exclusive_times,
    spread_parallel_loops,
)

_prepared_names = itertools.count(1)
# PREPARE retries declaring one parameter's type at a time (see _prepare): bounded, so a
# statement with thousands of parameters fails in a few round trips instead of stalling.
MAX_TYPE_RETRIES = 16
# The PREPARE variant (text after the statement name) that worked for a statement text: the
# advisor plans the same text hundreds of times; it should not fail and retry each time.
_VARIANTS: dict[str, str] = {}
_MAX_VARIANTS = 4096

_BUFFER_KEYS = {
    "Shared Hit Blocks": "shared_hit",
    "Shared Read Blocks": "shared_read",
    "Shared Dirtied Blocks": "shared_dirtied",
    "Shared Written Blocks": "shared_written",
    "Local Hit Blocks": "local_hit",
    "Local Read Blocks": "local_read",
    "Local Dirtied Blocks": "local_dirtied",
    "Local Written Blocks": "local_written",
    "Temp Read Blocks": "temp_read",
    "Temp Written Blocks": "temp_written",
}
_EXTRA_KEYS = (
    "Operation",
    "Strategy",
    "Partial Mode",
    "Scan Direction",
    "Hash Cond",
    "Merge Cond",
    "Join Filter",
    "Recheck Cond",
    "Sort Key",
    "Group Key",
    "CTE Name",
    "Subplan Name",
    "Function Name",
    "Workers Planned",
    "Workers Launched",
    "Parallel Aware",
    "Heap Fetches",
    "Rows Removed by Index Recheck",
    "Disk Usage",
    "HashAgg Batches",
    "Planned Partitions",
    "Exact Heap Blocks",
    "Lossy Heap Blocks",
)


def clean_sql(sql: str) -> str:
    """The statement without surrounding whitespace and trailing semicolons."""
    return sql.strip().rstrip(";").strip()


def _plannable(sql: str, params: list | None) -> tuple[str, list | None]:
    """The statement as PREPARE accepts it (typed literals as casts, dense numbering; see
    :mod:`qprof.pgtext`) and its values in that numbering."""
    from qprof.pgtext import plannable

    rewritten = plannable(clean_sql(sql))
    return rewritten.sql, rewritten.params(params)


def check_explainable(sql: str, engine: str = "postgresql") -> bool:
    """Parse and refuse DDL/utility statements; returns whether the statement modifies data."""
    try:
        tree = sqltext.parse(sql, engine)
    except BadInput:
        from qprof.pgtext import statement_kind

        # sqlglot rejects some forms PostgreSQL accepts (``$1::interval second(2)``): ask PostgreSQL's parser
        read = statement_kind(sql) if engine == "postgresql" else None
        if read is None or read[0] == "utility":
            raise
        return read[1]
    if not sqltext.is_query(tree):
        kind = sqltext.statement_kind(tree)
        raise BadInput(
            f"{kind} statements are not explained: qprof explains queries and INSERT/UPDATE/DELETE/MERGE only",
            hint="DDL and utility commands (CREATE, ALTER, VACUUM, SET, …) have no plan worth profiling",
        )
    return sqltext.is_data_modifying(tree)


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def parse_node(data: dict[str, Any]) -> PlanNode:
    """One node of EXPLAIN's JSON (and its children) as a :class:`PlanNode`."""
    buffers = {short: int(data[key]) for key, short in _BUFFER_KEYS.items() if key in data}
    node = PlanNode(
        node_type=data.get("Node Type", "?"),
        relation=data.get("Relation Name"),
        schema=data.get("Schema"),
        alias=data.get("Alias"),
        index_name=data.get("Index Name"),
        startup_cost=_float(data.get("Startup Cost")),
        total_cost=_float(data.get("Total Cost")),
        plan_rows=_float(data.get("Plan Rows")),
        actual_rows=_float(data.get("Actual Rows")),
        actual_loops=_int(data.get("Actual Loops")),
        actual_total_ms=_float(data.get("Actual Total Time")),
        rows_removed_by_filter=_float(data.get("Rows Removed by Filter")),
        rows_removed_by_join_filter=_float(data.get("Rows Removed by Join Filter")),
        buffers=buffers,
        sort_method=data.get("Sort Method"),
        sort_space_type=data.get("Sort Space Type"),
        sort_space_kb=_int(data.get("Sort Space Used")),
        hash_batches=_int(data.get("Hash Batches")),
        original_hash_batches=_int(data.get("Original Hash Batches")),
        peak_memory_kb=_int(data.get("Peak Memory Usage")),
        filter=data.get("Filter"),
        index_cond=data.get("Index Cond"),
        join_type=data.get("Join Type"),
        parent_relationship=data.get("Parent Relationship"),
        children=[parse_node(child) for child in data.get("Plans", [])],
        extra={key: data[key] for key in _EXTRA_KEYS if key in data},
    )
    if node.actual_loops == 0:  # never executed: PostgreSQL prints "(never executed)"
        node.extra["never_executed"] = True
    return node


def parse_explain_json(document: Any, *, sql: str = "", generic: bool = False) -> Plan:
    """EXPLAIN (FORMAT JSON) output — the list PostgreSQL returns, or its first element — as a Plan."""
    if isinstance(document, str):
        import json

        document = json.loads(document)
    top = document[0] if isinstance(document, list) else document
    if not isinstance(top, dict) or "Plan" not in top:
        raise BadInput('not EXPLAIN (FORMAT JSON) output: no "Plan" key')
    root = parse_node(top["Plan"])
    analyzed = root.actual_loops is not None
    settings = {str(k): str(v) for k, v in (top.get("Settings") or {}).items()}
    if analyzed:
        spread_parallel_loops(root, leader_participates=settings.get("parallel_leader_participation", "on") != "off")
        fill_exclusive_times(root)
    return Plan(
        engine="postgresql",
        root=root,
        sql=sql,
        analyzed=analyzed,
        generic=generic,
        planning_ms=_float(top.get("Planning Time")),
        execution_ms=_float(top.get("Execution Time")),
        settings=settings,
        raw=document,
    )


def _explain_options(analyze: bool, generic_keyword: bool = False) -> str:
    options = ["ANALYZE", "BUFFERS"] if analyze else []
    if generic_keyword:
        options.append("GENERIC_PLAN")
    options += ["SETTINGS", "FORMAT JSON"]
    return "EXPLAIN (" + ", ".join(options) + ") "


def _plan_json(rows: list[dict[str, Any]]) -> Any:
    if not rows:
        raise BadInput("EXPLAIN returned nothing")
    return next(iter(rows[0].values()))


def explain_postgres(
    target: Any,
    sql: str,
    params: list | None = None,
    *,
    analyze: bool = True,
    generic: bool = False,
) -> Plan:
    """The plan of ``sql`` on a PostgresTarget, executed for real unless ``analyze`` is False.

    ``params`` are the values of ``$1..$n``. A statement with placeholders and no ``params``
    (or ``generic=True``) gets a generic plan: estimates only, ``plan.generic`` is True.
    Data-modifying statements run in a transaction that is always rolled back
    (``plan.rolled_back``). DDL/utility statements raise BadInput; database errors surface as
    the QprofError subclasses of :func:`qprof.targets.postgres.translate_error` (a timeout is a
    StatementFailed).
    """
    sql, params = _plannable(sql, params)
    modifying = check_explainable(sql)
    count = sqltext.placeholder_count(sql)
    if count and (generic or params is None):
        return _generic_plan(target, sql, count)
    if count and len(params or []) < count:
        raise BadInput(f"the statement uses {count} parameter(s) but {len(params or [])} value(s) were given")
    runnable, values = bindable(target, sql, list(params or [])[:count])
    query = _explain_options(analyze) + (sqltext.to_psycopg(runnable) if count else sql)
    bound = sqltext.psycopg_params(values) if count else None
    if analyze:
        from qprof.safety import require_executable

        require_executable(target, sql, params)  # ExecutionRefused: the caller falls back to a plain EXPLAIN
        with target.rolled_back_transaction(read_only=not modifying, untracked=True):
            rows = target.fetch_all(query, bound, what="EXPLAIN ANALYZE")
    else:
        with target.rolled_back_transaction(read_only=True):
            rows = target.fetch_all(query, bound, what="EXPLAIN")
    plan = parse_explain_json(_plan_json(rows), sql=sql)
    plan.params = list(params or [])[:count]
    plan.rolled_back = analyze and modifying
    return plan


def bindable(target: Any, sql: str, params: list) -> tuple[str, list]:
    """The text and values to send for a plannable ``sql`` whose values are known, so they mean
    what the application's literals meant: ``$n::interval minute`` as the literal ``interval '5'
    minute`` (see :func:`qprof.pgtext.inline_interval_fields`; the printed text keeps ``$n``),
    and Python ints typed as PostgreSQL reads an integer literal (:func:`_as_literal`)."""
    from psycopg import sql as pgsql

    from qprof.pgtext import inline_interval_fields

    if not params:
        return sql, params
    text = inline_interval_fields(sql, list(params), lambda value: pgsql.Literal(value).as_string(target.conn))
    return text, [_as_literal(value) for value in params]


def _as_literal(value: Any) -> Any:
    """A Python int typed as PostgreSQL reads an integer literal (int4, else int8): psycopg would
    pick the smallest type, and ``tags && ARRAY[$1, $2]`` on an integer[] column has no operator
    for smallint[]."""
    from psycopg.types.numeric import Int4, Int8

    if type(value) is not int:
        return value  # typed already (Int4, Decimal …), a string (untyped, as a literal), a bool
    return Int4(value) if -(2**31) <= value < 2**31 else Int8(value) if -(2**63) <= value < 2**63 else value


def _generic_plan(target: Any, sql: str, count: int) -> Plan:
    """EXPLAIN (GENERIC_PLAN) on PostgreSQL 16+; when that fails (an array of placeholders typed
    text[], a parameter typed from the wrong side), or before 16, PREPARE with the retries of
    :func:`_prepare` — the same help on every version."""
    from qprof.errors import QprofError

    if target.server_version_num >= 160000 and sql not in _VARIANTS:
        try:
            with target.rolled_back_transaction(read_only=True):
                rows = target.fetch_all(_explain_options(False, generic_keyword=True) + sql, what="EXPLAIN (GENERIC_PLAN)")
            return parse_explain_json(_plan_json(rows), sql=sql, generic=True)
        except QprofError:
            pass  # the PREPARE path below retries with declared types
    name = f"qprof_generic_{next(_prepared_names)}"
    nulls = ", ".join(["NULL"] * count)
    try:
        with target.rolled_back_transaction(read_only=True):
            previous = target.fetch_value("SELECT current_setting('plan_cache_mode')")
            target.fetch_all("SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
            _prepare(target, name, sql, count)
            rows = target.fetch_all(f"EXPLAIN (SETTINGS, FORMAT JSON) EXECUTE {name}({nulls})", what="EXPLAIN EXECUTE")
            # SET LOCAL would outlive a savepoint when the caller is already in a transaction.
            target.fetch_all("SELECT set_config('plan_cache_mode', %s, true)", (previous,))
    finally:
        _deallocate(target, name)
    plan = parse_explain_json(_plan_json(rows), sql=sql, generic=True)
    plan.settings.pop("plan_cache_mode", None)
    return plan


def _prepare(target: Any, name: str, sql: str, count: int) -> None:
    """PREPARE, helping PostgreSQL with a parameter it types badly.

    An array of placeholders compared with an array column (``tags && ARRAY[$1, $2]``) is cast to
    the column's array type, which PostgreSQL's error names. Otherwise each parameter in turn is
    declared with a type (the others stay ``unknown``, i.e. inferred as before) until one version
    prepares: first the types the error names (``created_at > $1 - interval $2`` types ``$1`` as
    an interval, and ``timestamp with time zone > interval`` does not exist: ``$1`` is the
    timestamp), then numeric (pg_stat_statements turns ``sum(CASE WHEN … THEN 1 ELSE 0 END)``
    into ``… THEN $2 ELSE $3``; an untyped ``$2`` there resolves to text and ``sum(text)`` does
    not exist). At most MAX_TYPE_RETRIES positions per type: bounded round trips.
    """
    from qprof.errors import QprofError

    known = _VARIANTS.get(sql)
    if known is not None and _prepared(target, f"PREPARE {name}{known}"):
        return
    try:
        with target.conn.transaction():
            target.fetch_all(f"PREPARE {name} AS {sql}", what="PREPARE")
        return
    except QprofError as first:
        failure = first
    retyped = _typed_arrays(sql, failure.message)
    variants = [f" AS {retyped}"] if retyped is not None else []
    for declared in [*_operand_types(failure.message), "numeric"]:
        for position in range(min(count, MAX_TYPE_RETRIES)):
            types = ["unknown"] * count
            types[position] = declared
            variants.append(f"({', '.join(types)}) AS {sql}")
    for variant in variants:
        if _prepared(target, f"PREPARE {name}{variant}"):
            if len(_VARIANTS) >= _MAX_VARIANTS:
                _VARIANTS.clear()
            _VARIANTS[sql] = variant
            return
    raise failure


_OPERATOR_TYPES = re.compile(r"operator does not exist: (?P<left>[\w .]+?) (?P<op>[^\w\s]+) (?P<right>[\w .]+?)$")


def _operand_types(message: str) -> list[str]:
    """The operand types an "operator does not exist" error names (not text/unknown: those are the guesses)."""
    match = _OPERATOR_TYPES.search(message.strip())
    if match is None:
        return []
    found = [match.group("left").strip(), match.group("right").strip()]
    return [t for index, t in enumerate(found) if t not in ("text", "unknown") and t not in found[:index]]


def _prepared(target: Any, statement: str) -> bool:
    """Whether this PREPARE variant succeeds (a failure is rolled back to a savepoint)."""
    from qprof.errors import QprofError

    try:
        with target.conn.transaction():
            target.fetch_all(statement, what="PREPARE")
    except QprofError:
        return False
    return True


# The type PostgreSQL names for the other side: letters, digits, spaces and dots only (e.g.
# "character varying[]"), since it is pasted into the statement text.
_ARRAY_OPERATOR = re.compile(r"operator does not exist: (?P<left>[\w .]+\[\]) \S+ text\[\]")


def _typed_arrays(sql: str, message: str) -> str | None:
    """``tags && ARRAY[$1, $2]``: the array of unknowns became text[]; PostgreSQL's error names the
    array type on the other side, so cast the placeholder arrays to it. None when that is not the error."""
    from qprof.pgtext import cast_placeholder_arrays

    match = _ARRAY_OPERATOR.search(message)
    if match is None:
        return None
    retyped = cast_placeholder_arrays(sql, match.group("left"))
    return retyped if retyped != sql else None


def _deallocate(target: Any, name: str) -> None:
    """Prepared statements are session objects that a rollback does not remove."""
    import psycopg

    with contextlib.suppress(Exception):  # cleanup must never mask the real error
        if target.conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            return  # the caller's transaction is aborted; its rollback … does not deallocate, retry later
        exists = target.fetch_value("SELECT count(*) FROM pg_prepared_statements WHERE name = %s", (name,))
        if exists:
            target.fetch_all(f"DEALLOCATE {name}")


def estimate_cost(target: Any, sql: str) -> float:
    """The planner's total cost of ``sql``: a cheap EXPLAIN, nothing executed.

    ``$n`` statements get a generic plan. HypoPG's hypothetical indexes are visible to it, which
    is what the index advisor's what-if evaluation relies on.
    """
    sql, _ = _plannable(sql, None)
    check_explainable(sql)
    count = sqltext.placeholder_count(sql)
    plan = _generic_plan(target, sql, count) if count else explain_postgres(target, sql, analyze=False)
    return float(plan.total_cost or 0.0)
