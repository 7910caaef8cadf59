"""The one tag on every statement qprof itself sends, so that qprof never reports itself.

pg_stat_statements keeps a statement's text as first seen, leading comment included; the
statement collector (and the server-log reader) leave out every entry that starts with it.
"""

from __future__ import annotations

OWN_TAG = "/* qprof */"


def tagged(query: str) -> str:
    """``query`` with qprof's tag in front."""
    return f"{OWN_TAG} {query}"


def is_own(text: str) -> bool:
    """Whether a statement text is one qprof sent."""
    return text.lstrip().startswith(OWN_TAG)
