"""N+1 detection against a real PostgreSQL: the ORM app captured in-process and the same run read
back from the server's own stderr, csvlog and jsonlog files; QP502 from pg_stat_statements.

This module starts its own cluster: csvlog/jsonlog need logging_collector, a restart-only
setting the shared test cluster keeps off.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from nplusone_app import customer_order_totals, customer_order_totals_async
from pgcluster import PgCluster
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

import qprof.nplusone as nplusone
from qprof.nplusone.fingerprint import fingerprint
from qprof.nplusone.logparse import LogReader, workload_from_logs

pytestmark = pytest.mark.postgres

STDERR_PREFIX = "%m [%p] %q%u@%d "


@pytest.fixture(scope="module")
def logging_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster(
        settings={
            "logging_collector": "on",
            "log_destination": "stderr,csvlog,jsonlog",
            "log_directory": "log",
            "log_filename": "server.log",
            "log_min_duration_statement": "0",
            "log_line_prefix": STDERR_PREFIX,
            "log_checkpoints": "off",
        }
    )
    try:
        cluster.start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start the logging PostgreSQL cluster: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def shop(logging_cluster: PgCluster) -> str:
    """The sample shop in the logging cluster; returns a SQLAlchemy URL (psycopg 3)."""
    from qprof.sample_dbs import load_postgres

    dsn = logging_cluster.create_database("shop", extensions=("pg_stat_statements",))
    load_postgres(dsn, scale=0.02)
    return logging_cluster.url("shop").replace("postgresql://", "postgresql+psycopg://", 1)


def _log_files(cluster: PgCluster) -> dict[str, Path]:
    folder = cluster.datadir / "log"
    return {"stderr": folder / "server.log", "csvlog": folder / "server.csv", "jsonlog": folder / "server.json"}


def _wait_for(cluster: PgCluster, marker: str) -> None:
    """The collector writes asynchronously: wait until every log file has the marker statement."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        files = _log_files(cluster)
        if all(p.exists() and marker in p.read_text(errors="replace") for p in files.values()):
            return
        time.sleep(0.05)
    raise AssertionError(f"marker {marker} not in the server logs")


