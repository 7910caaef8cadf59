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
* ``IN ($1,$2)`` without spaces, ``[$8+g``: sqlglot's tokenizer (used for analysis) reads
  ``$1,$2`` or ``$3])[$8`` as a dollar-quoted string → a space before such a ``$n``
  (:func:`space_placeholders`, engine-neutral);
* ``jsonb_build_object($1, g)``, ``concat($1, …)``: an untyped parameter given to a built-in
  taking "any" has no type at all (the literal it replaced was read as text) → ``$1::text``;
* ``SELECT date_trunc($1, c) … GROUP BY date_trunc('day', c)``: pg_stat_statements keeps the
  literal where the item is repeated → the select list gets it back (:func:`_inline_grouped`).

libpg_query parses normalized text (its grammar accepts ``interval $1``) and gives exact
locations, so rewriting is by position, never by pattern: literals and comments are never
touched. Text the parser rejects is returned unchanged for the caller to report.

:func:`parametrize` goes the other way for a logged statement: its literals become ``$n`` and
their values the parameters, so the advisor costs it with the values it ran with.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterator
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
            # PostgreSQL refuses a $2 without a second value; remapping the first one would bind it silently
            raise BadInput(f"the statement uses ${max(self.numbers)} but {len(values)} value(s) were given")
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


def scanned_placeholders(sql: str) -> list[tuple[int, int, int]] | None:
    """``(start, end, number)`` of each ``$n`` as PostgreSQL's lexer finds them (outside literals
    and comments), in text order; None when it cannot scan the text."""
    tokens = _scan(sql)
    return None if tokens is None else [(p.start, p.end, p.number) for p in _params(sql, tokens)]


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
    """A space before every ``$n`` glued to a preceding comma or operator (``($1,$2)`` → ``($1, $2)``),
    and wherever else sqlglot would read a ``$n`` as the start of a dollar-quoted string.

    sqlglot's tokenizer (used for analysis) takes the text from a ``$`` to the next ``$`` as a
    dollar-quote tag unless it is all digits or holds a blank: ``$3])[$8`` opens a string
    tagged ``3])[`` that never closes ("Error tokenizing"), as ``g||$10`` after ``$9,`` did in
    logged ``INSERT … SELECT`` statements. PostgreSQL's tags never start with a digit, so a
    blank between the two changes nothing for it (:func:`_unglue`).

    For any engine: PostgreSQL's lexer finds the placeholders, so literals and comments keep
    their text; text it cannot scan (an unterminated literal) comes back unchanged.
    """
    if "$" not in sql:
        return sql
    tokens = _scan(sql)
    if tokens is None:
        return sql
    edits = [(p.start, p.start, " ") for p in _params(sql, tokens) if p.start and sql[p.start - 1] not in _SPACE_AFTER]
    spaced = _apply(sql, edits) if edits else sql
    if edits:
        tokens = _scan(spaced)
        if tokens is None:  # cannot happen (blanks between tokens); keep what scanned
            return sql
    return _unglue(spaced, tokens)


def _unglue(sql: str, tokens: list[Any]) -> str:
    """A blank between each ``$n`` and the next ``$`` when the text between them has none (see
    :func:`space_placeholders`): before that ``$`` when it starts a placeholder, else right
    after the ``$n`` (the next ``$`` is in a literal or comment, which keeps its text)."""
    params = _params(sql, tokens)
    starts = {p.start for p in params}
    edits = []
    for param in params:
        following = sql.find("$", param.end)
        if following < 0:
            continue  # sqlglot reaches the end and reads a parameter
        tag = sql[param.start + 1 : following]
        if tag.isdigit() or any(char.isspace() for char in tag):
            continue
        at = following if following in starts else param.end
        edits.append((at, at, " "))
    return _apply(sql, edits) if edits else sql


def _renumber(sql: str, tokens: list[Any]) -> tuple[str, tuple[int, ...]]:
    params = _params(sql, tokens)
    used = sorted({p.number for p in params})
    if used and used[0] == 0:
        raise BadInput("there is no parameter $0: PostgreSQL numbers parameters from $1")
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
    spaced). More than 65,535 distinct parameters, or a ``$0``, raise BadInput: nothing can bind them.
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
    inlined = _inline_grouped(spaced, tokens, changes)
    if inlined != spaced:
        tokens = _scan(inlined) or []
    text, numbers = _renumber(inlined, tokens)
    if numbers:
        changes.append(f"parameters renumbered densely ($1..${len(numbers)} for ${numbers[0]}..${numbers[-1]})")
        tokens = _scan(text) or []
    tree = parse_tree(text)
    if tree is None:
        return Plannable(text, numbers, tuple(changes))
    textual = tuple(changes)  # spacing and renumbering: kept even if the rewrite below is undone
    here = _Tokens(text, tokens)
    edits: list[tuple[int, int, str]] = []
    for node in walk_tree(tree):
        edits += _typed_literal(here, node, changes)
        edits += _extract(here, node, changes)
        edits += _any_array(here, node, changes)
        edits += _any_argument(here, node, changes)
    if not edits:
        return Plannable(text, numbers, textual)
    rewritten = _apply(text, edits)
    if parse_tree(rewritten) is None:  # never hand back worse text than we got
        return Plannable(text, numbers, textual)
    return Plannable(rewritten, numbers, tuple(changes))


