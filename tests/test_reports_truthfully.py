"""qprof reports what happened: parallel plans, parallel seq-scan counters, % time with
track = all, and hints that match the server's real state (package vs CREATE EXTENSION vs preload)."""

from __future__ import annotations

import time

import psycopg
import pytest
from pgcluster import PgCluster

from qprof.conninfo import parse_target
from qprof.extension_hints import hypopg_missing_message, pg_stat_statements_hint
from qprof.targets import open_target

DB = "parallel_plans"
PARALLEL_QUERY = "SELECT id, pad FROM big WHERE v = 3"


@pytest.fixture(scope="module")
def parallel_dsn(pg_cluster: PgCluster) -> str:
    """A few 100k rows and parallel costs at 0, so plain scans go parallel with two workers."""
    dsn = pg_cluster.create_database(DB, extensions=("pg_stat_statements",))
    pg_cluster.psql(
        f"""
        ALTER DATABASE {DB} SET parallel_setup_cost = 0;
        ALTER DATABASE {DB} SET parallel_tuple_cost = 0;
        ALTER DATABASE {DB} SET min_parallel_table_scan_size = 0;
        ALTER DATABASE {DB} SET max_parallel_workers_per_gather = 2;
        CREATE TABLE big AS SELECT g AS id, g % 97 AS v, md5(g::text) AS pad FROM generate_series(1, 300000) g;
        CREATE TABLE scanned AS SELECT g AS id, g % 50 AS v FROM generate_series(1, 200000) g;
        CREATE FUNCTION nested_count() RETURNS bigint LANGUAGE plpgsql AS
          'BEGIN RETURN (SELECT count(*) FROM scanned WHERE v = 7 AND id > 0); END';
        """,
        dbname=DB,
    )
    # in its own session, after the loading one's insert counters arrived: n_live_tup exact
    pg_cluster.psql("ANALYZE big; ANALYZE scanned;", dbname=DB)
    return dsn


def _pairs(node: dict):
    for child in node["children"]:
        yield node, child
        yield from _pairs(child)


def _nodes(node: dict):
    yield node
    for child in node["children"]:
        yield from _nodes(child)


def test_parallel_plan_times_are_elapsed_not_summed(cli, parallel_dsn: str) -> None:
    doc = cli.json("explain", "-d", parallel_dsn, "--sql", PARALLEL_QUERY)
    root = doc["statements"][0]["plan"]["root"]
    nodes = list(_nodes(root))
    gather = next(n for n in nodes if n["node_type"] == "Gather")
    scan = next(n for n in nodes if n["node_type"] == "Seq Scan")
    assert scan["actual_loops"] == 3 and scan["processes"] == 3  # two workers and the leader
    for parent, child in _pairs(root):  # per-loop × loops would make the scan ~3× its Gather
        assert child["inclusive_ms"] <= parent["inclusive_ms"] * 1.05 + 0.5, (parent["node_type"], child["node_type"])
    assert gather["exclusive_ms"] > 0
    shares = [n["exclusive_ms"] / root["inclusive_ms"] for n in nodes]
    assert sum(shares) <= 1.01 and max(shares) <= 1.0
    table = cli("explain", "-d", parallel_dsn, "--sql", PARALLEL_QUERY)
    assert "Parallel Seq Scan on big" in table.stdout
    percents = [int(cell[:-1]) for cell in table.stdout.split() if cell.endswith("%") and cell[:-1].isdigit()]
    assert percents and max(percents) <= 100


def test_parallel_seq_scans_are_stated_as_process_scans_and_table_reads(cli, pg_cluster: PgCluster, parallel_dsn: str) -> None:
    with psycopg.connect(parallel_dsn, autocommit=True) as conn:
        for _ in range(4):
            conn.execute("SELECT count(*) FROM scanned WHERE v = 7").fetchone()
        conn.execute("SELECT pg_stat_force_next_flush()")
    for _ in range(50):  # the leader's counters reach the shared statistics when its session ends
        read = pg_cluster.psql("SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'scanned'", dbname=DB)
        if int(read.strip() or 0) >= 4 * 200000:
            break
        time.sleep(0.1)
    tables = cli.json("tables", "-d", parallel_dsn)["tables"]
    scanned = next(t for t in tables if t["name"] == "scanned")
    assert scanned["seq_scan"] >= 8  # PostgreSQL's counter: every worker's scan counts
    assert 3.5 <= scanned["table_reads"] <= 4.5  # four statements read the table four times
    assert scanned["seq_scan_volume_bytes"] == round(scanned["table_reads"] * scanned["table_bytes"])
    check = cli.json("check", "-d", parallel_dsn, "--select", "QP301")
    finding = next(f for f in check["findings"] if f["table"] == "public.scanned")
    assert "each parallel worker counted" in finding["message"] and "whole-table reads" in finding["message"]


def test_top_shares_add_up_to_100_with_track_all(cli, pg_cluster: PgCluster, parallel_dsn: str) -> None:
    assert pg_cluster.psql("SHOW pg_stat_statements.track").strip() == "all"
    with psycopg.connect(parallel_dsn, autocommit=True) as conn:
        for _ in range(5):
            conn.execute("SELECT nested_count()").fetchone()
    statements = cli.json("top", "-d", parallel_dsn, "--limit", "1000")["statements"]
    nested = next(s for s in statements if "FROM scanned WHERE v = $1 AND id > $2" in s["query"] and "nested_count" not in s["query"])
    assert nested["total_ms"] > 0 and nested["pct_total_time"] == 0  # its time is inside nested_count()'s
    assert sum(s["pct_total_time"] for s in statements) == pytest.approx(100.0, abs=0.01)


def test_extension_hints_match_the_server(cli, pg_cluster: PgCluster) -> None:
    dsn = pg_cluster.create_database("hints_bare", extensions=())
    result = cli("top", "-d", dsn)
    assert result.exit_code == 2
    assert "CREATE EXTENSION pg_stat_statements" in result.stderr
    assert "shared_preload_libraries" not in result.stderr  # it is preloaded on this server
    with open_target(parse_target(dsn)) as target:
        assert "preload" not in pg_stat_statements_hint(target)
        message = hypopg_missing_message(target)
    assert "installed on the server but not created" in message and "CREATE EXTENSION hypopg" in message
    assert "HypoPG is not installed" not in message
    pg_cluster.psql("CREATE TABLE t (id int, v int); INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g; ANALYZE t;", dbname="hints_bare")
    advised = cli("advise", "-d", dsn, "--sql", "SELECT * FROM t WHERE v = 5", "--no-write")
    assert "CREATE EXTENSION hypopg" in advised.stderr and "HypoPG is not installed" not in advised.stderr
    forced = cli("advise", "-d", dsn, "--sql", "SELECT * FROM t WHERE v = 5", "--no-write", "--whatif", "hypopg")
    assert forced.exit_code == 2 and "hint: CREATE EXTENSION hypopg;" in forced.stderr
