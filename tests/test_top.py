"""`qprof top` against the private cluster's pg_stat_statements, and its failure modes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pgcluster import PgCluster

from qprof.collectors.pg_statements import statements_sql_name


def test_top_json_shape_and_default_ranking(cli, app_dsn: str) -> None:
    doc = cli.json("top", "-d", app_dsn, "--limit", "50")
    assert doc["source"] == "pg_stat_statements" and doc["by"] == "total"
    statements = doc["statements"]
    assert statements, "the workload ran, so there are statistics"
    keys = {
        "queryid",
        "calls",
        "total_ms",
        "mean_ms",
        "stddev_ms",
        "max_ms",
        "rows_per_call",
        "pct_total_time",
        "shared_hit_pct",
        "temp_blks",
        "query",
        "database",
        "user",
    }
    assert keys <= set(statements[0])
    totals = [s["total_ms"] for s in statements]
    assert totals == sorted(totals, reverse=True)
    assert all(s["database"] == "app" for s in statements)
    assert all(0 <= s["pct_total_time"] <= 100 for s in statements)
    texts = " ".join(s["query"] for s in statements)
    assert "FROM orders WHERE customer_id = $1" in texts  # full text in JSON
    assert "/* qprof */" not in texts  # qprof never reports its own queries


def test_top_by_mean_limit_and_min_calls(cli, app_dsn: str) -> None:
    doc = cli.json("top", "-d", app_dsn, "--by", "mean", "--limit", "3")
    means = [s["mean_ms"] for s in doc["statements"]]
    assert len(means) == 3 and means == sorted(means, reverse=True)
    doc = cli.json("top", "-d", app_dsn, "--by", "calls", "--min-calls", "3", "--limit", "100")
    assert doc["statements"] and all(s["calls"] >= 3 for s in doc["statements"])


def test_shares_do_not_depend_on_filters(cli, app_dsn: str) -> None:
    everything = {s["queryid"]: s for s in cli.json("top", "-d", app_dsn, "--limit", "1000")["statements"]}
    # one denominator for all: the top-level time (nested statements are inside their caller's time)
    denominators = [100 * s["total_ms"] / s["pct_total_time"] for s in everything.values() if s["pct_total_time"]]
    assert max(denominators) == pytest.approx(min(denominators), rel=1e-9)
    assert max(denominators) <= sum(s["total_ms"] for s in everything.values()) * (1 + 1e-9)
    filtered = cli.json("top", "-d", app_dsn, "--min-calls", "3", "--role", "postgres", "--limit", "1000")["statements"]
    assert filtered and len(filtered) < len(everything)
    for statement in filtered:
        assert statement["pct_total_time"] == pytest.approx(everything[statement["queryid"]]["pct_total_time"])
    assert len(everything) == len({(s["queryid"], s["user"]) for s in everything.values()})  # one row per statement


def test_passwords_in_statement_text_are_hidden(cli, pg_cluster: PgCluster, app_dsn: str) -> None:
    pg_cluster.psql("CREATE ROLE top_pw_role LOGIN PASSWORD 'Hunter2-in-pss'", dbname="app")
    result = cli("top", "-d", app_dsn, "--limit", "1000", "--format", "json")
    assert result.exit_code == 0
    assert "Hunter2-in-pss" not in result.stdout
    assert "CREATE ROLE top_pw_role LOGIN PASSWORD '***'" in result.stdout


@pytest.mark.parametrize("by", ["total", "mean", "calls", "rows", "io", "stddev", "max", "temp"])
def test_every_ranking_is_accepted(cli, app_dsn: str, by: str) -> None:
    assert cli.json("top", "-d", app_dsn, "--by", by, "--limit", "2")["by"] == by


def test_table_csv_and_markdown_formats(cli, app_dsn: str) -> None:
    table = cli("top", "-d", app_dsn, "--limit", "2", "--width", "20")
    assert table.exit_code == 0
    header = table.stdout.splitlines()[0]
    for column in ("queryid", "calls", "total ms", "mean ms", "rows/call", "% time", "hit %", "query"):
        assert column in header
    assert all(len(line) < 250 for line in table.stdout.splitlines())
    csv_out = cli("top", "-d", app_dsn, "--limit", "2", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(csv_out.stdout)))
    assert len(rows) == 2 and float(rows[0]["total_ms"]) >= float(rows[1]["total_ms"])
    assert rows[0]["query"].strip()  # whole text, newlines and all, quoted by the csv module
    markdown = cli("top", "-d", app_dsn, "--limit", "2", "--format", "markdown")
    assert markdown.stdout.splitlines()[1].startswith("|-")


def test_user_filter_and_all_databases(cli, pg_cluster: PgCluster, app_dsn: str) -> None:
    assert cli.json("top", "-d", app_dsn, "--role", "postgres")["statements"]
    nobody = cli("top", "-d", app_dsn, "--role", "nobody_at_all")
    assert nobody.exit_code == 2 and "no statement statistics yet for this database run by role 'nobody_at_all'" in nobody.stderr
    # -U is the role qprof logs in as (psql's), not a filter: an unknown role cannot log in
    login = cli("top", "-h", pg_cluster.host, "-p", pg_cluster.port, "-d", "app", "-U", "nobody_at_all")
    assert login.exit_code == 2 and "cannot connect" in login.stderr and "nobody_at_all" in login.stderr
    other = pg_cluster.create_database("top_other")
    pg_cluster.psql("SELECT 4242 AS marker_from_other_db", dbname="top_other")
    here = cli.json("top", "-d", app_dsn, "--limit", "1000000")["statements"]
    # every entry: the whole suite leaves thousands of statements, and a trivial one ranks last
    everywhere = cli.json("top", "-d", app_dsn, "--all-databases", "--limit", "1000000")["statements"]
    assert not any("marker_from_other_db" in s["query"] for s in here)
    assert any("marker_from_other_db" in s["query"] and s["database"] == "top_other" for s in everywhere)
    assert other


def test_extension_not_created_says_how(cli, pg_cluster: PgCluster) -> None:
    dsn = pg_cluster.create_database("top_noext", extensions=())
    result = cli("top", "-d", dsn)
    assert result.exit_code == 2
    assert "CREATE EXTENSION pg_stat_statements;" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_extension_not_preloaded_says_how(cli) -> None:
    with PgCluster(settings={"shared_preload_libraries": ""}) as bare:
        dsn = bare.create_database("nopreload")
        result = cli("top", "-d", dsn)
    assert result.exit_code == 2
    assert "shared_preload_libraries" in result.stderr and "restart" in result.stderr


def test_no_statistics_yet(cli, pg_cluster: PgCluster) -> None:
    dsn = pg_cluster.create_database("top_fresh")
    pg_cluster.create_database("top_other_reset")
    dbid = pg_cluster.psql("SELECT oid FROM pg_database WHERE datname = 'top_fresh'").strip()
    # reset from another database, so the reset call itself is not recorded in top_fresh
    pg_cluster.psql(f"SELECT pg_stat_statements_reset(0, {dbid}, 0)", dbname="top_other_reset")
    result = cli("top", "-d", dsn)
    assert result.exit_code == 2
    assert "no statement statistics yet" in result.stderr


def test_other_roles_text_hidden_without_pg_read_all_stats(cli, pg_cluster: PgCluster, app_dsn: str) -> None:
    pg_cluster.psql("CREATE ROLE top_watcher LOGIN PASSWORD 'watch-secret-1'")
    pg_cluster.psql("GRANT CONNECT ON DATABASE app TO top_watcher")
    dsn = pg_cluster.dsn("app", user="top_watcher", password="watch-secret-1")
    result = cli("top", "-d", dsn, "--format", "json", "--limit", "5")
    assert result.exit_code == 0, result.stderr
    assert "pg_read_all_stats" in result.stderr
    import json

    statements = json.loads(result.stdout)["statements"]
    assert any(not s["text_visible"] and s["query"] == "<insufficient privilege>" for s in statements)
    pg_cluster.psql("GRANT pg_read_all_stats TO top_watcher")
    granted = cli("top", "-d", dsn, "--format", "json", "--limit", "5")
    assert all(s["text_visible"] for s in json.loads(granted.stdout)["statements"])
    assert "watch-secret-1" not in result.stdout + result.stderr + granted.stdout + granted.stderr


@pytest.mark.parametrize(
    ("version", "sql_file"),
    [
        ("1.7", "statements_pss17.sql"),
        ("1.8", "statements_pss18.sql"),
        ("1.9", "statements_pss19.sql"),
        ("1.10", "statements_pss19.sql"),
        ("1.11", "statements_pss111.sql"),
    ],
)
def test_sql_file_chosen_by_extension_version(version: str, sql_file: str) -> None:
    assert statements_sql_name(version) == sql_file


def test_prometheus_with_nothing_matching_is_an_empty_exposition(cli, app_dsn: str) -> None:
    # a textfile-collector cron must overwrite yesterday's file, not fail and leave it standing
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    result = cli("top", "-d", app_dsn, "--role", "nobody_at_all", "--format", "prometheus")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("# EOF\n") and "no statement statistics yet" in result.stderr
    families = {f.name: f for f in text_string_to_metric_families(result.stdout)}
    assert families["qprof_statement_calls"].samples == []
    assert families["qprof_generated_timestamp_seconds"].samples


def test_role_with_a_workload_is_refused_as_bad_input(cli, app_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "w.sql").write_text("SELECT 1;\n")
    result = cli("top", "-d", app_dsn, "--role", "postgres", "--workload", "w.sql")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--role" in result.stderr and "--workload" in result.stderr and "cannot be combined" in result.stderr
