"""Statement fingerprints: the same statement with different values gets the same key.

One definition for every part that joins statements by shape: N+1 detection, the log collector
(:mod:`qprof.collectors.logs`), ``advise --log``, ``record``'s percentiles and rule QP502.

A log of a busy service holds millions of statements, so the per-statement path is a small
lexer (one compiled pattern that finds only literals and placeholders; comments in a second,
rarely needed pass) behind a bounded cache keyed by the raw text. sqlglot's own tokenizer
takes ~250 µs per statement here, too slow for 50 MB/s of log; instead sqlglot parses each
*distinct* fingerprint once to learn what the statement is (a SELECT? which table, which key
column?).

Normalization: string/number literals and every placeholder style (``$1``, ``?``, ``?1``,
``%s``, ``%(name)s``, ``:name``) become ``?``; comments go; ``IN (?, ?, ?)`` and multi-row
``VALUES`` collapse to one element; whitespace and case fold.

PostgreSQL text (server logs, pg_stat_statements) goes through :func:`pg_fingerprint`:
PostgreSQL's own parser (pglast's ``normalize``) decides what a constant is, so quoted
identifiers keep their case, ``numeric(10,2)`` keeps its type modifiers, ``0x1F`` and ``true``
are constants and ``ARRAY[1,2,3]`` collapses. The lexer above stays as its fast path for the
statements where it is provably the same — DML with none of the constructs the two read
differently (:data:`_PG_SLOW`); a test checks the two agree on a corpus.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

# The values that change between executions of "the same" statement: string literals,
# dollar quotes, placeholders of every driver style and numbers. Everything else is copied.
_VALUES = re.compile(
    r"""
      [Ee]'(?:[^'\\]|\\.|'')*'          # E'…' (backslash escapes)
    | '(?:[^']|'')*'                      # '…'
    | \$(\w*)\$.*?\$\1\$                   # $tag$…$tag$
    | \$\d+ | %\(\w+\)s | %s | \?\d*        # $1  %(name)s  %s  ?  ?1
    | (?<![:\w]):[A-Za-z_]\w*              # :name (but not ::cast)
    | (?<![\w$.])(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?
    """,
    re.S | re.X,
)
# The same pattern, rewritten so that every alternative starts with one literal character:
# the regex engine then skips ahead with that set of first characters instead of trying each
# alternative at every position (4× faster on typical statements). The lookbehinds move after
# the first character (``(?<![\w$.]\d)`` = "the character before this digit is not …"), which
# matches the same strings. Spelling digits out covers only ASCII ones, so it is used for ASCII
# text only; anything else takes ``_VALUES``.
_ASCII_VALUES = re.compile(
    r"""
      E'(?:[^'\\]|\\.|'')*'
    | e'(?:[^'\\]|\\.|'')*'
    | '(?:[^']|'')*'
    | \$(\w*)\$.*?\$\1\$
    | \$\d+ | %\(\w+\)s | %s | \?\d*
    | :(?<![:\w]:)[A-Za-z_]\w*
    """
    + "".join(rf"| {d}(?<![\w$.]{d})\d*\.?\d*(?:[eE][+-]?\d+)?" for d in "0123456789")
    + r"""
    | \.(?<![\w$.]\.)\d+(?:[eE][+-]?\d+)?
    """,
    re.S | re.X,
)
# Comments, found together with strings so a "--" inside a literal is not taken for one.
_COMMENTS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.S)
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_ROWS = re.compile(r"\(\?\)(?:\s*,\s*\(\?\))+")

CACHE_SIZE = 20_000


def _drop_comment(match: re.Match[str]) -> str:
    text = match.group()
    return text if text.startswith("'") else " "


@lru_cache(maxsize=CACHE_SIZE)
def fingerprint(sql: str) -> str:
    """The normalized text every execution of the same statement shares.

    Cached by raw text: a driver that binds parameters sends the same text each time, so a
    log of millions of executions normalizes each distinct text once.
    """
    if "--" in sql or "/*" in sql:
        sql = _COMMENTS.sub(_drop_comment, sql)
    values = _ASCII_VALUES if sql.isascii() else _VALUES
    text = " ".join(values.sub("?", sql).split()).lower().rstrip("; ")
    if "(" in text and "?" in text:
        text = _ROWS.sub("(?)", _LIST.sub("(?)", text))
    return text


# What the lexer reads differently from PostgreSQL's parser (any of it: take the parser): quoted
# identifiers, subscripts/arrays, prefixed strings (E'', B'', X'', U&'', N''), hex/octal/binary
# and underscored numbers, unary minus, booleans and NULL constants, type modifiers and other
# numbers as a function's first argument, positional ORDER/GROUP BY. Cheap substring tests
# first: this runs once per distinct statement text, millions of times on a busy log.
_PG_GLUED = re.compile(r"\w\?|\?\w")  # e?/b?/x?/n? (prefixed strings), ?x1f (hex), ?_000 (underscored)
_PG_MINUS = re.compile(r"-\s*\?")
_PG_CONSTANT_WORD = re.compile(r"\b(?:true|false)\b|(?<!is )(?<!not )\bnull\b")
_PG_CALL_VALUE = re.compile(r"(\w+)\s*\(\s*[-+]?\s*\?")
_PG_BY = re.compile(r"\bby\s")
_PG_CAST_MODIFIER = re.compile(r"(?:::|\bas\s+)\s*\w+(?:\s+\w+)?\s*\(")
_PG_FAST_WORDS = ("select", "insert", "update", "delete", "with")
_PG_TOKENS = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|--[^\n]*|/\*.*?\*/|\$(\w*)\$.*?\$\1\$|\$\d+', re.S)
_PG_PARAM = re.compile(r"\$\d+")
_ARRAY = re.compile(r"array\[\s*\?(?:\s*,\s*\?)*\s*\]")
_normalize = None


@lru_cache(maxsize=CACHE_SIZE)
def pg_fingerprint(sql: str) -> str:
    """:func:`fingerprint` for PostgreSQL text, by PostgreSQL's own parser (see the module doc).

    Text the parser cannot read (another dialect, a fragment) gets :func:`fingerprint`.
    """
    lexed = fingerprint(sql)
    way = _way(lexed) if sql.isascii() else PARSER
    if way == LEXER:
        return lexed
    if way == BY_VALUES and _PG_ODD.search(sql) is None:
        # the same text but for its plain numbers and strings parses the same: one parse per shape
        return _pg_by_key(_PG_KEY_NUMBERS.sub("0", _PG_KEY_STRINGS.sub("''", sql)))
    return pg_normalized(sql)


PARSER, BY_VALUES, LEXER = 0, 1, 2
_PG_KEY_STRINGS = re.compile(r"'[^']*(?:''[^']*)*'")
_PG_KEY_NUMBERS = re.compile(r"(?<![\w$.])(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_PG_ODD = re.compile(r"(?<![\w$.])(?>\d+(?:\.\d*)?|\.\d+)[\w.]|--|/\*|\$|\\|-\s*-")


@lru_cache(maxsize=4096)
def _pg_by_key(key: str) -> str:
    return pg_normalized(key)


def fast_path(sql: str) -> bool:
    """Whether :func:`pg_fingerprint` takes the lexer's text as it is."""
    return sql.isascii() and _way(fingerprint(sql)) == LEXER