_GROUPING_WORDS = ("group", "order", "distinct")


def _inline_grouped(sql: str, tokens: list[Any], changes: list[str]) -> str:
    """``SELECT date_trunc($1, c) … GROUP BY date_trunc('day', c)`` → ``date_trunc('day', c)`` in
    both places.

    pg_stat_statements records a constant once, where the select list has it; a GROUP BY,
    ORDER BY or DISTINCT ON item that repeats that select-list item keeps its literal in the
    text. PREPARE then sees two different expressions ("must appear in the GROUP BY clause").
    A literal left in such an item therefore means the item *is* that select-list item: its
    ``$n`` get the item's literals back (the value is in the text already). The numbering gaps
    this leaves are closed by the renumbering after it.
    """
    if not any(word in sql.lower() for word in _GROUPING_WORDS):
        return sql
    tree = parse_tree(sql)
    if tree is None:
        return sql
    here = _Tokens(sql, tokens)
    edits: dict[int, tuple[int, int, str]] = {}
    for node in walk_tree(tree):
        select = node.get("SelectStmt")
        if not isinstance(select, dict) or not select.get("targetList"):
            continue
        targets = [item.get("ResTarget", {}).get("val") for item in select["targetList"]]
        items = [*(select.get("groupClause") or []), *(select.get("distinctClause") or [])]
        items += [item.get("SortBy", {}).get("node") for item in select.get("sortClause") or []]
        for item in items:
            if not isinstance(item, dict) or "A_Const" in item or not any("A_Const" in n for n in walk_tree(item)):
                continue
            for position, target in enumerate(targets, start=1):
                pairs: list[tuple[dict, dict]] = []
                if target is None or not _same_but_constants(target, item, pairs) or not pairs:
                    continue
                for param_node, const in pairs:
                    param, literal = _param_of(param_node, here.params), _literal_text(here, const)
                    if param is None or literal is None:
                        break
                    edits.setdefault(param.start, (param.start, param.end, literal))
                else:
                    change = f"select-list item {position} repeated with its literals in GROUP BY/ORDER BY: its $n given them back"
                    if change not in changes:
                        changes.append(change)
                break
    return _apply(sql, list(edits.values())) if edits else sql


def _same_but_constants(target: Any, item: Any, pairs: list[tuple[dict, dict]]) -> bool:
    """Whether two parse trees are equal but for locations and ``$n`` in ``target`` where
    ``item`` has a constant; those (ParamRef node, A_Const) pairs are appended to ``pairs``."""
    if isinstance(target, dict) and isinstance(item, dict):
        if "ParamRef" in target and "A_Const" in item:
            pairs.append((target, item["A_Const"]))
            return True
        keys = [k for k in target if k not in _LOCATIONS]
        if sorted(keys) != sorted(k for k in item if k not in _LOCATIONS):
            return False
        return all(_same_but_constants(target[k], item[k], pairs) for k in keys)
    if isinstance(target, list) and isinstance(item, list):
        return len(target) == len(item) and all(_same_but_constants(a, b, pairs) for a, b in zip(target, item, strict=True))
    return target == item


