"""QP501 nplusone.repeated-lookup — the same SELECT runs once per row of another statement.

Detected, not guessed: from statements actually executed inside one unit of work (a request,
a test, a transaction) — captured in the application or read from the server log — when one
SELECT fingerprint ran at least ``threshold`` times with different parameters as one burst
(consecutive but for a short loop body) right after a source SELECT. A pattern, whatever it
costs on today's data: at least ``min_ms`` in total is a warning, less is info ("cheap on
this data; grows with rows").

Anti-pattern: a loop over the rows of one query that runs a second query per row —
``for c in customers: c.orders`` with lazy loading issues ``SELECT … FROM orders WHERE
customer_id = $1`` once per customer. Each round trip is cheap; hundreds of them per request
are not.

Fix: one statement instead of N — a JOIN, a batched ``WHERE customer_id = ANY($1)`` /
``IN (…)``, or in SQLAlchemy ``selectinload(Customer.orders)`` / ``joinedload`` on the query
that loads the parents.

Options: ``threshold`` (repeats, default 5), ``min_ms`` (total time that makes it a warning, default 50).
Scope ``nplusone``: ``check(nplusones, options)`` takes the detector's findings
(:class:`qprof.nplusone.detector.NPlusOne`).

Example: ``qprof nplusone --log postgresql.log``:

    QP501 N+1: SELECT * FROM orders WHERE customer_id = $1 ran 5×, 75.0 ms in total; after SELECT id FROM customers ORDER BY id LIMIT 20
      fix: 5 lookups by customer_id → one: SELECT … FROM orders WHERE customer_id = ANY($1) (or IN (…)) with all 5 keys

Known problems: from a log without ``%v`` in ``log_line_prefix`` the unit is the session, so a
loop must be consecutive in it; sessions that never idle (a connection pool) then hide loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from qprof.findings import Finding
from qprof.nplusone.detector import NPlusOne

from .base import make_rule

SCOPE = "nplusone"


def check(nplusones: Iterable[NPlusOne], options: dict) -> Iterator[Finding]:
    for item in nplusones:
        if item.per_loop < options["threshold"]:
            continue
        item.min_ms = options["min_ms"]
        table = item.shape.tables[0] if item.shape.tables else None
        yield RULE.finding(
            item.message,
            severity=item.severity,
            evidence=item.to_dict(),
            suggestion=item.fix,
            table=table,
            statement=item.fingerprint_id,
            source=item.unit,
        )


RULE = make_rule(
    __doc__,
    code="QP501",
    name="nplusone.repeated-lookup",
    severity="warning",
    title="N+1: one query per row of another query",
    scope=SCOPE,
    options={"threshold": 5, "min_ms": 50.0},
    check=check,
)