@lru_cache(maxsize=CACHE_SIZE)
def _way(lexed: str) -> int:
    """How to get the parser's text for statements with the lexer's text ``lexed``.

    Decided on the lexer's output (so once per statement shape, not per text): :data:`LEXER`
    when nothing the two read differently is in it — quoted identifiers, subscripts, a value
    glued to a word (``E''``/``B''``/``X''``/``N''`` strings, ``0x1F``, ``1_000``), booleans and
    NULL constants, a value as the first argument of a call (type modifiers such as
    ``numeric(10,2)`` look the same), positional ``ORDER BY 1``; :data:`BY_VALUES` when only a
    unary minus is in the way (the parser folds ``-4021`` into the constant; the lexer cannot
    tell unary from binary): texts that differ only in plain numbers and strings share one
    parse; else :data:`PARSER`.
    """
    if '"' in lexed or "[" in lexed or not lexed.startswith(_PG_FAST_WORDS):
        return PARSER
    if ("true" in lexed or "false" in lexed or "null" in lexed) and _PG_CONSTANT_WORD.search(lexed) is not None:
        return PARSER
    if "(" in lexed and ("::" in lexed or "as " in lexed) and _PG_CAST_MODIFIER.search(lexed) is not None:
        return PARSER  # x::numeric(10,2), CAST(x AS varchar(20)): the parser keeps type modifiers
    if "?" not in lexed:
        return LEXER
    if _PG_GLUED.search(lexed) is not None:
        return PARSER
    if "(" in lexed:
        for match in _PG_CALL_VALUE.finditer(lexed):
            if match.group(1) not in ("in", "values", "any", "all"):
                return PARSER  # numeric(10,2), varchar(20), round(1, …): the parser tells modifiers from constants
    if "by" in lexed:
        for match in _PG_BY.finditer(lexed):
            for item in lexed[match.end() :].split(","):
                if item.lstrip().lstrip("+-").lstrip().startswith("?"):
                    return PARSER  # ORDER BY 1: a position, which the parser keeps
    return BY_VALUES if "-" in lexed and _PG_MINUS.search(lexed) is not None else LEXER


