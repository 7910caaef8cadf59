"""QP502 suspects from counters: small close multiples only, never against qprof's own or
monitoring statements, and the arithmetic in the message."""

from __future__ import annotations

from qprof.advisors import qp502_nplusone_suspect as qp502

from qprof.model import StatementStats

OPTIONS = qp502.RULE.options
LOOKUP = "SELECT * FROM orders WHERE customer_id = $1"


def _stats(queryid: str, query: str, calls: int, rows: int) -> StatementStats:
    return StatementStats(queryid=queryid, query=query, calls=calls, total_ms=calls * 0.1, mean_ms=0.1, stddev_ms=0.0, max_ms=0.2, rows=rows)


def test_the_issue_false_positives_are_gone() -> None:
    statements = [
        _stats("1", LOOKUP, 12515, 12515),
        # ≈ 2503 × the 5 rows of a monitoring query: a coincidence, and a catalog query at that
        _stats("2", "SELECT queryid, calls FROM pg_stat_statements ORDER BY calls DESC LIMIT $1", 100, 500),
        _stats("3", "/* qprof */ SELECT relname FROM pg_catalog.pg_class WHERE relkind = $1", 10, 50),
        # a real parent, but 2503 × its rows is no loop a page runs
        _stats("4", "SELECT id FROM customers WHERE country = $1", 1, 5),
    ]
    assert list(qp502.check(statements, OPTIONS)) == []


def test_small_close_multiple_is_a_suspect_with_the_arithmetic() -> None:
    statements = [
        _stats("1", LOOKUP, 2410, 7000),
        _stats("2", "SELECT id FROM customers ORDER BY id LIMIT $1", 60, 1200),  # 1200 × 2 = 2400, 0.4 % off
        _stats("3", "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE state = $1", 1, 1205),  # 2 × 1205 = 2410 exactly
    ]
    [finding] = qp502.check(statements, OPTIONS)
    assert finding.evidence["parent"]["queryid"] == "2" and finding.evidence["multiple"] == 2
    assert finding.severity == "info" and finding.evidence["suspect"] is True
    assert finding.message.startswith("suspect N+1:") and "(1,200 × 2 = 2,400, 0.4 % off 2,410)" in finding.message
    # 3 % away from a whole multiple is not close enough
    statements[0] = _stats("1", LOOKUP, 2472, 7000)
    assert list(qp502.check(statements[:2], OPTIONS)) == []
