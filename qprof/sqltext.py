"""What qprof needs to know about a statement's text, read with sqlglot's tokenizer and parser.

Workload statements use PostgreSQL's ``$n`` placeholders (as pg_stat_statements prints them);
psycopg wants ``%(name)s`` and SQLite wants ``?n``. Rewriting works on token offsets, so a ``$1``
or ``%`` inside a string literal or comment is never touched.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from qprof import redact
from qprof.errors import BadInput

if TYPE_CHECKING:
    from sqlglot import exp

# sqlglot is imported inside the functions that read SQL (~60 ms): `qprof top` only shows text.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite"}


def _modifying() -> tuple[type[exp.Expression], ...]:
    from sqlglot import exp

    return (exp.Insert, exp.Update, exp.Delete, exp.Merge)


def _not_statements() -> tuple[type[exp.Expression], ...]:
    from sqlglot import exp

    return (exp.Alias, exp.Column, exp.Identifier, exp.Literal, exp.Binary, exp.Func, exp.Paren, exp.Tuple, exp.Star)


# Statements sqlglot keeps as an opaque Command that are real (utility) SQL, not typos.
UTILITY_COMMANDS = frozenset(
    {
        "ALTER",
        "ANALYZE",
        "CALL",
        "CHECKPOINT",
        "CLUSTER",
        "COMMENT",
        "COPY",
        "CREATE",
        "DEALLOCATE",
        "DECLARE",
        "DISCARD",
        "DO",
        "DROP",
        "EXECUTE",
        "EXPLAIN",
        "FETCH",
        "GRANT",
        "IMPORT",
        "LISTEN",
        "LOAD",
        "LOCK",
        "MOVE",
        "NOTIFY",
        "PRAGMA",
        "PREPARE",
        "REASSIGN",
        "REFRESH",
        "REINDEX",
        "RELEASE",
        "RESET",
        "REVOKE",
        "SAVEPOINT",
        "SECURITY",
        "SET",
        "SHOW",
        "TRUNCATE",
        "UNLISTEN",
        "VACUUM",
        "ATTACH",
        "DETACH",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "END",
    }
)


# sqlglot's tokenizer and parser are Python: ~1 s per 100 kB of SQL, and a statement is read
# several times (kind, placeholders, tables), so a 10 MB ORM statement would take many minutes.
# Longer statements are refused with their size; the rest of a workload goes on.
MAX_STATEMENT_CHARS = 1_000_000


def check_size(sql: str) -> None:
    """Refuse a statement too long to analyse in reasonable time (see :data:`MAX_STATEMENT_CHARS`)."""
    if len(sql) > MAX_STATEMENT_CHARS:
        from qprof.units import format_bytes

        raise BadInput(
            f"statement of {format_bytes(len(sql.encode()))} is too long to analyse (limit {MAX_STATEMENT_CHARS:,} characters)",
            hint="explain it with psql: EXPLAIN (FORMAT JSON) …, or shorten its IN list / VALUES",
        )


@dataclass(frozen=True)
class Placeholder:
    start: int  # offset of "$"
    end: int  # offset after the digits
    number: int


def find_placeholders(sql: str) -> list[Placeholder]:
    """``$n`` placeholders outside literals and comments, in text order."""
    import sqlglot
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    check_size(sql)
    try:
        tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(sql)
    except TokenError as exc:
        # text sqlglot misreads (a ``$n`` it takes for a dollar-quote tag): PostgreSQL's own lexer
        from qprof.pgtext import scanned_placeholders

        scanned = scanned_placeholders(sql)
        if scanned is None:
            raise BadInput(f"cannot tokenize SQL: {exc}") from None
        return [Placeholder(start, end, number) for start, end, number in scanned]
    found = []
    for here, after in itertools.pairwise(tokens):
        if here.token_type == TokenType.PARAMETER and after.token_type == TokenType.NUMBER and after.start == here.end + 1:
            found.append(Placeholder(here.start, after.end + 1, int(after.text)))
    return found


def placeholder_count(sql: str) -> int:
    """The highest ``$n`` used (PostgreSQL numbers parameters, it does not count them)."""
    return max((p.number for p in find_placeholders(sql)), default=0)


def _rewrite(sql: str, replace, escape=lambda piece: piece) -> str:
    pieces, cursor = [], 0
    for holder in find_placeholders(sql):
        pieces.append(escape(sql[cursor : holder.start]))
        pieces.append(replace(holder.number))
        cursor = holder.end
    pieces.append(escape(sql[cursor:]))
    return "".join(pieces)


def to_psycopg(sql: str) -> str:
    """``$n`` → ``%(pn)s`` with every other ``%`` doubled, for psycopg's client-side binding."""
    return _rewrite(sql, lambda n: f"%(p{n})s", lambda piece: piece.replace("%", "%%"))


def to_sqlite(sql: str) -> str:
    """``$n`` → ``?n``, SQLite's numbered parameter."""
    return _rewrite(sql, lambda n: f"?{n}")


def psycopg_params(values: list | tuple) -> dict[str, object]:
    return {f"p{index}": value for index, value in enumerate(values, start=1)}


@lru_cache(maxsize=4096)
def parse(sql: str, engine: str = "postgresql") -> exp.Expression:
    """The statement's syntax tree; unparseable SQL is a :class:`BadInput`."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    check_size(sql)
    try:
        tree = sqlglot.parse_one(sql, read=DIALECTS[engine])
    except (ParseError, TokenError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise BadInput(f"cannot parse SQL: {first}") from None
    except RecursionError:  # thousands of nested parentheses: sqlglot's parser recurses per level
        raise BadInput("cannot parse SQL: it nests too deeply for the parser") from None
    if tree is None:
        raise BadInput("empty statement")
    if isinstance(tree, exp.Command) and str(tree.this).upper() not in UTILITY_COMMANDS:
        raise BadInput(f"cannot parse SQL: unknown statement {str(tree.this)!r}")
    if isinstance(tree, _not_statements()):  # "selec x" parses as the expression `selec AS x`
        first = sql.split(None, 1)[0].upper() if sql.split() else ""
        if first in UTILITY_COMMANDS:  # SAVEPOINT "sp", RELEASE "sp": real statements, not typos
            return exp.Command(this=first, expression=exp.Literal.string(sql[len(first) :].strip()))
        raise BadInput(f"cannot parse SQL: not a statement: {one_line(sql, 60)!r}")
    return tree


def is_data_modifying(tree: exp.Expression) -> bool:
    """INSERT/UPDATE/DELETE/MERGE, including one hidden in a CTE (``WITH d AS (DELETE …) SELECT``)."""
    modifying = _modifying()
    return any(isinstance(node, modifying) for node in tree.walk())


def is_query(tree: exp.Expression) -> bool:
    """A statement qprof may run to time it: a query or DML, never DDL or a utility command."""
    from sqlglot import exp

    return isinstance(tree, (exp.Query, *_modifying()))


def statement_kind(tree: exp.Expression) -> str:
    """A short label for messages: select, insert, update, delete, merge, ddl, utility."""
    from sqlglot import exp

    if isinstance(tree, exp.Query):
        return "select"
    for kind in _modifying():
        if isinstance(tree, kind):
            return kind.__name__.lower()
    if isinstance(tree, (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)):
        return "ddl"
    return "utility"


def one_line(sql: str, width: int | None = None) -> str:
    """Statement text for display: secrets hidden (before the cut can split a literal),
    whitespace collapsed, cut to ``width`` characters with an ellipsis."""
    text = " ".join(redact.output(sql).split())
    if width and len(text) > width:
        return text[: max(width - 1, 1)] + "…"
    return text