def pg_normalized(sql: str) -> str:
    """The parser's path of :func:`pg_fingerprint` (no fast path; tests compare the two)."""
    global _normalize
    if _normalize is None:
        from pglast.parser import normalize

        _normalize = normalize
    try:
        text = _normalize(sql)
    except Exception:  # noqa: BLE001 - pglast raises ParseError, and others for odd input
        return fingerprint(sql)
    if '"' in text or "'" in text or "--" in text or "/*" in text or "$$" in text:
        out, position = [], 0
        for match in _PG_TOKENS.finditer(text):
            out.append(text[position : match.start()].lower())
            token = match.group()
            first = token[0]
            out.append(token if first == '"' else " " if first in "-/" else "?")
            position = match.end()
        out.append(text[position:].lower())
        text = "".join(out)
    else:
        text = _PG_PARAM.sub("?", text).lower()
    text = " ".join(text.split()).rstrip("; ")
    if "?" in text:
        if "(" in text:
            text = _ROWS.sub("(?)", _LIST.sub("(?)", text))
        if "[" in text:
            text = _ARRAY.sub("array[?]", text)
    return text


def short_id(fingerprint_text: str) -> str:
    """A stable 12-hex-digit id for a fingerprint (shown in output, usable as a key)."""
    return hashlib.blake2b(fingerprint_text.encode(), digest_size=6).hexdigest()


@dataclass(frozen=True)
class Shape:
    """What sqlglot reads from a fingerprint: enough to name the fix."""

    kind: str  # select, insert, update, delete, other
    tables: tuple[str, ...] = ()
    key_columns: tuple[str, ...] = field(default=())  # columns compared to one value (col = ?)
    single_table: bool = False


_VALUE = (exp.Placeholder, exp.Parameter)


def _uncast(node: exp.Expression) -> exp.Expression:
    """``$1::BIGINT`` is still the placeholder (SQLAlchemy with psycopg 3 casts them)."""
    while isinstance(node, (exp.Cast, exp.TryCast, exp.Paren)):
        node = node.this
    return node


@lru_cache(maxsize=4096)
def shape(fingerprint_text: str) -> Shape:
    """Parse a fingerprint once; statements sqlglot cannot read fall back to their first word."""
    first = fingerprint_text.split(" ", 1)[0] if fingerprint_text else ""
    try:
        # "?" is not a placeholder to sqlglot's PostgreSQL reader everywhere (``?::int``); "$1" is
        tree = sqlglot.parse_one(fingerprint_text.replace("?", "$1"), read="postgres")
    except (ParseError, TokenError, ValueError):
        tree = None
    if tree is None:
        kind = first if first in ("select", "insert", "update", "delete") else "other"
        return Shape(kind)
    if isinstance(tree, exp.Query):
        kind = "select"
        if any(isinstance(node, (exp.Insert, exp.Update, exp.Delete)) for node in tree.walk()):
            kind = "other"  # a data-modifying CTE is not a read
    elif isinstance(tree, exp.Insert):
        kind = "insert"
    elif isinstance(tree, exp.Update):
        kind = "update"
    elif isinstance(tree, exp.Delete):
        kind = "delete"
    else:
        kind = "other"
    tables = tuple(dict.fromkeys(t.name for t in tree.find_all(exp.Table) if t.name))
    keys: list[str] = []
    where = tree.args.get("where")
    if where is not None:
        for eq in where.find_all(exp.EQ):
            left, right = _uncast(eq.this), _uncast(eq.expression)
            if isinstance(right, exp.Column) and isinstance(left, _VALUE):
                left, right = right, left
            if isinstance(left, exp.Column) and isinstance(right, _VALUE):
                keys.append(left.name)
    joins = tree.args.get("joins") or []
    return Shape(kind, tables, tuple(dict.fromkeys(keys)), single_table=len(tables) == 1 and not joins)
