"""The detector core and in-process capture on SQLite: fingerprints, the threshold boundary,
sources, sqlite3 tracing and the WSGI/ASGI middleware."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest
from nplusone_app import customer_order_totals, recent_orders_with_customer, seeded_sqlite_engine
from sqlalchemy import text
from sqlalchemy.orm import Session

import qprof.nplusone as nplusone
from qprof.nplusone.detector import Executed, aggregate, detect
from qprof.fingerprint import fingerprint, shape
from qprof.nplusone.middleware import NPlusOneASGIMiddleware, NPlusOneWSGIMiddleware


@pytest.fixture
def engine(tmp_path: Path):
    yield from seeded_sqlite_engine(tmp_path / "shop.sqlite")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM orders WHERE customer_id = $1 AND status IN ($2, $3, $4)",
        "select * from ORDERS where customer_id = ? and status in (?,?)",
        "SELECT * FROM orders WHERE customer_id = %s AND status IN (%s)",
        "SELECT * FROM orders WHERE customer_id = %(c)s AND status IN (%(a)s, %(b)s)",
        "SELECT * FROM orders WHERE customer_id = :c AND status IN (:a)",
        "SELECT *\n  FROM orders -- comment\n WHERE customer_id = 42 AND status IN ('new', 'it''s')",
        "/* request 17 */ SELECT * FROM orders WHERE customer_id = 7 AND status IN ('x');",
    ],
)
def test_fingerprint_normalizes_values_placeholders_and_in_lists(sql: str) -> None:
    assert fingerprint(sql) == "select * from orders where customer_id = ? and status in (?)"


def test_fingerprint_keeps_what_differs() -> None:
    assert fingerprint("SELECT * FROM t1 WHERE a = 1") != fingerprint("SELECT * FROM t2 WHERE a = 1")
    assert fingerprint("SELECT '--' FROM t WHERE b = $1") == "select ? from t where b = ?"
    assert fingerprint("INSERT INTO t (a, b) VALUES (1, 2), (3, 4)") == fingerprint("INSERT INTO t (a, b) VALUES ($1, $2)")
    assert fingerprint("SELECT x::int FROM t WHERE y = $$a$$") == "select x::int from t where y = ?"
    info = shape(fingerprint("SELECT o.id FROM orders o WHERE $1::BIGINT = o.customer_id"))
    assert (info.kind, info.tables, info.key_columns) == ("select", ("orders",), ("customer_id",))


def test_lazy_loop_over_20_customers_is_flagged(engine) -> None:
    with nplusone.capture(engine, min_ms=0) as cap, Session(engine) as session:
        customer_order_totals(session, 20)
    [finding] = cap.findings()
    assert finding.executions == 20 and finding.relationship == "Customer.orders"
    assert "FROM customers" in finding.source_statement and finding.source_rows is None
    assert "FROM orders" in finding.statement
    assert finding.to_dict()["fix"].startswith("eager-load it: add .options(selectinload(Customer.orders))")


def test_selectinload_version_is_not_flagged(engine) -> None:
    with nplusone.capture(engine, min_ms=0) as cap, Session(engine) as session:
        customer_order_totals(session, 20, eager=True)
    assert len(cap.statements) == 2 and cap.findings() == []
    assert "no N+1 found" in cap.report()


@pytest.mark.parametrize("customers, flagged", [(4, False), (5, True)])
def test_threshold_boundary(engine, customers: int, flagged: bool) -> None:
    with nplusone.capture(engine, min_ms=0) as cap, Session(engine) as session:
        customer_order_totals(session, customers)
    assert bool(cap.findings()) is flagged
    assert bool(cap.findings(threshold=customers)) is True


def test_min_ms_decides_severity_and_same_parameters_do_not_count(engine) -> None:
    with nplusone.capture(engine, min_ms=10_000) as cap, Session(engine) as session:
        customer_order_totals(session, 20)
    [finding] = cap.findings()  # cheap today is still a loop: found, as info
    assert finding.severity == "info" and "cheap on this data; grows with rows" in finding.describe()
    assert cap.findings(min_ms=0)[0].severity == "warning"
    with nplusone.capture(engine, min_ms=0) as cap, engine.connect() as conn:
        conn.execute(text("SELECT id FROM customers LIMIT 10"))
        for _ in range(10):  # the same value ten times is a cache problem, not an N+1
            conn.execute(text("SELECT * FROM orders WHERE customer_id = :c"), {"c": 1})
    assert cap.findings() == []


def test_many_to_one_lazy_load_is_flagged(engine) -> None:
    with nplusone.capture(engine, min_ms=0) as cap, Session(engine) as session:
        recent_orders_with_customer(session, 30)  # 10 customers × 3 orders: 10 lookups
    [finding] = cap.findings()
    assert finding.relationship == "Order.customer" and finding.executions == 10


def test_aggregate_merges_units() -> None:
    statements = []
    for request in range(3):
        statements.append(Executed("SELECT * FROM customers LIMIT 5", unit=f"r{request}", duration_ms=1))
        statements += [Executed("SELECT * FROM orders WHERE customer_id = ?", (i,), 2.0, unit=f"r{request}") for i in range(5)]
    found = detect(statements, min_ms=0)
    assert len(found) == 3
    [merged] = aggregate(found)
    assert merged.units == 3 and merged.executions == 15 and merged.total_ms == 30.0


def test_stdlib_sqlite3_trace(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.sqlite")
    conn.executescript("CREATE TABLE a(id INTEGER PRIMARY KEY); CREATE TABLE b(a_id INT, v INT);")
    conn.executemany("INSERT INTO a VALUES (?)", [(i,) for i in range(8)])
    with nplusone.trace_sqlite3(conn) as cap:
        for (a_id,) in conn.execute("SELECT id FROM a").fetchall():
            conn.execute("SELECT v FROM b WHERE a_id = ?", (a_id,)).fetchall()
    [finding] = cap.findings()
    assert finding.executions == 8 and finding.source_statement == "SELECT id FROM a"
    assert finding.callsite.startswith("tests/test_nplusone_detector.py:") and finding.callsite.endswith("in test_stdlib_sqlite3_trace")
    with pytest.raises(nplusone.NPlusOneError):
        with nplusone.trace_sqlite3(conn, raise_on_nplusone=True):
            conn.execute("SELECT id FROM a").fetchall()
            for a_id in range(6):
                conn.execute("SELECT v FROM b WHERE a_id = ?", (a_id,)).fetchall()
    with nplusone.trace_sqlite3(conn) as cap:  # no source statement drives it: not a loop over rows
        for a_id in range(6):
            conn.execute("SELECT v FROM b WHERE a_id = ?", (a_id,)).fetchall()
    assert cap.findings() == []


def test_wsgi_middleware_logs_and_adds_server_timing(engine, caplog) -> None:
    def app(environ, start_response):
        with Session(engine) as session:
            customer_order_totals(session, 8 if environ["PATH_INFO"] == "/lazy" else 3)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = NPlusOneWSGIMiddleware(app, engine, min_ms=0, server_timing=True)
    try:
        seen = {}
        with caplog.at_level(logging.WARNING, logger="qprof.nplusone"):
            body = wrapped({"REQUEST_METHOD": "GET", "PATH_INFO": "/lazy"}, lambda s, h, *a: seen.update(h))
            assert b"".join(body) == b"ok"
            wrapped({"REQUEST_METHOD": "GET", "PATH_INFO": "/small"}, lambda s, h, *a: None)
        assert seen["Server-Timing"].startswith("db;dur=") and 'desc="9 statements"' in seen["Server-Timing"]
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 1 and "N+1 in GET /lazy" in messages[0] and "Customer.orders" in messages[0]
    finally:
        wrapped.close()


def test_asgi_middleware_unit_per_request(engine) -> None:
    reported = []

    async def app(scope, receive, send):
        with Session(engine) as session:
            customer_order_totals(session, 6)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    wrapped = NPlusOneASGIMiddleware(app, engine, min_ms=0, server_timing=True, on_findings=lambda label, f: reported.append((label, f)))
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request"}

    async def main():
        await asyncio.gather(*(wrapped({"type": "http", "method": "GET", "path": f"/c/{i}"}, receive, send) for i in range(2)))

    try:
        asyncio.run(main())
    finally:
        wrapped.close()
    assert sorted(label for label, _ in reported) == ["GET /c/0", "GET /c/1"]
    assert all(f[0].executions == 6 for _, f in reported)
    start = [m for m in sent if m["type"] == "http.response.start"][0]
    assert dict(start["headers"])[b"server-timing"].endswith(b'desc="7 statements"')
