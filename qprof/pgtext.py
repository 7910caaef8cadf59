"""Normalized PostgreSQL text made plannable, read with PostgreSQL's own parser (pglast).

pg_stat_statements and log fingerprints replace constants by ``$n`` and keep the rest of the
text, which leaves forms PostgreSQL's grammar (and so ``PREPARE``) rejects or types badly:

* typed literals: ``interval '1 hour'`` becomes ``interval $3``; ``date $1``, ``timestamp with
  time zone $2``, ``numeric $4``, ``uuid $5``, ``jsonb $6`` … — rewritten as casts ``$3::interval``
  (``interval $1 day`` → ``$1::interval day``);
* ``EXTRACT``: pg_stat_statements replaces even the field (``EXTRACT($1 FROM x)``, a syntax
  error) → ``date_part($1, x)``; an untyped source has no best candidate → ``$n::timestamptz``;
* ``col = ANY (ARRAY[$1, $2])``: the array of unknowns resolves to ``text[]`` and ``bigint =
  text`` does not exist → ``col IN ($1, $2)`` (the same test, typed from ``col``);
* numbering with gaps (``… = $70000``): PostgreSQL cannot type the unused parameters, and
  planning 70,000 of them stalls → renumbered densely (``$1``), values remapped by
  :meth:`Plannable.params`;
* ``IN ($1,$2)`` without spaces: sqlglot's tokenizer (used for analysis) rejects ``$1,$2`` →
  a space before each such ``$n`` (:func:`space_placeholders`, engine-neutral).

libpg_query parses normalized text (its grammar accepts ``interval $1``) and gives exact
locations, so rewriting is by position, never by pattern: literals and comments are never
touched. Text the parser rejects is returned unchanged for the caller to report.

:func:`parametrize` goes the other way for a logged statement: its literals become ``$n`` and
their values the parameters, so the advisor costs it with the values it ran with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from qprof.errors import BadInput

# PostgreSQL's wire protocol carries at most 65,535 bind values; more cannot be planned or run.
MAX_PARAMETERS = 65535
_SPACE_AFTER = "([ \t\r\n\f\v"  # a $n right after one of these tokenizes fine in sqlglot


@dataclass(frozen=True)
class Plannable:
    """The rewritten text; ``numbers[i]`` is the original number of the new ``$(i+1)`` when renumbered."""

    sql: str
    numbers: tuple[int, ...] = ()
    changes: tuple[str, ...] = ()

    def params(self, values: list | None) -> list | None:
        """The original ``$1..$n`` values in the new numbering (unchanged when not renumbered)."""
        if values is None or not self.numbers:
            return values
        if len(values) < max(self.numbers):
            return values  # too few to remap: the caller reports the count mismatch
        return [values[number - 1] for number in self.numbers]


@dataclass(frozen=True)
class _Param:
    start: int
    end: int  # exclusive
    number: int


def _scan(sql: str) -> list[Any] | None:
    from pglast import parser

    try:
        return list(parser.scan(sql))
    except Exception:  # noqa: BLE001 - pglast raises its own ParseError; leave the text to the caller
        return None


def _params(sql: str, tokens: list[Any]) -> list[_Param]:
    found = []
    for token in tokens:
        if token.name == "PARAM":
            text = sql[token.start : token.end + 1]
            if text[1:].isdigit():
                found.append(_Param(token.start, token.end + 1, int(text[1:])))
    return found


def _apply(sql: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace non-overlapping ``(start, end, text)`` spans, given in any order."""
    pieces, cursor = [], 0
    for start, end, text in sorted(edits):
        if start < cursor:
            continue  # overlaps an earlier edit: keep the first
        pieces.append(sql[cursor:start])
        pieces.append(text)
        cursor = end
    pieces.append(sql[cursor:])
    return "".join(pieces)


def space_placeholders(sql: str) -> str:
    """A space before every ``$n`` glued to a preceding comma or operator (``($1,$2)`` → ``($1, $2)``).

    For any engine: PostgreSQL's lexer finds the placeholders, so literals and comments keep
    their text; text it cannot scan (an unterminated literal) comes back unchanged.
    """
    if "$" not in sql:
        return sql
    tokens = _scan(sql)
    if tokens is None:
        return sql
    edits = [(p.start, p.start, " ") for p in _params(sql, tokens) if p.start and sql[p.start - 1] not in _SPACE_AFTER]
    return _apply(sql, edits) if edits else sql