def _literal_text(here: _Tokens, const: dict) -> str | None:
    """The source text of a constant (``'day'``, ``5``, ``-2.5``), None when it cannot be found."""
    at = here.at.get(const.get("location", -1))
    if at is None:
        return None
    last = at + 1 if here.tokens[at].name == "ASCII_45" and at + 1 < len(here.tokens) else at  # -5: "-" then "5"
    return here.sql[here.tokens[at].start : here.tokens[last].end + 1]


class _Tokens:
    """The scanned text with the look-ups the rewrites need, built once (linear in the text).

    Every offset is in characters: pglast's scanner counts characters, its parser bytes, and
    :func:`parse_tree` converts the tree's locations once.
    """

    def __init__(self, sql: str, tokens: list[Any]) -> None:
        self.sql = sql
        self.tokens = tokens
        self.at = {t.start: index for index, t in enumerate(tokens)}
        self.params = {p.start: p for p in _params(sql, tokens)}
        self.froms = [t.start for t in tokens if t.name == "FROM"]

    def without_comments(self, start: int, end: int) -> str:
        """``sql[start:end]`` with its comments left out and whitespace collapsed (a type name as written)."""
        pieces, cursor = [], start
        for index in range(self.at.get(start, len(self.tokens)), len(self.tokens)):
            token = self.tokens[index]
            if token.start >= end:
                break
            if token.name in _COMMENTS:
                pieces.append(self.sql[cursor : token.start])
                cursor = token.end + 1
        pieces.append(self.sql[cursor:end])
        return " ".join(" ".join(pieces).split())


_COMMENTS = ("SQL_COMMENT", "C_COMMENT")
_LOCATIONS = ("location", "list_start", "list_end", "stmt_location")


def parse_tree(sql: str) -> Any:
    """PostgreSQL's parse tree of ``sql`` as JSON (libpg_query's node names), its locations in
    characters like the scanner's; None when PostgreSQL's parser rejects the text."""
    from pglast import parser

    try:
        tree = json.loads(parser.parse_sql_json(sql))
    except Exception:  # noqa: BLE001 - not PostgreSQL (SQLite text, a typo): nothing to rewrite
        return None
    if not sql.isascii():
        _to_characters(tree, sql)
    return tree


def _to_characters(tree: Any, sql: str) -> None:
    """Byte offsets (libpg_query works on UTF-8) → character offsets, in place, once."""
    chars: list[int] = []
    for index, char in enumerate(sql):
        chars.extend([index] * len(char.encode("utf-8")))
    chars.append(len(sql))
    for node in walk_tree(tree):
        for key in _LOCATIONS:
            value = node.get(key)
            if isinstance(value, int) and 0 <= value < len(chars):
                node[key] = chars[value]
        node.pop("stmt_len", None)  # a byte length; nothing here reads it


def walk_tree(node: Any) -> Iterator[dict]:
    """Every node (dict) of a :func:`parse_tree` tree, depth first, without recursion."""
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


def _type_names(type_name: dict) -> list[str]:
    return [part.get("String", {}).get("sval") for part in type_name.get("names", [])]


# The typmod PostgreSQL stores for an interval without fields (INTERVAL_FULL_RANGE).
_INTERVAL_FULL_RANGE = 0x7FFF


def _interval_fields(type_name: dict) -> bool:
    """``interval … day`` / ``hour to minute`` / ``second(2)``: a value read with these fields means
    another thing than the same value cast to them (``interval '5' minute`` is 5 minutes,
    ``'5'::interval minute`` 5 seconds truncated to 0)."""
    if _type_names(type_name)[-1:] != ["interval"]:
        return False
    typmods = type_name.get("typmods") or []
    first = typmods[0].get("A_Const", {}).get("ival", {}) if typmods and isinstance(typmods[0], dict) else None
    return first is not None and first.get("ival", 0) != _INTERVAL_FULL_RANGE


