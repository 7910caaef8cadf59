"""`qprof explain` against the private cluster and the SQLite sample: real plans, real values, safety."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from pgcluster import PgCluster

from qprof.cli.app import app
from qprof.conninfo import parse_target
from qprof.errors import QprofError
from qprof.plans.postgres import estimate_cost, explain_postgres
from qprof.plans.sqlite import explain_sqlite
from qprof.targets import open_target

WORKLOAD = Path(__file__).resolve().parents[1] / "queries" / "shop.sql"
CHECKSUM = "SELECT md5(string_agg(i::text, ',' ORDER BY i.id)) FROM items i"


@pytest.fixture(scope="module")
def safety_dsn(pg_cluster: PgCluster) -> str:
    """A database of our own with a small table, for statements that try to change data."""
    dsn = pg_cluster.create_database("explain_safety", extensions=())
    pg_cluster.psql(
        "CREATE TABLE items (id serial PRIMARY KEY, v int NOT NULL, note text);"
        "INSERT INTO items (v, note) SELECT g, 'n' || g FROM generate_series(1, 500) g;"
        "CREATE TABLE secrets (id int);"
        "CREATE ROLE explain_reader LOGIN PASSWORD 'reader-pw';"
        "ANALYZE items;",
        dbname="explain_safety",
    )
    return dsn


def _checksum(pg_cluster: PgCluster) -> str:
    with pg_cluster.connect("explain_safety") as conn:
        return conn.execute(CHECKSUM).fetchone()[0]


def test_explain_infers_real_values_and_reports_findings(cli, app_dsn: str) -> None:
    doc = cli.json("explain", "-d", app_dsn, "--sql", "SELECT id, status FROM orders WHERE customer_id = $1")
    (statement,) = doc["statements"]
    assert statement["params_from"] == "inferred" and not statement["estimates_only"]
    assert "orders.customer_id from pg_stats" in statement["param_sources"][0]
    plan = statement["plan"]
    assert plan["analyzed"] and plan["execution_ms"] > 0 and plan["planning_ms"] is not None
    root = plan["root"]
    assert root["node_type"] == "Seq Scan" and root["relation"] == "orders"
    assert root["actual_rows"] > 0 and root["rows_removed_by_filter"] > root["actual_rows"]
    assert root["buffers"]["shared_hit"] + root["buffers"].get("shared_read", 0) > 0
    assert [f["code"] for f in statement["findings"]] == ["QP101"]
    assert statement["findings"][0]["evidence"]["filter_columns"] == ["customer_id"]


def test_explain_table_output_shows_values_tree_and_hot_node(cli, app_dsn: str) -> None:
    result = cli("explain", "-d", app_dsn, f"{WORKLOAD}:top_customers_in_country")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "params: $1 = 'PL'" in out
    assert "execution " in out and "planning " in out
    assert "└─ " in out and "◀" in out  # a tree, with the most expensive node marked
    for header in ("est rows", "act rows", "loops", "incl ms", "excl ms", "buffers"):
        assert header in out


def test_generic_plan_when_values_cannot_be_inferred(cli, app_dsn: str) -> None:
    result = cli("explain", "-d", app_dsn, "--sql", "SELECT id FROM orders WHERE lower(status) = $1")
    assert result.exit_code == 0, result.stderr
    assert "generic plan: estimates only" in result.stdout
    doc = cli.json("explain", "-d", app_dsn, "--sql", "SELECT id FROM orders WHERE lower(status) = $1")
    statement = doc["statements"][0]
    assert statement["generic_plan"] and statement["estimates_only"]
    assert statement["plan"]["root"]["actual_rows"] is None and statement["plan"]["total_cost"] > 0


def test_generic_plan_api_leaves_no_prepared_statement(app_dsn: str) -> None:
    with open_target(parse_target(app_dsn)) as target:
        plan = explain_postgres(target, "SELECT id FROM orders WHERE customer_id = $1 AND status = $2")
        assert plan.generic and not plan.analyzed and plan.total_cost > 0
        assert "customer_id" in (plan.root.filter or plan.root.index_cond or "")
        assert estimate_cost(target, "SELECT id FROM orders WHERE customer_id = $1") > 0
        assert target.fetch_value("SELECT count(*) FROM pg_prepared_statements") == 0
        assert target.fetch_value("SELECT current_setting('plan_cache_mode')") == "auto"


def test_generic_plan_of_normalized_constants_in_aggregates(app_dsn: str) -> None:
    """pg_stat_statements writes sum(CASE … THEN 1 ELSE 0 END) as THEN $2 ELSE $3: still plannable."""
    normalized = "SELECT case_id, sum(CASE WHEN outcome = $1 THEN $2 ELSE $3 END) AS successes FROM execution_log GROUP BY case_id"
    with open_target(parse_target(app_dsn)) as target:
        assert estimate_cost(target, normalized) > 0
        assert target.fetch_value("SELECT count(*) FROM pg_prepared_statements") == 0


def test_no_analyze_and_runs(cli, app_dsn: str) -> None:
    doc = cli.json("explain", "-d", app_dsn, f"{WORKLOAD}:case_by_id", "--no-analyze")
    statement = doc["statements"][0]
    assert statement["estimates_only"] and statement["plan"]["execution_ms"] is None
    assert statement["params"] == [7] and statement["params_from"] == "given"
    doc = cli.json("explain", "-d", app_dsn, f"{WORKLOAD}:case_by_id", "--runs", "3")
    timing = doc["statements"][0]["timing"]
    assert timing["runs"] == 3 and timing["warmup"] == 1 and len(timing["samples_ms"]) == 3
    assert timing["min_ms"] <= timing["median_ms"] <= timing["p95_ms"] <= timing["max_ms"]


def test_explain_from_queryid(cli, app_dsn: str) -> None:
    top = cli.json("top", "-d", app_dsn, "--limit", "100")
    entry = next(s for s in top["statements"] if "FROM orders WHERE customer_id = $1" in s["query"])
    doc = cli.json("explain", "-d", app_dsn, "--queryid", entry["queryid"])
    statement = doc["statements"][0]
    assert statement["name"] == f"queryid {entry['queryid']}"
    assert statement["params_from"] == "inferred" and statement["plan"]["analyzed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sql", "DROP TABLE orders"], "ddl statements are not explained"),
        (["--sql", "VACUUM orders"], "utility statements are not explained"),
        (["--sql", "SELEC id FROM orders"], "cannot parse SQL"),
        (["--sql", "SELECT * FROM no_such_table"], 'relation "no_such_table" does not exist'),
        (["--queryid", "123456789"], "no statement with queryid 123456789"),
        (["--queryid", "abc"], "--queryid must be a number"),
        (["--sql", "SELECT 1; SELECT 2"], "holds 2 statements"),
        (["--sql", "SELECT id FROM orders WHERE id = $1", "--params", "[1, 2]"], "uses 1 parameter(s) but 2"),
        (["--sql", "SELECT 1", "--params", "{oops"], "--params is not JSON"),
        ([], "nothing to explain"),
    ],
)
def test_bad_inputs_exit_2_with_a_message(cli, app_dsn: str, args: list[str], message: str) -> None:
    result = cli("explain", "-d", app_dsn, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_permission_denied_exits_2(cli, pg_cluster: PgCluster, safety_dsn: str) -> None:
    reader = pg_cluster.dsn("explain_safety", user="explain_reader", password="reader-pw")
    result = cli("explain", "-d", reader, "--sql", "SELECT * FROM secrets")
    assert result.exit_code == 2
    assert "permission denied" in result.stderr and "reader-pw" not in result.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE items SET v = v + 1, note = 'changed'",
        "DELETE FROM items WHERE id <= 250",
        "WITH gone AS (DELETE FROM items RETURNING id) SELECT count(*) FROM gone",
        "INSERT INTO items (v, note) SELECT v, note FROM items",
    ],
)
def test_explain_analyze_of_dml_changes_nothing(cli, pg_cluster: PgCluster, safety_dsn: str, statement: str) -> None:
    before = _checksum(pg_cluster)
    # an INSERT takes ids from the serial's sequence (nextval, never rolled back): allowed here on purpose
    allow = ["--allow-function", "nextval"] if statement.startswith("INSERT") else []
    doc = cli.json("explain", "-d", safety_dsn, "--sql", statement, "--runs", "2", *allow)
    plan = doc["statements"][0]["plan"]
    assert plan["analyzed"] and plan["rolled_back"]
    rows_touched = [n for n in _nodes(plan["root"]) if n["relation"] == "items" and (n["actual_rows"] or 0) > 0]
    assert rows_touched, "the statement really executed"
    assert _checksum(pg_cluster) == before


def _nodes(node: dict):
    yield node
    for child in node["children"]:
        yield from _nodes(child)


def test_read_only_explain_and_collector_sessions_cannot_write(cli, safety_dsn: str) -> None:
    result = cli("explain", "-d", safety_dsn, "--sql", "SELECT nextval('items_id_seq')", "--allow-function", "nextval")
    assert result.exit_code == 2 and "read-only" in result.stderr
    with open_target(parse_target(safety_dsn)) as target:
        with pytest.raises(QprofError, match="read-only"):
            target.fetch_all("CREATE TABLE should_not_exist (i int)")
        with pytest.raises(QprofError, match="read-only"):
            target.fetch_all("UPDATE items SET v = 0")
        assert target.conn.execute("SHOW default_transaction_read_only").fetchone()["default_transaction_read_only"] == "on"


def test_timeout_is_reported_and_the_run_continues(cli, safety_dsn: str, tmp_path: Path) -> None:
    workload = tmp_path / "slow.sql"
    workload.write_text("-- name: slow\nSELECT pg_sleep(3);\n-- name: quick\nSELECT count(*) FROM items;\n", encoding="utf-8")
    result = cli("explain", "-d", safety_dsn, str(workload), "--statement-timeout", "300ms", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [s["name"] for s in doc["statements"]] == ["quick"]
    assert doc["skipped"][0]["statement"] == "slow" and "statement_timeout" in doc["skipped"][0]["reason"]
    assert "skipped slow" in result.stderr and "1 of 2 statement(s) skipped" in result.stderr


# --- SQLite --------------------------------------------------------------------------------


def test_sqlite_plan_model_and_findings(cli, sample_sqlite: Path) -> None:
    doc = cli.json("explain", "-d", str(sample_sqlite), f"{WORKLOAD}:top_customers_in_country")
    statement = doc["statements"][0]
    plan = statement["plan"]
    assert plan["engine"] == "sqlite" and plan["analyzed"] and plan["execution_ms"] > 0
    nodes = list(_nodes(plan["root"]))[1:]
    kinds = [(n["node_type"], n["relation"]) for n in nodes]
    assert ("SEARCH", "customers") in kinds and ("SCAN", "orders") in kinds  # alias "o" mapped back
    assert any(n["node_type"] == "USE TEMP B-TREE" for n in nodes)
    assert "QP105" in {f["code"] for f in statement["findings"]}


def test_sqlite_parser_covers_index_kinds_and_subqueries(sample_sqlite: Path) -> None:
    with open_target(parse_target(str(sample_sqlite))) as target:
        plan = explain_sqlite(target, "SELECT id FROM customers WHERE email = 'customer42@example.com'")
        node = plan.root.children[0]
        assert (node.node_type, node.index_name, node.extra["covering"]) == ("SEARCH", "customers_email_key", True)
        plan = explain_sqlite(
            target, "SELECT * FROM orders o WHERE o.total_cents > (SELECT avg(total_cents) FROM orders i WHERE i.customer_id = o.customer_id)", analyze=False
        )
        sub = next(n for n in plan.nodes() if n.node_type == "SUBQUERY")
        assert sub.extra["correlated"] is True
        plan = explain_sqlite(target, "SELECT * FROM orders o JOIN execution_log e ON e.case_id = o.customer_id WHERE o.id < 10", analyze=False)
        assert any(n.extra.get("automatic") for n in plan.nodes())


def test_sqlite_dml_is_rolled_back(cli, sample_sqlite: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.sqlite"
    shutil.copy(sample_sqlite, copy)

    def checksum() -> tuple:
        with sqlite3.connect(copy) as conn:
            return conn.execute("SELECT count(*), sum(total_cents), group_concat(status) FROM orders").fetchone()

    before = checksum()
    doc = cli.json("explain", "-d", str(copy), "--sql", "UPDATE orders SET status = 'x', total_cents = 0", "--runs", "2")
    assert doc["statements"][0]["plan"]["rolled_back"]
    cli.json("explain", "-d", str(copy), "--sql", "DELETE FROM orders WHERE id > 10")
    assert checksum() == before


def test_sqlite_stdin_input(cli, sample_sqlite: Path) -> None:
    result = cli.runner.invoke(app, ["explain", "-d", str(sample_sqlite), "-", "--format", "json"], input="SELECT count(*) FROM orders WHERE status = 'new';\n")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["statements"][0]["plan"]["root"]["children"][0]["index_name"] == "orders_status_idx"