def _renumber(sql: str, tokens: list[Any]) -> tuple[str, tuple[int, ...]]:
    params = _params(sql, tokens)
    used = sorted({p.number for p in params})
    if len(used) > MAX_PARAMETERS:
        raise BadInput(f"the statement uses {len(used):,} parameters; PostgreSQL binds at most {MAX_PARAMETERS:,}")
    if not used or used[-1] == len(used):
        return sql, ()
    new = {old: index for index, old in enumerate(used, start=1)}
    return _apply(sql, [(p.start, p.end, f"${new[p.number]}") for p in params]), tuple(used)


@lru_cache(maxsize=4096)
def plannable(sql: str) -> Plannable:
    """``sql`` rewritten so that PREPARE and generic plans accept it (see the module docstring).

    A statement without placeholders, or one the parser rejects, comes back as it is (only
    spaced). More than 65,535 distinct parameters raise BadInput: nothing can bind them.
    """
    if "$" not in sql:
        return Plannable(sql)
    spaced = space_placeholders(sql)
    tokens = _scan(spaced)
    if tokens is None:
        return Plannable(spaced)
    changes: list[str] = []
    if spaced != sql:
        changes.append("placeholders spaced")
    text, numbers = _renumber(spaced, tokens)
    if numbers:
        changes.append(f"parameters renumbered densely ($1..${len(numbers)} for ${numbers[0]}..${numbers[-1]})")
        tokens = _scan(text) or []
    tree = _parse(text)
    if tree is None:
        return Plannable(text, numbers, tuple(changes))
    textual = tuple(changes)  # spacing and renumbering: kept even if the rewrite below is undone
    edits: list[tuple[int, int, str]] = []
    params = {p.start: p for p in _params(text, tokens)}
    for node in _walk(tree):
        edits += _typed_literal(text, node, params, changes)
        edits += _extract(node, params, tokens, changes)
        edits += _any_array(text, node, params, tokens, changes)
    if not edits:
        return Plannable(text, numbers, textual)
    rewritten = _apply(text, edits)
    if _parse(rewritten) is None:  # never hand back worse text than we got
        return Plannable(text, numbers, textual)
    return Plannable(rewritten, numbers, tuple(changes))


def _parse(sql: str) -> Any:
    from pglast import parser

    try:
        return json.loads(parser.parse_sql_json(sql))
    except Exception:  # noqa: BLE001 - not PostgreSQL (SQLite text, a typo): nothing to rewrite
        return None


def _walk(node: Any):
    stack = [node]
    while stack:
        here = stack.pop()
        if isinstance(here, dict):
            yield here
            stack.extend(here.values())
        elif isinstance(here, list):
            stack.extend(here)


def _param_of(node: Any, params: dict[int, _Param]) -> _Param | None:
    if isinstance(node, dict) and "ParamRef" in node:
        return params.get(node["ParamRef"].get("location", -1))
    return None


def _typed_literal(text: str, node: dict, params: dict[int, _Param], changes: list[str]) -> list[tuple[int, int, str]]:
    """``type $n`` (the type name written before the value) → ``$n::type``."""
    cast = node.get("TypeCast")
    if not isinstance(cast, dict):
        return []
    param = _param_of(cast.get("arg"), params)
    where = (cast.get("typeName") or {}).get("location", -1)
    if param is None or where < 0 or where >= param.start:
        return []  # CAST($1 AS t) and $1::t name the type after the value: valid already
    type_text = " ".join(text[where : param.start].split())
    changes.append(f"{type_text} ${param.number} → ${param.number}::{type_text}")
    return [(where, param.end, f"${param.number}::{type_text}")]