def _typed_literal(here: _Tokens, node: dict, changes: list[str]) -> list[tuple[int, int, str]]:
    """``type $n`` (the type name written before the value) → ``$n::type``.

    ``character $1`` and ``bit $1`` are unbounded in that form but ``char(1)``/``bit(1)`` as a
    cast, so they become ``bpchar``/``"bit"``. Comments between type and value are left out.
    An interval with fields keeps its fields in the cast: right for a generic plan; with a
    value, :func:`inline_interval_fields` puts the value back in the literal form.
    """
    cast = node.get("TypeCast")
    if not isinstance(cast, dict):
        return []
    param = _param_of(cast.get("arg"), here.params)
    type_name = cast.get("typeName") or {}
    where = type_name.get("location", -1)
    if param is None or where < 0 or where >= param.start:
        return []  # CAST($1 AS t) and $1::t name the type after the value: valid already
    written = here.without_comments(where, param.start)
    names = _type_names(type_name)
    type_text = written
    if not type_name.get("typmods") and names[-1:] in (["bpchar"], ["bit"]):
        type_text = "bpchar" if names[-1] == "bpchar" else '"bit"'
    after = " …" if _interval_fields(type_name) else ""  # the fields follow the value and stay where they are
    changes.append(f"{written} ${param.number}{after} → ${param.number}::{type_text}{after}")
    return [(where, param.end, f"${param.number}::{type_text}")]


def inline_interval_fields(sql: str, values: list, quote: Callable[[str], str]) -> str:
    """``$n::interval minute`` with its value known → ``interval '5' minute``: the value read with
    the fields, as the application's literal was (see :func:`_interval_fields`). ``quote`` makes
    a string literal (the connection's quoting). ``sql`` unchanged when there is no such cast."""
    if "interval" not in sql.lower() or "$" not in sql:
        return sql
    tree, tokens = parse_tree(sql), _scan(sql)
    if tree is None or tokens is None:
        return sql
    here = _Tokens(sql, tokens)
    edits = []
    for node in walk_tree(tree):
        cast = node.get("TypeCast")
        if not isinstance(cast, dict) or not _interval_fields(cast.get("typeName") or {}):
            continue
        param = _param_of(cast.get("arg"), here.params)
        if param is None or param.number > len(values) or values[param.number - 1] is None:
            continue
        index = here.at[param.start]
        if index + 2 >= len(tokens) or tokens[index + 1].name != "TYPECAST" or tokens[index + 2].name != "INTERVAL":
            continue
        last = _interval_type_end(tokens, index + 2)
        # interval [(p)] 'value' [fields]: the precision before the value, the fields after it
        split = index + 5 if tokens[index + 3].name == "ASCII_40" else index + 3
        head = here.without_comments(tokens[index + 2].start, tokens[split - 1].end + 1)
        fields = here.without_comments(tokens[split].start, tokens[last].end + 1) if split <= last else ""
        literal = f"{head} {quote(str(values[param.number - 1]))} {fields}".rstrip()
        edits.append((param.start, tokens[last].end + 1, literal))
    return _apply(sql, edits) if edits else sql


_FIELD_TOKENS = ("YEAR_P", "MONTH_P", "DAY_P", "HOUR_P", "MINUTE_P", "SECOND_P", "TO")


def _interval_type_end(tokens: list[Any], index: int) -> int:
    """The index of the last token of ``interval [(p)] [fields [to field][(p)]]`` starting at ``index``."""
    last = index
    while last + 1 < len(tokens):
        following = tokens[last + 1]
        if following.name in _FIELD_TOKENS or following.name in _COMMENTS:
            last += 1
        elif (
            following.name == "ASCII_40"
            and tokens[last].name in ("INTERVAL", "SECOND_P")
            and last + 3 < len(tokens)
            and tokens[last + 2].name == "ICONST"
            and tokens[last + 3].name == "ASCII_41"
        ):
            last += 3
        else:
            break
    while tokens[last].name in _COMMENTS:
        last -= 1
    return last


def _extract(here: _Tokens, node: dict, changes: list[str]) -> list[tuple[int, int, str]]:
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
    field, source = _param_of(args[0], here.params), _param_of(args[1], here.params)
    if field is not None:
        keyword = here.at.get(call.get("location", -1))
        after = bisect.bisect_left(here.froms, field.end)  # the first FROM after the field
        if keyword is not None and after < len(here.froms):
            between = here.tokens[here.at[here.froms[after]]]
            keyword_token = here.tokens[keyword]
            edits += [(keyword_token.start, keyword_token.end + 1, "date_part"), (between.start, between.end + 1, ",")]
            changes.append(f"EXTRACT(${field.number} FROM …) → date_part(${field.number}, …)")
    if source is not None:
        edits.append((source.end, source.end, "::timestamptz"))
        changes.append(f"EXTRACT(… FROM ${source.number}) → ${source.number}::timestamptz")
    return edits


