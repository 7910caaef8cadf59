"""Real-world input never crashes or stalls a command: one clear line and exit 2, or a skip that
says so, on the real cluster and the real CLI."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from pgcluster import PgCluster

LOG_LINE = "2024-05-01 12:00:{:02d}.100 UTC [9] LOG:  duration: 1.0 ms  statement: SELECT * FROM t WHERE id = {}\n"


@pytest.mark.parametrize(
    "args",
    [
        ["top", "--bogus"],
        ["top", "--format", "xml"],
        ["top", "extra-argument"],
        ["no-such-command"],
        ["baseline", "check", "--bogus"],
        ["nplusone", "--log", "x.log", "--min-ms", "inf"],
        ["nplusone", "--log", "x.log", "--min-ms", "nan"],
    ],
)
def test_usage_errors_are_one_line(cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("qprof: error: ") and "--help'" in lines[0], result.stderr
    assert result.stdout == ""


def test_help_is_still_shown_without_arguments(cli) -> None:
    result = cli()
    assert "Usage" in result.stdout + result.stderr and "qprof: error" not in result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-5", "-10%", "1e400", "lots"])
def test_min_gain_must_be_a_finite_non_negative_share(cli, value: str) -> None:
    result = cli("advise", "--min-gain", value, "--db", "host=127.0.0.1 port=1 dbname=never-reached")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: invalid percentage {value!r}") and "Traceback" not in result.stderr
    assert "cannot connect" not in result.stderr  # refused before connecting


def test_corrupt_gzip_log_is_a_clear_error(cli, tmp_path: Path) -> None:
    text = "".join(LOG_LINE.format(i % 60, i) for i in range(100_000)).encode()
    whole = bytearray(gzip.compress(text))
    head = bytearray(whole)
    for i in range(20, 60):  # the deflate stream's first block
        head[i] ^= 0x5A
    middle = bytearray(whole)
    for i in range(len(middle) // 2, len(middle) // 2 + 40):
        middle[i] ^= 0xFF
    crc = bytearray(whole)
    crc[-6] ^= 1
    for name, data in (("head.log.gz", head), ("middle.log.gz", middle), ("crc.log.gz", crc)):
        (tmp_path / name).write_bytes(bytes(data))
        result = cli("nplusone", "--log", tmp_path / name)
        assert result.exit_code == 2, (name, result.stderr)
        assert "corrupt gzip data" in result.stderr and "Traceback" not in result.stderr
        assert not result.stderr.startswith("internal error")


def test_a_fifo_as_workload_is_refused_not_waited_on(tmp_path: Path, sample_sqlite: Path) -> None:
    fifo = tmp_path / "queries.sql"
    os.mkfifo(fifo)
    for args in (["explain", str(fifo)], ["check", "--workload", str(fifo)], ["advise", "--workload", str(fifo), "--no-write"]):
        # a subprocess with a timeout: a blocking read would hang the test run otherwise
        result = subprocess.run(
            [sys.executable, "-m", "qprof", *args, "--db", str(sample_sqlite)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert "is not a regular file" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def locked_db(pg_cluster: PgCluster):
    """A database where another session holds ``locked`` ACCESS EXCLUSIVE for the whole module."""
    dsn = pg_cluster.create_database("lockheld", extensions=("pg_stat_statements",))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE locked (id int PRIMARY KEY, v text); CREATE TABLE free (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO locked SELECT g, 'x' FROM generate_series(1, 1000) g")
        conn.execute("INSERT INTO free SELECT g, 'y' FROM generate_series(1, 1000) g")
        conn.execute("ANALYZE")
    holder = psycopg.connect(dsn)
    holder.execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")
    try:
        yield dsn, holder.info.backend_pid
    finally:
        holder.rollback()
        holder.close()


@pytest.mark.postgres
def test_tables_skips_a_locked_table_and_says_so(cli, locked_db) -> None:
    dsn, pid = locked_db
    result = cli("tables", "--db", dsn, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert f"public.locked (pid {pid})" in result.stderr and "locked ACCESS EXCLUSIVE" in result.stderr
    rows = {row["table"]: row for row in json.loads(result.stdout)["tables"]}
    assert rows["public.free"]["total_bytes"] > 0
    assert rows["public.locked"]["total_bytes"] is None


@pytest.mark.postgres
def test_snapshot_and_check_skip_a_locked_table(cli, locked_db, tmp_path: Path) -> None:
    dsn, _ = locked_db
    snapshot = cli("snapshot", "--db", dsn, "--store", tmp_path / "h.db", "--format", "json")
    assert snapshot.exit_code == 0, snapshot.stderr
    assert "public.locked" in snapshot.stderr
    check = cli("check", "--db", dsn, "--format", "json")
    assert check.exit_code in (0, 1), check.stderr
    assert "public.locked" in check.stderr and "lock_timeout" not in check.stderr
    indexes = cli("indexes", "--db", dsn, "--format", "json")
    assert indexes.exit_code == 0, indexes.stderr


def test_a_10_mb_statement_is_refused_with_its_size_and_the_rest_goes_on(cli, tmp_path: Path, sample_sqlite: Path) -> None:
    ids = ",".join(str(i) for i in range(1, 1_500_000))
    big = f"SELECT id, status FROM orders WHERE id IN ({ids})"
    assert len(big) > 10_000_000
    (tmp_path / "big.sql").write_text(f"-- name: huge\n{big};\n-- name: small\nSELECT id FROM orders WHERE id = 5;\n")
    result = cli("explain", tmp_path / "big.sql", "--db", sample_sqlite, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "skipped huge: statement of 10.4 MB is too long to analyse" in result.stderr
    assert [s["name"] for s in json.loads(result.stdout)["statements"]] == ["small"]
    alone = cli("explain", "--sql", big, "--db", sample_sqlite)
    assert alone.exit_code == 2 and "too long to analyse" in alone.stderr and "Traceback" not in alone.stderr


def test_workload_split_by_postgres_scanner_matches_sqlglot() -> None:
    from qprof.workload import split_statements

    text = "select 'a;b'; -- c;d\nselect $$x;y$$; select $t$;$t$, E'\\';' ; /* x; */ select ?1, :name, \"q;\"\n"
    assert split_statements(text) == ["select 'a;b'", "select $$x;y$$", "select $t$;$t$, E'\\';'", '/* x; */ select ?1, :name, "q;"']
    assert split_statements("select `a;b` from t; select [c;d] from u") == ["select `a", "b` from t", "select [c", "d] from u"]


def test_a_fifo_as_log_is_refused_not_waited_on(tmp_path: Path, sample_sqlite: Path) -> None:
    fifo = tmp_path / "server.log"
    os.mkfifo(fifo)
    for args in (["nplusone", "--log", str(fifo)], ["advise", "--db", str(sample_sqlite), "--log", str(fifo), "--no-write"]):
        result = subprocess.run([sys.executable, "-m", "qprof", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
        assert result.returncode == 2, (args, result.stderr)
        assert "log file" in result.stderr and "is not a regular file" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_fifo_in_a_workload_folder_is_skipped_and_the_rest_read(tmp_path: Path, sample_sqlite: Path) -> None:
    folder = tmp_path / "queries"
    folder.mkdir()
    (folder / "a.sql").write_text("-- name: one\nSELECT 1;\n")
    os.mkfifo(folder / "b.sql")
    result = subprocess.run(
        [sys.executable, "-m", "qprof", "explain", str(folder), "--db", str(sample_sqlite), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "b.sql' skipped: not a regular file" in result.stderr
    assert "one" in result.stdout


@pytest.mark.parametrize("url", ["postgresql+asyncpg://u:ZQXas1@127.0.0.1:1/x", "sqlite+aiosqlite:///h.db"])
def test_a_store_driver_qprof_does_not_ship_is_a_clear_error(cli, url: str) -> None:
    result = cli("snapshots", "list", "--store", url)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: unsupported history store driver"), result.stderr
    assert "ZQXas1" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.postgres
def test_advise_skips_statements_on_a_locked_table_up_front(cli, locked_db, tmp_path: Path) -> None:
    dsn, pid = locked_db
    with psycopg.connect(dsn, autocommit=True) as conn:  # HypoPG plans each statement: the planner's lock waits
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    workload = tmp_path / "w.sql"
    workload.write_text("-- name: on_locked\nSELECT * FROM locked WHERE v = 'a';\n-- name: on_free\nSELECT * FROM free WHERE v = 'b';\n")
    result = cli("advise", "--db", dsn, "--workload", str(workload), "--no-write", "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    assert doc["whatif"] == "hypopg"
    text = json.dumps(doc)
    assert f"table public.locked is locked ACCESS EXCLUSIVE by pid {pid}" in text, text[:2000]
    assert "lock timeout" not in text.lower() and "lock_timeout" not in result.stderr
    assert (doc["skipped_summary"]["count"], doc["skipped_summary"]["statements"]) == (1, 2)  # on_free was costed
