"""`qprof tables` and `qprof indexes` on the sample database (PostgreSQL and SQLite)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from pgcluster import PgCluster

from qprof.sample_dbs import PLANTED


def test_tables_rank_by_sequential_volume(cli, app_dsn: str) -> None:
    doc = cli.json("tables", "-d", app_dsn)
    tables = doc["tables"]
    assert doc["by"] == "seq-volume"
    volumes = [t["seq_scan_volume_bytes"] for t in tables]
    assert volumes == sorted(volumes, reverse=True)
    orders = next(t for t in tables if t["table"] == "public.orders")
    assert orders["seq_scan"] > 0 and orders["n_live_tup"] == 20000
    assert orders["seq_scan_volume_bytes"] == round(orders["seq_tup_read"] / orders["n_live_tup"] * orders["table_bytes"])
    assert 0 <= orders["idx_scan_pct"] <= 100
    assert {"dead_pct", "rows_per_seq_scan", "total_bytes", "last_autoanalyze", "last_analyze"} <= set(orders)


def test_tables_other_rankings(cli, app_dsn: str) -> None:
    by_size = cli.json("tables", "-d", app_dsn, "--by", "size", "--limit", "2")["tables"]
    assert len(by_size) == 2 and by_size[0]["total_bytes"] >= by_size[1]["total_bytes"]
    assert by_size[0]["table"] == "public.orders"


def test_indexes_classify_the_planted_problems(cli, app_dsn: str) -> None:
    doc = cli.json("indexes", "-d", app_dsn)
    by_name = {i["index"]: i for i in doc["indexes"]}
    for redundant, kept, kind in PLANTED["duplicate_pairs"]:
        expected = "duplicate" if kind == "exact" else "redundant"
        assert expected in by_name[redundant]["classes"], redundant
        assert by_name[redundant]["covered_by"] == kept
        assert expected not in by_name[kept]["classes"]
    for unused in PLANTED["unused_indexes"]:
        assert "unused" in by_name[unused]["classes"]
        assert by_name[unused]["idx_scan"] == 0
    primary_keys = [i for i in doc["indexes"] if i["primary"]]
    assert primary_keys and not any("unused" in i["classes"] for i in primary_keys)
    assert by_name["orders_pkey"]["constraint"] == "orders_pkey"
    assert "stats_reset" in doc


def test_indexes_only_filter_and_invalid_index(cli, pg_cluster: PgCluster) -> None:
    dsn = pg_cluster.create_database("idx_invalid")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE dupes (a int)")
        conn.execute("INSERT INTO dupes VALUES (1), (1)")
        try:
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY dupes_a_key ON dupes (a)")
        except psycopg.errors.UniqueViolation:
            pass  # leaves an INVALID index behind, as in production
    doc = cli.json("indexes", "-d", dsn, "--only", "invalid")
    assert [(i["index"], i["valid"], i["classes"]) for i in doc["indexes"]] == [("dupes_a_key", False, ["invalid"])]
    table = cli("indexes", "-d", dsn)
    assert "NO" in table.stdout and "usage counted since" in table.stderr


def test_sqlite_tables_and_indexes(cli, sample_sqlite: Path) -> None:
    tables = {t["name"]: t for t in cli.json("tables", "-d", sample_sqlite)["tables"]}
    assert tables["orders"]["n_live_tup"] == 20000
    assert tables["orders"]["table_bytes"] > 0 and tables["orders"]["total_bytes"] > tables["orders"]["table_bytes"]
    assert tables["orders"]["has_stat1"] is False
    indexes = {i["index"]: i for i in cli.json("indexes", "-d", f"sqlite:///{sample_sqlite}")["indexes"]}
    for redundant, kept, kind in PLANTED["duplicate_pairs"]:
        assert ("duplicate" if kind == "exact" else "redundant") in indexes[redundant]["classes"]
        assert indexes[redundant]["covered_by"] == kept
    assert not any("unused" in i["classes"] for i in indexes.values())  # SQLite keeps no usage counts