_ANY_HEADS = (["ANY", "ASCII_40", "ARRAY", "ASCII_91"], ["SOME", "ASCII_40", "ARRAY", "ASCII_91"], ["ALL", "ASCII_40", "ARRAY", "ASCII_91"])


def _any_array(here: _Tokens, node: dict, changes: list[str]) -> list[tuple[int, int, str]]:
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
    if not elements or any(_param_of(element, here.params) is None for element in elements):
        return []
    op, opening, closing = (here.at.get(expr.get("location", -1)), here.at.get(array.get("list_start", -1)), here.at.get(array.get("list_end", -1)))
    if op is None or opening is None or closing is None:
        return []
    tokens = here.tokens
    # exactly: <op> ANY|SOME|ALL ( ARRAY [ … ] ) — anything else (a cast, a subscript) is left alone
    head = [t.name for t in tokens[op + 1 : opening + 1]]
    if head not in _ANY_HEADS:
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
    tree = parse_tree(sql)
    tokens = _scan(sql)
    if tree is None or tokens is None:
        return sql
    here = _Tokens(sql, tokens)
    edits = []
    for node in walk_tree(tree):
        cast = node.get("TypeCast")
        if isinstance(cast, dict) and isinstance(cast.get("arg"), dict) and "A_ArrayExpr" in cast["arg"]:
            cast["arg"]["A_ArrayExpr"]["qprof_cast"] = True  # already typed: leave it
        array = node.get("A_ArrayExpr")
        if not isinstance(array, dict) or array.get("qprof_cast"):
            continue
        elements = array.get("elements") or []
        closing = here.at.get(array.get("list_end", -1))
        if not elements or closing is None or any(_param_of(e, here.params) is None for e in elements):
            continue
        end = tokens[closing].end + 1
        edits.append((end, end, f"::{type_text}"))
    return _apply(sql, edits) if edits else sql


# Literal tokens that may carry anything (a key, an e-mail): none may stay in parametrized text.
_STRING_LITERALS = ("SCONST", "USCONST", "BCONST", "XCONST")


def parametrize(sql: str) -> tuple[str, list] | None:
    """A logged statement's literals as ``$n`` placeholders, and their values — the workload's own.

    ``… created_at > now() - interval '1 hour' AND status = 'paid' LIMIT 20`` becomes
    ``… now() - interval $1 AND status = $2 LIMIT $3`` with ``['1 hour', 'paid', Int4(20)]``, so
    the advisor costs the statement with the values it really ran with while no value appears
    in the text it prints. Numbers are bound with the type PostgreSQL reads the literal as
    (int4, int8, numeric), strings untyped, as a literal is (``$n::text`` where a built-in
    function takes "any"). Numbering continues after the ``$n`` the text has already (bound
    parameters); the same value written twice in select
    list, GROUP BY, ORDER BY, HAVING or DISTINCT ON, outside a cast, shares one ``$n``
    (``date_trunc('day', …)`` in the select list and in GROUP BY must stay the same
    expression); elsewhere each literal has its own (one ``$n`` in two contexts could be
    typed two ways). Left as they are: ``GROUP BY 1``/``ORDER BY 2`` positions, type
    modifiers, the EXTRACT field, NULL, booleans.

    None when the parser rejects the text, or when a string literal would stay in it (a bit
    string, a utility statement's ``PASSWORD '…'``): the caller then keeps the fingerprint,
    which has no literal either.
    """
    tree = parse_tree(sql)
    tokens = _scan(sql)
    if tree is None or tokens is None:
        return None
    index = {t.start: i for i, t in enumerate(tokens)}
    number = max((p.number for p in _params(sql, tokens)), default=0)
    edits: list[tuple[int, int, str]] = []
    values: list = []
    shared: dict[tuple[str, str], int] = {}
    grouped = _grouped_locations(tree)
    as_text = _any_arguments(tree)
    for const, cast in sorted(_constants(tree), key=lambda found: found[0]["location"]):
        cast = cast or const.get("location") not in grouped  # shared only where GROUP BY matching needs it
        value = _value(const)
        at = index.get(const.get("location", -1))
        if value is _NO_VALUE or at is None:
            continue
        last = at + 1 if tokens[at].name == "ASCII_45" and at + 1 < len(tokens) else at  # -5: "-" then "5"
        typed = "::text" if isinstance(value, str) and const.get("location") in as_text else ""
        key = (type(value).__name__ + typed, str(value))
        if cast or key not in shared:
            number += 1
            values.append(value)
            if not cast:
                shared[key] = number
        edits.append((tokens[at].start, tokens[last].end + 1, f"${shared.get(key, number) if not cast else number}{typed}"))
    text = _apply(sql, edits) if edits else sql
    left = _scan(text)
    if left is None or any(t.name in _STRING_LITERALS for t in left):
        return None
    return text, values


