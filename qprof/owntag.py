"""The one tag on every statement qprof itself sends, so that qprof never reports itself.

pg_stat_statements keeps a statement's text as first seen, leading comment included; the
statement collector (and the server-log reader) leave out every entry that starts with it.
"""

from __future__ import annotations

from typing import Any

OWN_TAG = "/* qprof */"


def tagged(query: Any) -> Any:
    """``query`` with qprof's tag in front: a string, or a psycopg ``sql.Composable`` (built with
    quoted identifiers, which must stay composed rather than be pasted into a string)."""
    if isinstance(query, str):
        return f"{OWN_TAG} {query}"
    from psycopg import sql

    return sql.SQL(OWN_TAG + " ") + query