def _extract(node: dict, params: dict[int, _Param], tokens: list[Any], changes: list[str]) -> list[tuple[int, int, str]]:
    """``EXTRACT`` with placeholders: pg_stat_statements even replaces the field (``EXTRACT($1 FROM x)``,
    which PostgreSQL's grammar rejects → ``date_part($1, x)``); an untyped source has no best
    candidate (``EXTRACT(hour FROM $2)`` → ``$2::timestamptz``)."""
    call = node.get("FuncCall")
    if not isinstance(call, dict):
        return []
    names = [part.get("String", {}).get("sval") for part in call.get("funcname", [])]
    args = call.get("args") or []
    if names[-1:] != ["extract"] or call.get("funcformat") != "COERCE_SQL_SYNTAX" or len(args) != 2:
        return []
    edits = []
    field, source = _param_of(args[0], params), _param_of(args[1], params)
    if field is not None:
        keyword = next((t for t in tokens if t.start == call.get("location")), None)
        between = [t for t in tokens if field.end <= t.start and t.name == "FROM"]
        if keyword is not None and between:
            edits += [(keyword.start, keyword.end + 1, "date_part"), (between[0].start, between[0].end + 1, ",")]
            changes.append(f"EXTRACT(${field.number} FROM …) → date_part(${field.number}, …)")
    if source is not None:
        edits.append((source.end, source.end, "::timestamptz"))
        changes.append(f"EXTRACT(… FROM ${source.number}) → ${source.number}::timestamptz")
    return edits


def _any_array(
    text: str, node: dict, params: dict[int, _Param], tokens: list[Any], changes: list[str]
) -> list[tuple[int, int, str]]:
    """``x = ANY (ARRAY[$1, $2])`` → ``x IN ($1, $2)`` and ``<> ALL`` → ``NOT IN``: typed from ``x``."""
    expr = node.get("A_Expr")
    if not isinstance(expr, dict) or expr.get("kind") not in ("AEXPR_OP_ANY", "AEXPR_OP_ALL"):
        return []
    operator = [part.get("String", {}).get("sval") for part in expr.get("name", [])]
    wanted = {"AEXPR_OP_ANY": ["="], "AEXPR_OP_ALL": ["<>"]}[expr["kind"]]
    array = (expr.get("rexpr") or {}).get("A_ArrayExpr")
    if operator != wanted or not isinstance(array, dict):
        return []
    elements = array.get("elements") or []
    if not elements or any(_param_of(element, params) is None for element in elements):
        return []
    starts = [t.start for t in tokens]
    try:
        op = starts.index(expr["location"])
        opening = starts.index(array["list_start"])
        closing = starts.index(array["list_end"])
    except (KeyError, ValueError):
        return []
    # exactly: <op> ANY|SOME|ALL ( ARRAY [ … ] ) — anything else (a cast, a subscript) is left alone
    head = [t.name for t in tokens[op + 1 : opening + 1]]
    if head not in (["ANY", "ASCII_40", "ARRAY", "ASCII_91"], ["SOME", "ASCII_40", "ARRAY", "ASCII_91"],
                    ["ALL", "ASCII_40", "ARRAY", "ASCII_91"]):
        return []
    if closing + 1 >= len(tokens) or tokens[closing + 1].name != "ASCII_41":
        return []
    replacement = "IN (" if expr["kind"] == "AEXPR_OP_ANY" else "NOT IN ("
    changes.append(f"{operator[0]} {head[0]}(ARRAY[…]) of placeholders → {replacement.strip(' (')} (…)")
    end_head = tokens[opening].end + 1
    return [(tokens[op].start, end_head, replacement), (tokens[closing].start, tokens[closing + 1].end + 1, ")")]


def cast_placeholder_arrays(sql: str, type_text: str) -> str:
    """Every ``ARRAY[$1, $2]`` of bare placeholders (not cast already) cast to ``type_text``.

    An array of unknowns resolves to ``text[]``: ``tags && ARRAY[$1, $2]`` on an ``integer[]``
    column then has no operator. PostgreSQL's error names the type the other side has; with it,
    the array can be typed (see :func:`qprof.plans.postgres._prepare`). Returns ``sql`` unchanged
    when there is no such array.
    """
    tree = _parse(sql)
    tokens = _scan(sql)
    if tree is None or tokens is None:
        return sql
    params = {p.start: p for p in _params(sql, tokens)}
    by_start = {t.start: index for index, t in enumerate(tokens)}
    edits = []
    for node in _walk(tree):
        cast = node.get("TypeCast")
        if isinstance(cast, dict) and isinstance(cast.get("arg"), dict) and "A_ArrayExpr" in cast["arg"]:
            cast["arg"]["A_ArrayExpr"]["qprof_cast"] = True  # already typed: leave it
        array = node.get("A_ArrayExpr")
        if not isinstance(array, dict) or array.get("qprof_cast"):
            continue
        elements = array.get("elements") or []
        closing = by_start.get(array.get("list_end", -1))
        if not elements or closing is None or any(_param_of(e, params) is None for e in elements):
            continue
        end = tokens[closing].end + 1
        edits.append((end, end, f"::{type_text}"))
    return _apply(sql, edits) if edits else sql