def _run_marked(cluster: PgCluster, url: str, eager: bool) -> tuple[nplusone.Capture, str]:
    """One "request" of the ORM app on its own connection, captured; the log is then complete."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with nplusone.capture(engine, min_ms=0) as cap, Session(engine) as session:
            customer_order_totals(session, 20, eager=eager)
            session.rollback()
        marker = f"qprof-marker-{uuid.uuid4().hex}"
        with engine.connect() as conn:
            conn.execute(text(f"SELECT '{marker}'"))
    finally:
        engine.dispose()
    _wait_for(cluster, marker)
    return cap, marker


@pytest.fixture(scope="module")
def lazy_run(logging_cluster: PgCluster, shop: str) -> nplusone.Capture:
    return _run_marked(logging_cluster, shop, eager=False)[0]


def test_capture_flags_lazy_loop_with_source_and_relationship(lazy_run: nplusone.Capture) -> None:
    assert len(lazy_run.statements) == 21  # 1 customers query + 20 lazy loads
    [finding] = lazy_run.findings()
    assert finding.executions == 20 and finding.distinct_params == 20
    assert finding.relationship == "Customer.orders"
    assert "FROM orders" in finding.statement and "customer_id" in finding.statement
    assert finding.source_statement is not None and "FROM customers" in finding.source_statement
    assert finding.source_share == 1.0
    assert "selectinload(Customer.orders)" in finding.fix
    assert "Customer.orders" in lazy_run.report()


def test_capture_eager_version_is_clean(logging_cluster: PgCluster, shop: str) -> None:
    cap, _ = _run_marked(logging_cluster, shop, eager=True)
    assert len(cap.statements) == 2
    assert cap.findings() == []


@pytest.mark.parametrize("fmt", ["stderr", "csvlog", "jsonlog"])
def test_log_finds_the_same_nplusone_as_capture(cli, logging_cluster: PgCluster, lazy_run: nplusone.Capture, fmt: str) -> None:
    [captured] = lazy_run.findings()
    path = _log_files(logging_cluster)[fmt]
    doc = cli.json("nplusone", "--log", path, "--min-ms", "0")
    assert doc["files"][0]["format"] == fmt
    assert doc["skipped_lines"] == 0
    matching = [f for f in doc["findings"] if f["evidence"]["fingerprint"] == captured.fingerprint]
    assert len(matching) == 1, doc["findings"]
    evidence = matching[0]["evidence"]
    assert matching[0]["code"] == "QP501"
    assert evidence["max_per_unit"] == 20
    assert fingerprint(evidence["source"]["statement"]) == captured.source_fingerprint
    # only the lazy run repeats: the eager run's selectin query ran once
    assert all("customer_id" in f["evidence"]["statement"] for f in doc["findings"])
    if fmt != "stderr":
        assert "transaction" in evidence["unit"]  # csvlog/jsonlog carry the virtual transaction id
    assert evidence["sample_params"], "bind parameters come from the DETAIL lines"


def test_log_statements_parameters_and_workload(logging_cluster: PgCluster, lazy_run: nplusone.Capture) -> None:
    files = _log_files(logging_cluster)
    reader = LogReader([files["csvlog"]])
    lookups = [s for s in reader if "FROM orders" in s.sql and "customer_id" in s.sql and s.params]
    # extended protocol: parse, bind and execute are logged, each execution counted once
    ids = [s.params[0] for s in lookups[:20]]
    assert ids == [str(i) for i in range(1, 21)]
    assert all(s.duration_ms is not None and s.duration_ms >= 0 for s in lookups)
    workload = dict(workload_from_logs([files["stderr"]]))
    lazy = fingerprint(lazy_run.findings()[0].statement)
    assert workload[lazy] >= 20


def test_async_engine_capture(shop: str) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    async def main() -> list:
        engine = create_async_engine(shop, poolclass=NullPool)
        try:
            with nplusone.capture(engine, min_ms=0) as cap:
                async with AsyncSession(engine) as session:
                    await customer_order_totals_async(session, 6)
            return cap.findings()
        finally:
            await engine.dispose()

    [finding] = asyncio.run(main())
    assert finding.executions == 6 and finding.relationship == "Customer.orders"


def test_raise_on_nplusone(shop: str) -> None:
    engine = create_engine(shop, poolclass=NullPool)
    try:
        with pytest.raises(nplusone.NPlusOneError, match="Customer.orders"):
            with nplusone.capture(engine, min_ms=0, raise_on_nplusone=True), Session(engine) as session:
                customer_order_totals(session, 5)
        with nplusone.capture(engine, min_ms=0, raise_on_nplusone=True), Session(engine) as session:
            customer_order_totals(session, 5, eager=True)  # no raise
    finally:
        engine.dispose()


def test_qp502_suspect_from_pg_stat_statements(cli, logging_cluster: PgCluster, shop: str) -> None:
    logging_cluster.psql("SELECT pg_stat_statements_reset()", dbname="shop")
    engine = create_engine(shop, poolclass=NullPool)
    try:
        for _ in range(6):  # 6 requests × 20 lazy loads = 120 calls ≈ 1 × the 120 customer rows
            with Session(engine) as session:
                customer_order_totals(session, 20)
    finally:
        engine.dispose()
    doc = cli.json("nplusone", "-d", logging_cluster.dsn("shop"), "--min-calls", "100")
    assert doc["source"] == "pg_stat_statements"
    [finding] = [f for f in doc["findings"] if f["code"] == "QP502"]
    evidence = finding["evidence"]
    assert evidence["suspect"] is True and finding["severity"] == "info"
    assert evidence["calls"] == 120 and evidence["parent"]["rows"] == 120 and evidence["multiple"] == 1
    assert evidence["lookup"] == {"table": "orders", "column": "customer_id"}
    assert "FROM customers" in evidence["parent"]["statement"]
    # below --min-calls nothing is suspected
    assert cli.json("nplusone", "-d", logging_cluster.dsn("shop"), "--min-calls", "1000")["findings"] == []
