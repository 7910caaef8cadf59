"""QP502 nplusone.suspect-from-stats — statistics alone suggest an N+1 (a suspicion, not proof).

Evidence, not certainty: counters cannot show which statement ran after which. Confirm with
the application (``qprof.capture``, the pytest plugin) or the server log
(``qprof nplusone --log``) before rewriting code.

Never matched against qprof's own statements (tagged ``/* qprof */``) or monitoring queries
(anything reading ``pg_catalog``, ``pg_stat_*`` or ``information_schema``), and only a small,
close multiple counts: at most ``max_multiple`` lookups per parent row (50), within
``tolerance`` (2 %) of a whole number — "≈ 2503 × the 5 rows of a monitoring query" is a
coincidence, not a loop. The message shows the arithmetic.

Anti-pattern: as QP501, but seen only through pg_stat_statements' cumulative counters: a
single-table lookup by one key (``WHERE customer_id = $1``) with very many calls and a bounded
number of rows per call (about one for a many-to-one lookup, a handful for one-to-many), whose
call count is (close to) a whole multiple of the rows returned by another, less frequent
statement — as if each row of that statement triggered one lookup.

Fix: as QP501 — load all children in one statement (JOIN, ``= ANY($1)``, ``selectinload``).

Options: ``min_calls`` (default 100), ``max_rows_per_call`` (default 1000), ``threshold`` (parent
rows per parent call, default 5), ``tolerance`` (relative distance to a whole multiple, 0.02),
``max_multiple`` (default 50).
Scope ``statements``: ``check(statements, options)`` takes
:class:`qprof.model.StatementStats` from pg_stat_statements.

Example: ``suspect N+1: SELECT … FROM orders WHERE customer_id = $1 ran 10,000 times (3.0
rows/call) ≈ 5 × the 2,000 rows returned by SELECT id FROM customers …``.

Known problems: a suspicion by arithmetic on cumulative counters; two unrelated statements
whose counts happen to be multiples are reported too (the tolerance and ``max_multiple`` keep
this rare). Confirm with ``qprof nplusone --log`` or ``qprof.capture``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from qprof.findings import Finding
from qprof.model import StatementStats
from qprof.fingerprint import pg_fingerprint as fingerprint
from qprof.fingerprint import shape, short_id
from qprof.sqltext import one_line

from .base import fmt_int, make_rule

SCOPE = "statements"


_MONITORING = re.compile(r"\b(?:pg_catalog|pg_stat_\w*|pg_statio_\w*|information_schema)\b|/\*\s*qprof\s*\*/", re.I)


def is_monitoring(query: str) -> bool:
    """qprof's own statements and catalog/statistics queries: never part of an application loop."""
    return _MONITORING.search(query) is not None


def _parent(child: StatementStats, statements: list[StatementStats], options: dict) -> tuple[StatementStats, int, float] | None:
    """The statement whose returned rows best explain ``child.calls`` (a whole multiple)."""
    best = None
    child_fp = fingerprint(child.query)
    for parent in statements:
        if parent is child or parent.calls >= child.calls or parent.rows <= 0 or not parent.text_visible:
            continue
        if is_monitoring(parent.query):
            continue
        if parent.rows < options["threshold"] * parent.calls:
            continue
        parent_fp = fingerprint(parent.query)
        if parent_fp == child_fp or shape(parent_fp).kind != "select":
            continue
        ratio = child.calls / parent.rows
        multiple = round(ratio)
        if multiple < 1 or multiple > options.get("max_multiple", 50):
            continue
        error = abs(ratio - multiple) / multiple
        if error <= options["tolerance"] and (best is None or (error, -parent.rows) < (best[2], -best[0].rows)):
            best = (parent, multiple, error)
    return best


def check(statements: Iterable[StatementStats], options: dict) -> Iterator[Finding]:
    pool = [s for s in statements if s.text_visible and s.calls > 0 and not is_monitoring(s.query)]
    for child in pool:
        if child.calls < options["min_calls"] or child.rows_per_call > options["max_rows_per_call"]:
            continue
        info = shape(fingerprint(child.query))
        if info.kind != "select" or not info.single_table or not info.key_columns:
            continue
        match = _parent(child, pool, options)
        if match is None:
            continue
        parent, multiple, error = match
        table, column = info.tables[0], info.key_columns[0]
        times = "" if multiple == 1 else f"{multiple} × "
        yield RULE.finding(
            f"suspect N+1: {one_line(child.query, 80)} ran {fmt_int(child.calls)} times "
            f"({child.rows_per_call:.1f} rows/call) ≈ {times}the {fmt_int(parent.rows)} rows returned by "
            f"{one_line(parent.query, 60)} ({fmt_int(parent.rows)} × {multiple} = {fmt_int(parent.rows * multiple)}, "
            f"{error * 100:.1f} % off {fmt_int(child.calls)})",
            evidence={
                "suspect": True,
                "calls": child.calls,
                "rows_per_call": round(child.rows_per_call, 2),
                "total_ms": round(child.total_ms, 3),
                "queryid": child.queryid,
                "statement": child.query,
                "fingerprint_id": short_id(fingerprint(child.query)),
                "lookup": {"table": table, "column": column},
                "parent": {
                    "queryid": parent.queryid,
                    "statement": parent.query,
                    "calls": parent.calls,
                    "rows": parent.rows,
                },
                "calls_per_parent_row": round(child.calls / parent.rows, 3),
                "multiple": multiple,
                "distance_from_multiple": round(error, 3),
            },
            suggestion=(
                f"confirm with qprof.capture(engine) or qprof nplusone --log; if it is an N+1, fetch the "
                f"{table} rows for all parent rows at once (WHERE {column} = ANY($1), a JOIN, or selectinload)"
            ),
            table=table,
            statement=child.queryid or short_id(fingerprint(child.query)),
        )


RULE = make_rule(
    __doc__,
    code="QP502",
    name="nplusone.suspect-from-stats",
    severity="info",
    title="N+1 suspected from statement statistics",
    scope=SCOPE,
    engines=("postgresql",),
    options={"min_calls": 100, "max_rows_per_call": 1000.0, "threshold": 5, "tolerance": 0.02, "max_multiple": 50},
    check=check,
)
