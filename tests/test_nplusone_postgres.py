"""N+1 detection against a real PostgreSQL: the ORM app captured in-process and the same run read
back from the server's own stderr, csvlog and jsonlog files; QP502 from pg_stat_statements.

This module starts its own cluster: csvlog/jsonlog need logging_collector, a restart-only
setting the shared test cluster keeps off.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from nplusone_app import customer_order_totals, customer_order_totals_async, library_engine, list_authors
from pgcluster import PgCluster
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

import qprof.nplusone as nplusone
from qprof.fingerprint import fingerprint
from qprof.collectors.logs import LogReader, workload_from_logs

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


# -- the 12-author view on PostgreSQL: capture and log, small and slow data ------------------

SLOW_FILLER = 300_000  # books scanned by each lookup (no index on author_id): 10-60 ms each


@pytest.fixture(scope="module")
def library(logging_cluster: PgCluster) -> Iterator[dict]:
    engines = {}
    for name, filler in (("small", 0), ("slow", SLOW_FILLER)):
        logging_cluster.create_database(f"library_{name}", extensions=())
        url = logging_cluster.url(f"library_{name}").replace("postgresql://", "postgresql+psycopg://", 1)
        engines[name] = library_engine(url, filler=filler, poolclass=NullPool)
    yield engines
    for engine in engines.values():
        engine.dispose()


def _logged_window(cluster: PgCluster, run, tmp_path: Path) -> dict[str, Path]:  # noqa: ANN001
    """What the server logged while ``run()`` ran, as files of their own (stderr and csvlog)."""
    files = _log_files(cluster)
    before = {fmt: files[fmt].stat().st_size for fmt in ("stderr", "csvlog")}
    result = run()
    marker = f"qprof-marker-{uuid.uuid4().hex}"
    cluster.psql(f"SELECT '{marker}'")
    _wait_for(cluster, marker)
    window = {}
    for fmt, start in before.items():
        with open(files[fmt], "rb") as handle:
            handle.seek(start)
            window[fmt] = tmp_path / f"window.{fmt}"
            window[fmt].write_bytes(handle.read())
    return {"files": window, "result": result}


def _library_view(engine, **view) -> nplusone.Capture:  # noqa: ANN001, ANN003
    with nplusone.capture(engine) as cap, Session(engine) as session:
        list_authors(session, **view)
        session.rollback()
    return cap


@pytest.fixture(scope="module")
def library_runs(logging_cluster: PgCluster, library: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The lazy view on small and on slow data, each with its log window, and where warning starts.

    On a busy shared test machine even a tiny lookup over TCP with statement logging can take
    several ms, so the boundary is set between the two runs (their geometric mean) rather than
    at the default 50 ms; the data makes the slow run 10-100× the small one.
    """
    runs = {size: _logged_window(logging_cluster, lambda size=size: _library_view(library[size]), tmp_path_factory.mktemp(size)) for size in ("small", "slow")}
    totals = {size: sum(s.duration_ms for s in run["result"].statements[1:]) for size, run in runs.items()}
    assert totals["slow"] > 5 * totals["small"], totals
    return {"runs": runs, "min_ms": (totals["small"] * totals["slow"]) ** 0.5}


@pytest.mark.parametrize("size, severity", [("small", "info"), ("slow", "warning")])
def test_twelve_author_loop_by_capture_and_log(cli, library_runs: dict, size: str, severity: str) -> None:
    window, min_ms = library_runs["runs"][size], library_runs["min_ms"]
    [finding] = window["result"].findings(min_ms=min_ms)
    assert (finding.executions, finding.relationship, finding.severity) == (12, "Author.books", severity), finding.total_ms
    assert os.path.join("tests", "nplusone_app", "library.py") + ":" in finding.callsite  # relative to the cwd when inside it
    for fmt, path in window["files"].items():
        doc = cli.json("nplusone", "--log", path, "--min-ms", f"{min_ms:.3f}")
        [logged] = doc["findings"]
        evidence = logged["evidence"]
        assert (logged["code"], logged["severity"], evidence["executions"]) == ("QP501", severity, 12), fmt
        assert "FROM books" in evidence["statement"] and "FROM authors" in evidence["source"]["statement"]
        assert evidence["fix"].startswith("12 lookups by author_id → one")
        assert doc["unit_kind"].startswith("transactions" if fmt == "csvlog" else "session bursts")


@pytest.mark.parametrize("view", [{"eager": True}, {"limit": 4}], ids=["selectinload", "4 repeats"])
def test_eager_twin_and_four_repeats_not_found_by_capture_or_log(cli, logging_cluster: PgCluster, library: dict, tmp_path: Path, view: dict) -> None:
    def run() -> list:
        return [_library_view(library[size], **view).findings() for size in ("small", "slow")]

    window = _logged_window(logging_cluster, run, tmp_path)
    assert window["result"] == [[], []]
    for path in window["files"].values():
        assert cli.json("nplusone", "--log", path)["findings"] == []


def test_pgbench_tpcb_log_with_the_default_prefix_has_no_qp501(cli, logging_cluster: PgCluster, tmp_path: Path) -> None:
    """pgbench's sessions never idle and the default prefix has no %v: its interleaved fixed
    transactions (with `WHERE aid = $1` lookups) are not loops. The prefix change is read on."""
    logging_cluster.psql("ALTER SYSTEM SET log_line_prefix = '%m [%p] '; SELECT pg_reload_conf()")
    try:
        logging_cluster.create_database("bench", extensions=())
        pgbench = [str(logging_cluster.bindir / "pgbench"), "-h", logging_cluster.host, "-p", str(logging_cluster.port), "-U", logging_cluster.superuser]
        subprocess.run([*pgbench, "-i", "-s", "1", "-q", "bench"], check=True, capture_output=True, timeout=120)

        def run() -> None:
            for protocol in ("simple", "extended"):
                subprocess.run([*pgbench, "-c", "4", "-j", "2", "-t", "150", "-M", protocol, "bench"], check=True, capture_output=True, timeout=300)

        window = _logged_window(logging_cluster, run, tmp_path)
    finally:
        logging_cluster.psql(f"ALTER SYSTEM SET log_line_prefix = '{STDERR_PREFIX}'; SELECT pg_reload_conf()")
    doc = cli.json("nplusone", "--log", window["files"]["stderr"])
    assert doc["files"][0]["prefix"] == "%m [%p] " and doc["statements"] > 2 * 4 * 150 * 7
    assert doc["findings"] == [] and doc["unit_kind"].startswith("session bursts")
    # the whole file: '%m [%p] %q%u@%d ' reads the default-prefix part too (%q: the rest is optional)
    whole = cli.json("nplusone", "--log", _log_files(logging_cluster)["stderr"])
    assert whole["skipped_lines"] == 0 and whole["statements"] > doc["statements"]
    assert not [f for f in whole["findings"] if "pgbench" in f["evidence"]["statement"]]
