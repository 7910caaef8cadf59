"""Which statements of a window are the application's workload, and which are not.

Top lists are about what the application runs. DDL (``CREATE INDEX`` of a migration), utility
statements (``BEGIN``, ``SET``, ``VACUUM``) and statements of qprof itself or of other
monitoring (reading ``pg_stat_*`` and the catalogs) would otherwise lead them — a
``CREATE INDEX`` on a big table easily outweighs a thousand fast queries. They are counted
instead, in one line.
"""

from __future__ import annotations

import re

from qprof.owntag import OWN_TAG

DDL = frozenset(["CREATE", "ALTER", "DROP", "TRUNCATE", "COMMENT", "GRANT", "REVOKE", "REINDEX", "CLUSTER", "REFRESH", "SECURITY", "IMPORT", "REASSIGN"])
UTILITY = frozenset(
    [
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "ABORT",
        "SAVEPOINT",
        "RELEASE",
        "SET",
        "RESET",
        "SHOW",
        "DISCARD",
        "DEALLOCATE",
        "PREPARE",
        "EXECUTE",
        "LISTEN",
        "UNLISTEN",
        "NOTIFY",
        "LOCK",
        "CHECKPOINT",
        "VACUUM",
        "ANALYZE",
        "LOAD",
        "DO",
        "CALL",
        "DECLARE",
        "FETCH",
        "MOVE",
        "CLOSE",
        "EXPLAIN",
        "COPY",
    ]
)
KINDS = ("ddl", "utility", "qprof", "catalog")
_LEADING_COMMENTS = re.compile(r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*", re.DOTALL)
_FIRST_WORD = re.compile(r"[A-Za-z]+")
# monitoring reads statistics views and catalogs only: any mention of one marks a statement
_CATALOG = re.compile(
    r"\b(?:pg_catalog\.|information_schema\.|pg_stat_\w+|pg_class\b|pg_namespace\b|pg_settings\b|"
    r"pg_index\b|pg_attribute\b|pg_database\b|pg_roles\b|pg_proc\b|pg_extension\b|pg_current_logfile)",
    re.IGNORECASE,
)


def statement_class(query: str) -> str:
    """``workload``, or why not: ``ddl``, ``utility``, ``qprof`` (its own) or ``catalog``."""
    text = query or ""
    if OWN_TAG in text[:200]:
        return "qprof"
    body = text[_LEADING_COMMENTS.match(text).end() :]
    word = _FIRST_WORD.match(body)
    first = word.group().upper() if word else ""
    if first in DDL:
        return "ddl"
    if first in UTILITY:
        return "utility"
    if _CATALOG.search(body):
        return "catalog"
    return "workload"


def excluded_line(counts: dict[str, int]) -> str:
    """``left out of the top lists: 3 DDL, 12 utility, 5 qprof/monitoring`` (empty when none)."""
    labels = {"ddl": "DDL", "utility": "utility", "qprof": "qprof's own", "catalog": "catalog/monitoring"}
    parts = [f"{counts[k]} {labels[k]}" for k in KINDS if counts.get(k)]
    return ("left out of the top lists: " + ", ".join(parts) + " statement(s)") if parts else ""