# Built-in functions taking "any" (pg_proc: provariadic or an argument of type "any"): a string
# literal there is read as text, an untyped parameter has no type at all ("could not determine
# data type of parameter $n"), so a logged ``jsonb_build_object('n', g)`` becomes ``($1::text, g)``.
_ANY_ARGUMENT_FUNCTIONS = frozenset(
    {
        "concat",
        "concat_ws",
        "count",
        "format",
        "json_build_array",
        "json_build_object",
        "json_object_agg",
        "jsonb_build_array",
        "jsonb_build_object",
        "jsonb_object_agg",
        "num_nonnulls",
        "num_nulls",
        "pg_column_size",
        "pg_typeof",
    }
)


def _any_argument(here: _Tokens, node: dict, changes: list[str]) -> list[tuple[int, int, str]]:
    """``jsonb_build_object($1, g)`` → ``jsonb_build_object($1::text, g)``: an untyped parameter given
    to a function taking "any" has no type at all, and PREPARE fails; the literal it replaced was
    read as text there (a number's text serves a plan as well)."""
    call = node.get("FuncCall")
    if not isinstance(call, dict) or not _takes_any(call):
        return []
    edits = []
    for arg in call.get("args") or []:
        param = _param_of(arg, here.params)
        if param is not None:
            edits.append((param.end, param.end, "::text"))
            changes.append(f"${param.number} given to {_function_name(call)}(…) → ${param.number}::text")
    return edits


def _function_name(call: dict) -> str:
    return ".".join(part.get("String", {}).get("sval", "") for part in call.get("funcname", []))


def _takes_any(call: dict) -> bool:
    names = [part.get("String", {}).get("sval") for part in call.get("funcname", [])]
    return bool(names) and names[-1] in _ANY_ARGUMENT_FUNCTIONS and names[:-1] in ([], ["pg_catalog"])


def _any_arguments(tree: Any) -> set[int]:
    """Locations of the constants given directly to a function of :data:`_ANY_ARGUMENT_FUNCTIONS`."""
    found: set[int] = set()
    for node in walk_tree(tree):
        call = node.get("FuncCall")
        if isinstance(call, dict) and _takes_any(call):
            found.update(arg["A_Const"].get("location", -1) for arg in call.get("args") or [] if isinstance(arg, dict) and "A_Const" in arg)
    return found


# Where an expression must equal another one textually (a select-list item and its GROUP BY).
_GROUPING_CLAUSES = ("targetList", "groupClause", "sortClause", "havingClause", "distinctClause")


def _grouped_locations(tree: Any) -> set[int]:
    """Locations of the constants in select lists, GROUP BY, ORDER BY, HAVING, DISTINCT ON."""
    found: set[int] = set()
    for node in walk_tree(tree):
        for key in _GROUPING_CLAUSES:
            if key in node:
                found.update(inner["A_Const"].get("location", -1) for inner in walk_tree(node[key]) if "A_Const" in inner)
    return found


_NO_VALUE = object()
_INT8_MAX = 2**63 - 1


