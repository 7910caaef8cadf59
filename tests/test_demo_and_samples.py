"""The sample databases and `qprof demo` — the story a new user sees first."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from qprof.sample_dbs import PLANTED, TABLES, build_sqlite


def test_sqlite_sample_is_deterministic_and_carries_planted_problems(tmp_path: Path, sample_sqlite: Path) -> None:
    again = build_sqlite(tmp_path / "again.sqlite", scale=0.02)
    one, two = sqlite3.connect(sample_sqlite), sqlite3.connect(again)
    for table in TABLES:
        query = f"SELECT * FROM {table} ORDER BY 1"
        assert one.execute(query).fetchall() == two.execute(query).fetchall(), table
    assert one.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert one.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0] == 0
    indexed_first_columns = {
        (table, one.execute(f"SELECT name FROM pragma_index_info('{index}') WHERE seqno = 0").fetchone()[0])
        for table in TABLES
        for (index,) in one.execute("SELECT name FROM pragma_index_list(?)", (table,))
    }
    for table, column in PLANTED["fk_without_index"]:
        assert (table, column) not in indexed_first_columns


def test_postgres_sample_row_counts(pg_cluster, app_dsn: str) -> None:
    assert pg_cluster.psql("SELECT count(*) FROM orders", dbname="app").strip() == "20000"
    assert pg_cluster.psql("SELECT count(*) FROM customers", dbname="app").strip() == "2000"


def test_demo_builds_the_sample_and_tells_the_story(cli, tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite"
    result = cli("demo", "--db", path, "--scale", "0.01", "--runs", "1")
    assert result.exit_code == 0, result.stderr
    assert path.exists()
    assert "orders_by_customer" in result.stdout  # top
    assert "main.orders" in result.stdout  # tables
    assert "duplicate" in result.stdout and "redundant" in result.stdout  # indexes
    rerun = cli("demo", "--db", path, "--runs", "1")
    assert rerun.exit_code == 0 and "built" not in rerun.stderr  # reused, not rebuilt
