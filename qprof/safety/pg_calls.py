"""What a PostgreSQL statement calls, read with PostgreSQL's own parser (pglast).

Collected from the raw parse tree, before any catalog lookup: the functions called by name
(``FuncCall``, including those in FROM, aggregates, window functions, sub-queries and CTEs),
the operators used (``A_Expr``; each stands for a function), the relations named and how
(read, update/delete, insert), and ``set_config`` calls that are not transaction-local.

Not visible here, and resolved from the catalog instead (:mod:`qprof.safety.pg_resolve`): what
views, rules, defaults, CHECK constraints, policies, triggers and foreign tables call.
Also collected for the catalog: operators a statement uses without naming them (``IN
(SELECT …)``, ``CASE x WHEN``, ``JOIN … USING``, NATURAL JOIN: all ``=``), the types named in
casts (their input, cast and domain CHECK functions are resolved from the catalog), and every
column name, because ``t.name`` calls ``name(t)`` when ``t`` has no such column.
Not resolved at all: functions called from inside other functions' bodies — a function is
judged by its declared volatility.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

READ, WRITE, INSERT = 0, 1, 2  # how a relation is used; defaults and identities fire on INSERT only
_OPERATOR_CHARS = set("+-*/<>=~!@#%^&|`?")
# A_Expr kinds whose name is a keyword, not an operator, with the operators they compare with.
_KEYWORD_OPERATORS = {"BETWEEN": ("<=", ">="), "NOT BETWEEN": ("<", ">")}


@dataclass(frozen=True)
class FunctionName:
    schema: str | None  # None: resolved on the search path
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass
class StatementCalls:
    """Everything a statement (and what it reaches) names that can run code, each with the
    route it was found by (``called``, ``view public.v``, ``default of t.id`` …)."""

    functions: dict[FunctionName, str] = field(default_factory=dict)
    operators: dict[str, str] = field(default_factory=dict)
    # relation name as to_regclass reads it (quoted; schema-qualified when the statement says so)
    # → READ/WRITE/INSERT
    relations: dict[str, int] = field(default_factory=dict)
    session_settings: list[str] = field(default_factory=list)  # set_config(name, …, false)
    types: set[str] = field(default_factory=set)  # type names of casts, as to_regtype reads them
    attributes: set[str] = field(default_factory=set)  # column names: t.f may be f(t)
    refused: list[str] = field(default_factory=list)  # statements refused outright, with why

    def use(self, schema: str | None, name: str, mode: int) -> None:
        self.use_regclass(quote_ident(name) if schema is None else f"{quote_ident(schema)}.{quote_ident(name)}", mode)

    def use_regclass(self, name: str, mode: int) -> None:
        """A relation by its ``regclass`` text (as the catalog prints it)."""
        self.relations[name] = max(self.relations.get(name, READ), mode)


def quote_ident(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _strings(nodes) -> list[str]:
    return [getattr(node, "sval", "") for node in (nodes or ())]


def _is_true_literal(node) -> bool:
    """``true``, ``'t'``, ``'on'``, ``'true'::boolean`` …: a transaction-local set_config."""
    from pglast import ast

    if isinstance(node, ast.TypeCast):
        return _is_true_literal(node.arg)
    if isinstance(node, ast.A_Const) and not node.isnull:
        value = node.val
        if isinstance(value, ast.Boolean):
            return bool(value.boolval)
        if isinstance(value, ast.String):
            return value.sval.strip().lower() in {"t", "true", "on", "yes", "y", "1"}
        if isinstance(value, ast.Integer):
            return value.ival == 1
    return False


def statement_calls(sql: Any, via: str = "called", into: StatementCalls | None = None, mode: int = READ) -> StatementCalls:
    """The calls of ``sql`` (one or more statements), added to ``into``; relations it reads
    count as used with ``mode`` (a view that is written writes what it reads from).
    ``sql`` may also be an already parsed node (a trigger's WHEN clause).
    Raises pglast's ParseError when PostgreSQL's grammar rejects the text."""
    from pglast import ast, enums, parse_sql
    from pglast.visitors import Visitor

    calls = into if into is not None else StatementCalls()

    class Collect(Visitor):
        def visit_FuncCall(self, ancestors, node):
            parts = _strings(node.funcname)
            name = FunctionName(parts[-2] if len(parts) > 1 else None, parts[-1])
            calls.functions.setdefault(name, via)
            if name.name == "set_config" and name.schema in (None, "pg_catalog"):
                args = node.args or ()
                if len(args) != 3 or not _is_true_literal(args[2]):
                    setting = args[0].val.sval if args and isinstance(args[0], ast.A_Const) and isinstance(args[0].val, ast.String) else "?"
                    calls.session_settings.append(setting)

        def visit_A_Expr(self, ancestors, node):
            parts = _strings(node.name)
            if not parts:
                return
            operator = parts[-1]
            if operator.upper() in _KEYWORD_OPERATORS:
                for each in _KEYWORD_OPERATORS[operator.upper()]:
                    calls.operators.setdefault(each, via)
            elif set(operator) <= _OPERATOR_CHARS:
                calls.operators.setdefault(".".join(parts[-2:]) if len(parts) > 1 else operator, via)

        def visit_SubLink(self, ancestors, node):  # x IN (SELECT …), x = ANY (SELECT …), ROW(…) < (SELECT …)
            if node.subLinkType in (enums.SubLinkType.ANY_SUBLINK, enums.SubLinkType.ALL_SUBLINK, enums.SubLinkType.ROWCOMPARE_SUBLINK):
                parts = _strings(node.operName) or ["="]
                calls.operators.setdefault(".".join(parts[-2:]), via)

        def visit_CaseExpr(self, ancestors, node):  # CASE x WHEN y: x = y
            if node.arg is not None:
                calls.operators.setdefault("=", via)

        def visit_JoinExpr(self, ancestors, node):  # USING (m) and NATURAL compare with =
            if node.usingClause or node.isNatural:
                calls.operators.setdefault("=", via)

        def visit_TypeCast(self, ancestors, node):
            names = _strings(node.typeName.names)
            if names:
                calls.types.add(".".join(quote_ident(part) for part in names))

        def visit_ColumnRef(self, ancestors, node):
            calls.attributes.update(name for name in _strings(node.fields) if name)

        def visit_A_Indirection(self, ancestors, node):  # (t).f
            calls.attributes.update(name for name in _strings(node.indirection) if name)

        def visit_TruncateStmt(self, ancestors, node):
            calls.refused.append("TRUNCATE is not measured: it is DDL-like (CASCADE reaches other tables)")

        def visit_RangeVar(self, ancestors, node):
            calls.use(node.schemaname, node.relname, mode)

        def visit_InsertStmt(self, ancestors, node):
            calls.use(node.relation.schemaname, node.relation.relname, INSERT)

        def visit_MergeStmt(self, ancestors, node):
            calls.use(node.relation.schemaname, node.relation.relname, INSERT)

        def visit_UpdateStmt(self, ancestors, node):
            defaults = any(isinstance(target.val, ast.SetToDefault) for target in node.targetList or ())
            calls.use(node.relation.schemaname, node.relation.relname, INSERT if defaults else WRITE)

        def visit_DeleteStmt(self, ancestors, node):
            calls.use(node.relation.schemaname, node.relation.relname, WRITE)

    Collect()(parse_sql(sql) if isinstance(sql, str) else sql)
    return calls