def _value(const: dict) -> Any:
    """A_Const's value as a bind parameter typed as PostgreSQL reads the literal: an integer that
    fits int4 is int4, a bigger one int8 (then numeric), a decimal numeric; a string untyped
    (PostgreSQL infers it from where it stands); _NO_VALUE for NULL, booleans and bit strings.
    (The JSON leaves zero/empty values out: ``{"ival": {}}`` is 0.)"""
    from decimal import Decimal

    from psycopg.types.numeric import Int4, Int8

    if "ival" in const:
        return Int4(int(const["ival"].get("ival", 0)))
    if "fval" in const:
        text = str(const["fval"].get("fval", "0"))
        digits = text.lstrip("-")
        if digits.isdigit() and abs(int(text)) <= _INT8_MAX:
            return Int8(int(text))
        return Decimal(text)
    if "sval" in const:
        return str(const["sval"].get("sval", ""))
    return _NO_VALUE  # isnull, boolval, bsval


def _constants(node: Any, skip: bool = False, cast: bool = False) -> list[tuple[dict, bool]]:
    """The A_Const nodes whose value may become a parameter (see :func:`parametrize`), each with
    whether it is the value of a cast (``date '…'``, ``'…'::int``)."""
    found: list[tuple[dict, bool]] = []
    if isinstance(node, list):
        for item in node:
            found += _constants(item, skip)
        return found
    if not isinstance(node, dict):
        return found
    for key, child in node.items():
        if key == "A_Const":
            if not skip:
                found.append((child, cast))
            continue
        if key == "TypeCast" and isinstance(child, dict):
            arg = child.get("arg")
            if isinstance(arg, dict) and "A_Const" in arg:
                found += _constants(arg, skip, cast=True)
                found += _constants(child.get("typeName"), skip=True)
                continue
        if key in ("typmods", "groupClause", "sortClause"):
            # GROUP BY 1 / ORDER BY 2 name a column; a modifier is part of the type
            found += _constants(child, skip=True) if key == "typmods" else _positional(child)
        elif key == "FuncCall" and [n.get("String", {}).get("sval") for n in child.get("funcname", [])][-1:] == ["extract"]:
            args = child.get("args") or []
            found += _constants(args[1:], skip)
        else:
            found += _constants(child, skip)
    return found


def _positional(items: list) -> list[tuple[dict, bool]]:
    """Constants of GROUP BY / ORDER BY items, except the items that are a bare constant (a position)."""
    found = []
    for item in items:
        inner = item.get("SortBy", {}).get("node", item) if isinstance(item, dict) else item
        if isinstance(inner, dict) and "A_Const" in inner:
            continue
        found += _constants(inner)
    return found


_QUERY_STATEMENTS = {"SelectStmt": "select", "InsertStmt": "insert", "UpdateStmt": "update", "DeleteStmt": "delete", "MergeStmt": "merge"}


def statement_kind(sql: str) -> tuple[str, bool] | None:
    """The kind of one statement as PostgreSQL's own parser reads it — select, insert, update,
    delete, merge or utility (the labels of :func:`qprof.sqltext.statement_kind`) — and whether
    it modifies data (DML, also in a CTE); None when it rejects the text or there are several.
    For text qprof's SQL analyzer (sqlglot) cannot read but PostgreSQL accepts
    (``$1::interval second(2)``, ``$2::bit varying``): it can still be explained."""
    tree = parse_tree(sql)
    if tree is None or len(tree.get("stmts", [])) != 1:
        return None
    top = tree["stmts"][0].get("stmt", {})
    kind = next((label for key, label in _QUERY_STATEMENTS.items() if key in top), "utility")
    if kind == "utility":
        return kind, False
    modifying = any(key in node for node in walk_tree(top) for key in list(_QUERY_STATEMENTS)[1:])
    return kind, modifying


# The reason the advisor gives a statement PostgreSQL parses and sqlglot cannot (advise/pg_writes.py).
NOT_ANALYZED = "no index derived: PostgreSQL parses this text but qprof's SQL analyzer cannot"


def skip_hint(sql: str, reason: str, queryid: str) -> str:
    """What to try for a statement the advisor could not cost, matching why it failed."""
    if reason.startswith(NOT_ANALYZED):
        return f"qprof explain --queryid {queryid} shows its plan; an index for it has to be chosen by hand"
    read = statement_kind(sql)
    if reason.startswith("unparseable") and read is not None and read[0] != "utility":
        return (
            f"PostgreSQL accepts this text but qprof's SQL analyzer does not, so no index is derived "
            f"for it; qprof explain --queryid {queryid} still shows its plan"
        )
    return f"qprof explain --queryid {queryid}, or --sql with literal values"