def parametrize(sql: str) -> tuple[str, list] | None:
    """A logged statement's literals as ``$n`` placeholders, and their values — the workload's own.

    ``… created_at > now() - interval '1 hour' AND status = 'paid' LIMIT 20`` becomes
    ``… now() - interval $1 AND status = $2 LIMIT $3`` with ``['1 hour', 'paid', 20]``, so the
    advisor costs the statement with the values it really ran with while no value appears in
    the text it prints. Numbering continues after the ``$n`` the text has already (bound
    parameters). Left as they are: literals the plan's shape depends on (``GROUP BY 1``,
    ``ORDER BY 2``, type modifiers, the EXTRACT field), select-list constants, NULL, booleans,
    bit strings. None when the parser rejects the text.
    """
    tree = _parse(sql)
    tokens = _scan(sql)
    if tree is None or tokens is None:
        return None
    index = {t.start: i for i, t in enumerate(tokens)}
    number = max((p.number for p in _params(sql, tokens)), default=0)
    edits: list[tuple[int, int, str]] = []
    values: list = []
    for const in sorted(_constants(tree), key=lambda c: c["location"]):
        value = _value(const)
        at = index.get(const.get("location", -1))
        if value is _NO_VALUE or at is None:
            continue
        last = at + 1 if tokens[at].name == "ASCII_45" and at + 1 < len(tokens) else at  # -5: "-" then "5"
        number += 1
        values.append(value)
        edits.append((tokens[at].start, tokens[last].end + 1, f"${number}"))
    return (_apply(sql, edits), values) if edits else (sql, [])


_NO_VALUE = object()


def _value(const: dict) -> Any:
    """A_Const's value as a bind parameter: int, numeric as text, string; _NO_VALUE for the rest.
    (The JSON leaves zero/empty values out: ``{"ival": {}}`` is 0.)"""
    if "ival" in const:
        return int(const["ival"].get("ival", 0))
    if "fval" in const:
        return str(const["fval"].get("fval", "0"))
    if "sval" in const:
        return str(const["sval"].get("sval", ""))
    return _NO_VALUE  # isnull, boolval, bsval


def _constants(node: Any, skip: bool = False, select: bool = False) -> list[dict]:
    """The A_Const nodes whose value may become a parameter (see :func:`parametrize`); ``select``:
    ``node`` is a SelectStmt's body, whose select list keeps its constants."""
    found: list[dict] = []
    if isinstance(node, list):
        for item in node:
            found += _constants(item, skip)
        return found
    if not isinstance(node, dict):
        return found
    for key, child in node.items():
        if key == "SelectStmt":
            found += _constants(child, skip, select=True)
            continue
        if key == "A_Const":
            if not skip:
                found.append(child)
            continue
        if key in ("typmods", "groupClause", "sortClause"):
            # GROUP BY 1 / ORDER BY 2 name a column; a modifier is part of the type
            found += _constants(child, skip=True) if key == "typmods" else _positional(child)
        elif key == "targetList" and select:
            found += [c for item in child for c in _constants(item.get("ResTarget", {}).get("val"), True)]
        elif key == "FuncCall" and [n.get("String", {}).get("sval") for n in child.get("funcname", [])][-1:] == ["extract"]:
            args = child.get("args") or []
            found += _constants(args[1:], skip)
        else:
            found += _constants(child, skip)
    return found


def _positional(items: list) -> list[dict]:
    """Constants of GROUP BY / ORDER BY items, except the items that are a bare constant (a position)."""
    found = []
    for item in items:
        inner = item.get("SortBy", {}).get("node", item) if isinstance(item, dict) else item
        if isinstance(inner, dict) and "A_Const" in inner:
            continue
        found += _constants(inner)
    return found

