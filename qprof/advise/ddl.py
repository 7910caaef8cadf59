"""The one CREATE INDEX / DROP INDEX builder: what-if evaluators, builds and migration files all use it.

PostgreSQL statements are psycopg ``sql`` compositions (identifiers quoted by psycopg, never
pasted); SQLite statements are strings with identifiers quoted by sqlglot. A catalog name may
hold a line break or another control character: on PostgreSQL such an identifier is written as a
``U&"…"`` escape, so every statement stays on one line — a migration file split line by line (as
dbmate splits ``-- migrate:up`` from ``-- migrate:down``) can never see a name end a line.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qprof.advise.candidates import Candidate


# The names qprof builds indexes under (``qprof_<run>_<n>_<mark>_<final name>``, see
# qprof.advise.builds, which checks the mark): such an index is qprof's own measurement or a
# leftover of a killed run, never the user's.
BUILD_NAME = re.compile(r"^qprof_([0-9a-f]{8})_([0-9]+)_([0-9a-f]{8})_")


def is_build_name(name: str) -> bool:
    return BUILD_NAME.match(name) is not None


def needs_escape(text: str) -> bool:
    """Whether a name holds a control, format or line/paragraph separator character."""
    return any(unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp") for ch in text)


def _unicode_escape(text: str, quote: str) -> str:
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append(quote * 2)
        elif needs_escape(ch):
            code = ord(ch)
            out.append(f"\\{code:04x}" if code < 0x10000 else f"\\+{code:06x}")
        else:
            out.append(ch)
    return f"U&{quote}{''.join(out)}{quote}"


def pg_ident(*names: str) -> Any:
    """A (dotted) PostgreSQL identifier; ``U&"…"`` for a part that holds control characters."""
    from psycopg import sql

    if not any(needs_escape(name) for name in names):
        return sql.Identifier(*names)
    parts = [sql.SQL(_unicode_escape(name, '"')) if needs_escape(name) else sql.Identifier(name) for name in names]
    return sql.SQL(".").join(parts)


def one_line_literals(definition: str) -> str:
    """A definition PostgreSQL printed (``pg_get_indexdef``) with every quoted identifier or string
    literal that holds a control character rewritten as its ``U&`` escape: one line, same meaning."""

    def rewrite(match: re.Match[str]) -> str:
        token = match.group(0)
        quote = token[0]
        inner = token[1:-1].replace(quote * 2, quote)
        return _unicode_escape(inner, quote) if needs_escape(inner) else token

    return re.sub(r"""'(?:[^']|'')*'|"(?:[^"]|"")*\"""", rewrite, definition)


def sqlite_ident(name: str) -> str:
    from sqlglot import exp

    return exp.to_identifier(name, quoted=True).sql("sqlite")


def _pg_keys(candidate: Candidate) -> Any:
    from psycopg import sql

    return sql.SQL(", ").join(pg_ident(k.column) + (sql.SQL(" DESC") if k.descending else sql.SQL("")) for k in candidate.keys)


def create_index(
    candidate: Candidate,
    name: str | None,
    engine: str = "postgresql",
    *,
    on: tuple[str, str] | None = None,
    concurrently: bool = False,
    only: bool = False,
    if_not_exists: bool = False,
) -> Any:
    """``CREATE INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON [ONLY] table (keys) [INCLUDE (…)]``.

    PostgreSQL: a psycopg Composed (``.as_string(None)`` for text); SQLite: a string (no INCLUDE,
    no CONCURRENTLY there). ``on`` builds the candidate's shape on another table (a partition).
    """
    if engine == "sqlite":
        keys = ", ".join(sqlite_ident(k.column) + (" DESC" if k.descending else "") for k in candidate.keys)
        table = on[1] if on else candidate.table
        exists = " IF NOT EXISTS" if if_not_exists else ""
        return f"CREATE INDEX{exists} {sqlite_ident(name or '')} ON {sqlite_ident(table)} ({keys})"
    from psycopg import sql

    schema, table = on or candidate.table_key
    head = "CREATE INDEX" + (" CONCURRENTLY" if concurrently else "") + (" IF NOT EXISTS" if if_not_exists else "")
    named = sql.SQL(" {} ").format(pg_ident(name)) if name else sql.SQL(" ")
    include = sql.SQL("")
    if candidate.include:
        include = sql.SQL(" INCLUDE ({})").format(sql.SQL(", ").join(pg_ident(c) for c in candidate.include))
    where = sql.SQL("ON ONLY {} ({}){}" if only else "ON {} ({}){}").format(pg_ident(schema, table), _pg_keys(candidate), include)
    return sql.SQL(head) + named + where


def drop_index(schema: str, name: str, engine: str = "postgresql", *, concurrently: bool = True) -> Any:
    """``DROP INDEX [CONCURRENTLY] IF EXISTS "schema"."name"`` (Composed; a string on SQLite).

    ``concurrently=False`` for an index on a partitioned table: PostgreSQL allows no other way."""
    if engine == "sqlite":
        return f"DROP INDEX IF EXISTS {sqlite_ident(name)}"
    from psycopg import sql

    verb = "DROP INDEX CONCURRENTLY IF EXISTS " if concurrently else "DROP INDEX IF EXISTS "
    return sql.SQL(verb) + pg_ident(schema, name)


def text(statement: Any) -> str:
    """A statement from this module as text (psycopg quoting needs no connection)."""
    return statement if isinstance(statement, str) else statement.as_string(None)
