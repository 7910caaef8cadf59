"""Real values for normalized statements, so EXPLAIN ANALYZE measures a real execution.

pg_stat_statements stores ``WHERE customer_id = $1``; running that needs a value, and a made-up
one (0, NULL) finds no rows and times nothing. So each ``$n`` is traced, in the parsed
statement, to the column it is compared with (``col = $1``, ``$1 < col``, ``col IN ($1, $2)``,
``col BETWEEN $1 AND $2``, ``SET col = $1``, ``INSERT … (col) VALUES ($1)``, ``col + $1``;
``LIMIT``/``OFFSET`` get defaults that do not understate, see below), and a value is drawn from
the data itself:

* PostgreSQL: the column's ``pg_stats`` (the most common value for equality, histogram bounds
  for ranges so that lower bounds stay below upper ones), else a ``TABLESAMPLE`` row, else any row;
* SQLite: a row from the middle of the table (ranges: quantiles of the column).

When any parameter cannot be traced to a column, :func:`infer_parameters` returns None and the
caller falls back to a generic plan (estimates only).

``LIMIT $n`` gets the rows the statement returned per call where the source counted them
(pg_stat_statements' rows ÷ calls: a LIMIT returns at most its value, and one that is not reached
costs what the rows it returns cost, so no smaller value is what runs), at least 10; the source
says which. ``OFFSET $n`` must not make the statement look cheaper than it runs
(OFFSET 0 once understated a pagination query 33×): on PostgreSQL it gets 10 % of the rows the
statement yields without LIMIT/OFFSET, as the planner estimates them — PostgreSQL's own
assumption for an OFFSET it cannot see (``preprocess_limit``); the source says so with the
figures. That guess is made for the statement's own OFFSET only: an OFFSET in a subquery
keeps 0 and its source says it may understate (the plan's root rows are not its input).
SQLite, which has no estimates, keeps OFFSET 0 and says so. ``FETCH FIRST $n ROWS`` is a LIMIT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from qprof import sqltext
from qprof.errors import BadInput, QprofError

DEFAULT_LIMIT = 10
DEFAULT_OFFSET = 0  # SQLite, or when the planner gives no estimate
OFFSET_FRACTION = 0.10  # of the rows without LIMIT/OFFSET: PostgreSQL's guess for an unknown OFFSET
# Quantiles for range bounds: a lower bound sits below an upper one on the same column.
LOWER_QUANTILE = 0.45
UPPER_QUANTILE = 0.55
MIDDLE_QUANTILE = 0.5

_LOWER_OPS = {exp.GT: "lower", exp.GTE: "lower", exp.LT: "upper", exp.LTE: "upper"}
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div)
_EQUAL_OPS = (exp.EQ, exp.NEQ, exp.Like, exp.ILike, exp.NullSafeEQ, exp.NullSafeNEQ)


@dataclass
class InferredParams:
    """Values for ``$1..$n`` in order, and where each came from (for people to read)."""

    values: list[Any]
    sources: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"values": list(self.values), "sources": list(self.sources)}


@dataclass(frozen=True)
class ColumnRef:
    """A table column a parameter is compared with; ``schema`` None means the search path."""

    schema: str | None
    table: str
    column: str

    @property
    def qualified(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass
class _Need:
    """What one parameter needs: a column value of a kind (equal/lower/upper/middle), or a constant."""

    number: int
    column: ColumnRef | None = None
    kind: str = "equal"  # equal | lower | upper | middle
    constant: Any = None
    constant_source: str = ""
    tables: list[ColumnRef] = field(default_factory=list)
    top: bool = False  # a LIMIT/OFFSET of the statement itself, not of a subquery


def infer_parameters(target: Any, sql: str, rows_per_call: float | None = None) -> InferredParams | None:
    """Values for every ``$n`` of ``sql`` drawn from the target's data, or None if any is unknown.

    ``rows_per_call``: what each execution returned on average, where the workload says (the
    statement's own ``LIMIT $n`` is at least that).

    ``target`` is an open PostgresTarget or SqliteTarget. Statements without placeholders give
    an empty InferredParams. Unparseable SQL raises BadInput (as :func:`qprof.sqltext.parse`).
    """
    count = sqltext.placeholder_count(sql)
    if count == 0:
        return InferredParams([], [])
    if target.engine == "postgresql":
        # ``interval $3`` reads as INTERVAL '3' in sqlglot, losing the parameter: trace the cast form.
        from qprof.pgtext import plannable

        rewritten = plannable(sql)
        if rewritten.numbers:
            return None  # gaps in the numbering (``$70000``): the generic plan of the dense form
        sql = rewritten.sql
    try:
        tree = sqltext.parse(sql, "postgresql")
    except BadInput:
        from qprof.pgtext import statement_kind

        if target.engine != "postgresql" or statement_kind(sql) is None:
            raise
        return None  # PostgreSQL reads it, sqlglot does not (`$1::interval second(2)`): a generic plan
    needs = _trace(tree, count)
    if needs is None:
        return None
    resolver = _Resolver(target, tree)
    values: list[Any] = []
    sources: list[str] = []
    for need in needs:
        if need.column is None and need.top and need.constant_source.startswith("LIMIT") and rows_per_call:
            observed = math.ceil(rows_per_call)
            values.append(max(observed, DEFAULT_LIMIT))
            sources.append(
                f"LIMIT {values[-1]:,}: the statement returned {rows_per_call:,.1f} rows per call "
                f"(a LIMIT is at least what it returns; {DEFAULT_LIMIT} at the least)"
            )
            continue
        if need.column is None:
            values.append(need.constant)
            sources.append(
                need.constant_source
                if not need.constant_source.startswith("LIMIT")
                else (f"{need.constant_source} (no observed value: may understate a larger LIMIT; give values with --log or a workload's -- params:)")
            )
            continue
        column = resolver.resolve(need.column)
        if column is None:
            return None
        try:
            drawn = _draw(target, column, need.kind)
        except QprofError:
            return None
        if drawn is None:
            return None
        value, source = drawn
        values.append(value)
        sources.append(source)
    offsets = [need.number - 1 for need in needs if need.constant_source.startswith("OFFSET") and need.top]
    if offsets and target.engine == "postgresql":
        _offset_guess(target, sql, needs, values, sources, offsets)
    return InferredParams(values, sources)


def _offset_guess(target: Any, sql: str, needs: list[_Need], values: list[Any], sources: list[str], offsets: list[int]) -> None:
    """OFFSET = 10 % of the rows the statement yields without LIMIT/OFFSET (planner estimate)."""
    from qprof.plans.postgres import explain_postgres

    unlimited = list(values)
    for need in needs:
        if need.constant_source.startswith(("LIMIT", "OFFSET")) and need.top:
            unlimited[need.number - 1] = None  # LIMIT NULL: no limit; OFFSET NULL: none
    try:
        plan = explain_postgres(target, sql, unlimited, analyze=False)
    except QprofError:  # explain_postgres rolls its own transaction back: the session stays usable
        return
    # The root's own rows: the statement's LIMIT/OFFSET are NULL here (a Limit node for them, if
    # any, passes its input through), and a subquery's Limit at the root is the outer OFFSET's input.
    rows = int(plan.root.plan_rows or 0)
    guess = int(rows * OFFSET_FRACTION)
    for index in offsets:
        values[index] = guess
        sources[index] = (
            f"OFFSET {guess:,}: {OFFSET_FRACTION:.0%} of the {rows:,} rows estimated without LIMIT/OFFSET (PostgreSQL's own guess for an OFFSET it cannot see)"
        )


def _number(node: exp.Expression) -> int | None:
    if isinstance(node, exp.Parameter) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        try:
            return int(node.this.this)
        except ValueError:
            return None
    return None


def _strip_cast(node: exp.Expression) -> exp.Expression:
    while isinstance(node, (exp.Cast, exp.TryCast, exp.Paren)):
        node = node.this
    return node


def _column_of(node: exp.Expression | None) -> ColumnRef | None:
    node = _strip_cast(node) if node is not None else None
    if isinstance(node, exp.Column) and node.name:
        return ColumnRef(None, node.table or "", node.name)
    return None


def _trace(tree: exp.Expression, count: int) -> list[_Need] | None:
    """One _Need per parameter number, or None when some parameter has no recognisable context."""
    found: dict[int, _Need] = {}
    for node in tree.find_all(exp.Parameter):
        number = _number(node)
        if number is None:
            return None
        need = _context(node, number, tree)
        if need is None:
            return None
        found.setdefault(number, need)
    if sorted(found) != list(range(1, count + 1)):
        return None  # gaps: $2 used without $1 — PostgreSQL cannot type it either
    return [found[n] for n in range(1, count + 1)]


def _context(node: exp.Parameter, number: int, tree: exp.Expression | None = None) -> _Need | None:
    here: exp.Expression = node
    parent = here.parent
    while isinstance(parent, (exp.Cast, exp.TryCast, exp.Paren)):
        here, parent = parent, parent.parent
    if isinstance(parent, _ARITHMETIC):
        # pg_stat_statements turns `usage_count + 1` into `usage_count + $2`: a value of the
        # other operand's column has the right type and magnitude. With a constant on the
        # other side (`id = $1 + 1`), the whole expression stands where the parameter would.
        other = parent.expression if parent.this is here else parent.this
        column = _column_of(other)
        if column is not None:
            return _Need(number, column, "middle")
        if isinstance(_strip_cast(other), exp.Literal):
            while isinstance(parent, _ARITHMETIC + (exp.Paren, exp.Cast)):
                here, parent = parent, parent.parent
        else:
            return None
    if isinstance(parent, (exp.Limit, exp.Fetch)):  # LIMIT $n, FETCH FIRST $n ROWS ONLY
        top = parent.parent is tree
        return _Need(number, constant=DEFAULT_LIMIT, constant_source=f"LIMIT default {DEFAULT_LIMIT}", top=top)
    if isinstance(parent, exp.Offset):
        if parent.parent is tree:
            return _Need(number, constant=DEFAULT_OFFSET, constant_source=f"OFFSET default {DEFAULT_OFFSET}", top=True)
        # the plan's root rows say nothing about a subquery's input: no guess, and say so
        return _Need(
            number,
            constant=DEFAULT_OFFSET,
            constant_source=(f"OFFSET default {DEFAULT_OFFSET} (in a subquery: no estimate of its input rows; may understate its cost)"),
        )
    if isinstance(parent, _EQUAL_OPS) or type(parent) in _LOWER_OPS:
        on_left = parent.this is here  # the parameter is the left operand
        other = parent.expression if on_left else parent.this
        column = _column_of(other)
        if column is None:
            return None
        kind = "equal"
        if type(parent) in _LOWER_OPS:
            kind = _LOWER_OPS[type(parent)]
            if on_left:  # $1 < col  is  col > $1
                kind = "upper" if kind == "lower" else "lower"
        return _Need(number, column, kind)
    if isinstance(parent, exp.In):
        column = _column_of(parent.this)
        return _Need(number, column, "equal") if column else None
    if isinstance(parent, exp.Between):
        column = _column_of(parent.this)
        if column is None:
            return None
        kind = "lower" if parent.args.get("low") is here else "upper"
        return _Need(number, column, kind)
    if isinstance(parent, exp.Tuple) and isinstance(parent.parent, exp.Values):
        return _insert_column(parent, here, number)
    return None


def _insert_column(row: exp.Tuple, here: exp.Expression, number: int) -> _Need | None:
    insert = row.find_ancestor(exp.Insert)
    if insert is None:
        return None
    schema = insert.this
    if not isinstance(schema, exp.Schema) or not isinstance(schema.this, exp.Table):
        return None  # INSERT without a column list: positions would need the catalog order
    names = [_strip_cast(c).name for c in schema.expressions]
    position = row.expressions.index(here)
    if position >= len(names):
        return None
    table = schema.this
    return _Need(number, ColumnRef(table.db or None, table.name, names[position]), "middle")


class _Resolver:
    """Turns a column reference as written (alias, no qualifier) into a real table column."""

    def __init__(self, target: Any, tree: exp.Expression) -> None:
        self.target = target
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        self.tables: dict[str, tuple[str | None, str]] = {}
        self.order: list[tuple[str | None, str]] = []
        for table in tree.find_all(exp.Table):
            if not table.name or table.name in ctes and not table.db:
                continue
            real = (table.db or None, table.name)
            self.tables.setdefault(table.alias_or_name, real)
            self.tables.setdefault(table.name, real)
            if real not in self.order:
                self.order.append(real)

    def resolve(self, ref: ColumnRef) -> ColumnRef | None:
        """The one table of the statement that has this column, or None (unknown or ambiguous)."""
        if ref.schema is not None:
            candidates = [(ref.schema, ref.table)]
        elif ref.table:
            if ref.table not in self.tables:
                return None
            candidates = [self.tables[ref.table]]
        else:
            candidates = list(self.order)
        owners = [c for c in candidates if _has_column(self.target, c[0], c[1], ref.column)]
        if len(owners) != 1:
            return None
        return ColumnRef(owners[0][0], owners[0][1], ref.column)


def _has_column(target: Any, schema: str | None, table: str, column: str) -> bool:
    try:
        if target.engine == "sqlite":
            rows = target.fetch_all("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", (table, column))
        else:
            rows = target.fetch_all(
                "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s AND attnum > 0 AND NOT attisdropped",
                (_regclass_text(schema, table), column),
                what="reading the column catalog",
            )
    except QprofError:
        return False
    return bool(rows)


def _regclass_text(schema: str | None, table: str) -> str:
    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    return f"{quote(schema)}.{quote(table)}" if schema else quote(table)


def _quantile(kind: str) -> float:
    return {"lower": LOWER_QUANTILE, "upper": UPPER_QUANTILE}.get(kind, MIDDLE_QUANTILE)


def _draw(target: Any, column: ColumnRef, kind: str) -> tuple[Any, str] | None:
    if target.engine == "sqlite":
        return _draw_sqlite(target, column, kind)
    return _draw_postgres(target, column, kind)


# --- PostgreSQL ----------------------------------------------------------------------------

_PG_STATS = """
SELECT s.schemaname,
       CASE WHEN s.most_common_vals IS NULL THEN NULL ELSE s.most_common_vals::text::text[] END AS mcv,
       CASE WHEN s.histogram_bounds IS NULL THEN NULL ELSE s.histogram_bounds::text::text[] END AS bounds,
       t.typname, t.typcategory
FROM pg_stats s
JOIN pg_attribute a ON a.attrelid = to_regclass(%(rel)s) AND a.attname = s.attname
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
WHERE s.tablename = c.relname AND s.attname = %(col)s
ORDER BY s.inherited
LIMIT 1
"""

_INTEGER_TYPES = {"int2", "int4", "int8", "oid"}
_FLOAT_TYPES = {"float4", "float8"}


def _typed(text: str, typname: str) -> Any:
    """pg_stats values come as text: give integers and floats back their Python type."""
    try:
        if typname in _INTEGER_TYPES:
            return int(text)
        if typname in _FLOAT_TYPES:
            return float(text)
    except ValueError:
        return text
    if typname == "bool":
        return text in ("t", "true")
    return text


def _draw_postgres(target: Any, column: ColumnRef, kind: str) -> tuple[Any, str] | None:
    from psycopg import sql

    rel = _regclass_text(column.schema, column.table)
    if target.fetch_value("SELECT to_regclass(%s) IS NOT NULL", (rel,), what="looking up a table") is not True:
        return None
    rows = target.fetch_all(_PG_STATS, {"rel": rel, "col": column.column}, what="reading pg_stats")
    if rows:
        row = rows[0]
        mcv, bounds, typname = row["mcv"], row["bounds"], row["typname"]
        if kind == "equal" and mcv:
            return _typed(mcv[0], typname), f"{column.qualified} from pg_stats most_common_vals"
        if bounds:
            pick = bounds[min(int(len(bounds) * _quantile(kind)), len(bounds) - 1)]
            return _typed(pick, typname), f"{column.qualified} from pg_stats histogram_bounds"
        if mcv:
            ordered = sorted(mcv, key=lambda v: _typed(v, typname) if typname in _INTEGER_TYPES | _FLOAT_TYPES else v)
            pick = ordered[min(int(len(ordered) * _quantile(kind)), len(ordered) - 1)]
            return _typed(pick, typname), f"{column.qualified} from pg_stats most_common_vals"
    table = sql.Identifier(column.schema, column.table) if column.schema else sql.Identifier(column.table)
    col = sql.Identifier(column.column)
    plain = sql.SQL("SELECT {col} AS v FROM {table} WHERE {col} IS NOT NULL LIMIT 1").format(col=col, table=table)
    from qprof.safety import execution_verdict

    sampled = sql.SQL("SELECT {col} AS v FROM {table} TABLESAMPLE SYSTEM (1) WHERE {col} IS NOT NULL LIMIT 1").format(col=col, table=table)
    # the same gate as any execution, on the exact texts run: a view, policy, partition or
    # foreign table that would call something with side effects gives no sample, no value
    if not all(execution_verdict(target, query.as_string(target.conn)).allowed for query in (plain, sampled)):
        return None
    rows = target.fetch_all(sampled, what=f"sampling {column.qualified}")
    if rows:
        return rows[0]["v"], f"{column.qualified} from TABLESAMPLE SYSTEM (1)"
    rows = target.fetch_all(plain, what=f"sampling {column.qualified}")
    if rows:
        return rows[0]["v"], f"{column.qualified} from the first row"
    return None


# --- SQLite --------------------------------------------------------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _draw_sqlite(target: Any, column: ColumnRef, kind: str) -> tuple[Any, str] | None:
    if not _has_column(target, None, column.table, column.column):
        return None
    table, col = _q(column.table), _q(column.column)
    if kind in ("lower", "upper"):
        count = target.fetch_value(f"SELECT count({col}) FROM {table}", what=f"counting {column.qualified}") or 0
        if not count:
            return None
        offset = min(int(count * _quantile(kind)), count - 1)
        value = target.fetch_value(
            f"SELECT {col} FROM {table} WHERE {col} IS NOT NULL ORDER BY {col} LIMIT 1 OFFSET ?",
            (offset,),
            what=f"sampling {column.qualified}",
        )
        return (value, f"{column.qualified} at the {_quantile(kind):.0%} quantile") if value is not None else None
    try:
        rows = target.fetch_all(
            f"SELECT {col} AS v FROM {table} WHERE rowid >= (SELECT (min(rowid) + max(rowid)) / 2 FROM {table}) AND {col} IS NOT NULL LIMIT 1",
            what=f"sampling {column.qualified}",
        )
    except QprofError:  # WITHOUT ROWID tables
        rows = []
    if rows:
        return rows[0]["v"], f"{column.qualified} from a row in the middle of the table"
    rows = target.fetch_all(f"SELECT {col} AS v FROM {table} WHERE {col} IS NOT NULL LIMIT 1")
    if rows:
        return rows[0]["v"], f"{column.qualified} from the first row"
    return None
