"""`qprof check` and `qprof rules`: selection, configuration, statement ignores, the CI gate, formats."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from pgcluster import PgCluster

from qprof.sample_dbs import PLANTED

WORKLOAD = Path(__file__).resolve().parents[1] / "queries" / "shop.sql"


def _codes(doc: dict) -> set[str]:
    return {f["code"] for f in doc["findings"]}


def test_sqlite_sample_planted_problems(cli, sample_sqlite: Path) -> None:
    doc = cli.json("check", "-d", str(sample_sqlite))
    assert _codes(doc) == {"QP202", "QP204", "QP402"}  # only rules that apply to SQLite, no workload: no plan rules
    duplicates = {f["index"] for f in doc["findings"] if f["code"] == "QP202"}
    assert duplicates == set(PLANTED["duplicate_indexes"])
    fks = {(f["table"], f["evidence"]["columns"][0]) for f in doc["findings"] if f["code"] == "QP204"}
    assert fks == set(PLANTED["fk_without_index"])
    settings = {f["evidence"]["setting"] for f in doc["findings"] if f["code"] == "QP402"}
    assert {"journal_mode", "sqlite_stat1"} <= settings
    assert doc["summary"]["findings"] == len(doc["findings"]) and doc["summary"]["failed"] is False


def test_select_ignore_and_unknown_codes(cli, sample_sqlite: Path) -> None:
    assert _codes(cli.json("check", "-d", str(sample_sqlite), "--select", "QP2")) == {"QP202", "QP204"}
    assert _codes(cli.json("check", "-d", str(sample_sqlite), "--ignore", "QP20", "--select", "QP")) == {"QP402"}
    # the most specific prefix wins: QP2 ignored, QP204 selected again
    assert _codes(cli.json("check", "-d", str(sample_sqlite), "--select", "QP", "--select", "QP204", "--ignore", "QP2")) == {"QP204", "QP402"}
    result = cli("check", "-d", str(sample_sqlite), "--select", "QP9")
    assert result.exit_code == 2 and "'QP9' matches no rule code" in result.stderr


def test_fail_on_gates_ci(cli, sample_sqlite: Path) -> None:
    assert cli("check", "-d", str(sample_sqlite), "--fail-on", "warning").exit_code == 1
    assert cli("check", "-d", str(sample_sqlite), "--fail-on", "error").exit_code == 0
    result = cli("check", "-d", str(sample_sqlite), "--fail-on", "QP402", "--select", "QP2")
    assert result.exit_code == 0  # QP402 not selected, so nothing can match
    result = cli("check", "-d", str(sample_sqlite), "--fail-on", "QP402")
    assert result.exit_code == 1 and "match --fail-on QP402" in result.stderr
    assert cli("check", "-d", str(sample_sqlite), "--fail-on", "sometimes").exit_code == 2


def test_configuration_selects_tunes_and_gates(cli, sample_sqlite: Path, tmp_path: Path) -> None:
    (tmp_path / "qprof.toml").write_text(
        'ignore = ["QP4"]\nfail-on = ["error"]\n\n[rules.QP204]\nmin_rows = 15000\n\n[rules.QP202]\nseverity = "error"\n',
        encoding="utf-8",
    )
    result = cli("check", "-d", str(sample_sqlite), "--format", "json")
    assert result.exit_code == 1  # QP202 raised to error, fail-on error from the file
    doc = json.loads(result.stdout)
    assert _codes(doc) == {"QP202", "QP204"}
    assert [f["table"] for f in doc["findings"] if f["code"] == "QP204"] == ["orders"]  # 20,000 rows ≥ 15,000
    assert {f["severity"] for f in doc["findings"] if f["code"] == "QP202"} == {"error"}
    (tmp_path / "qprof.toml").write_text("[rules.QP204]\nmin_rowz = 1\n", encoding="utf-8")
    result = cli("check", "-d", str(sample_sqlite))
    assert result.exit_code == 2 and "has no option 'min_rowz'" in result.stderr


def test_workload_plans_and_ignore_comments(cli, sample_sqlite: Path, tmp_path: Path) -> None:
    workload = tmp_path / "w.sql"
    workload.write_text(
        "-- name: by_customer\n-- params: [42]\nSELECT id FROM orders WHERE customer_id = $1;\n\n"
        "-- name: by_customer_quiet\n-- params: [42]\n-- qprof: ignore QP105\nSELECT id FROM orders WHERE customer_id = $1;\n",
        encoding="utf-8",
    )
    doc = cli.json("check", "-d", str(sample_sqlite), "--workload", str(workload), "--select", "QP1")
    assert doc["summary"]["statements_explained"] == 2
    assert {(f["code"], f["statement"]) for f in doc["findings"]} == {("QP105", "by_customer")}
    finding = doc["findings"][0]
    assert finding["source"] == f"{workload}:3" and "orders (customer_id)" in finding["suggestion"]
    github = cli("check", "-d", str(sample_sqlite), "--workload", str(workload), "--select", "QP1", "--format", "github")
    (line,) = github.stdout.splitlines()
    assert line.startswith(f"::warning file={workload},line=3,title=QP105 sqlite.plan::by_customer")


def test_text_markdown_and_github_formats(cli, sample_sqlite: Path) -> None:
    text = cli("check", "-d", str(sample_sqlite))
    assert text.exit_code == 0 and "QP204 warning orders" in text.stdout and "fix: CREATE INDEX" in text.stdout
    assert "finding" in text.stderr  # the summary line
    markdown = cli("check", "-d", str(sample_sqlite), "--format", "markdown").stdout.splitlines()
    assert markdown[0] == "| severity | code | where | finding | fix |" and len(markdown) > 3
    github = cli("check", "-d", str(sample_sqlite), "--format", "github").stdout.splitlines()
    assert github and all(line.startswith(("::warning ", "::notice ", "::error ")) for line in github)
    assert any("title=QP402 sqlite.settings" in line for line in github)


def test_postgres_check_with_workload(cli, app_dsn: str) -> None:
    doc = cli.json("check", "-d", app_dsn, "--workload", str(WORKLOAD), "--no-analyze", "--ignore", "QP3", "--ignore", "QP4")
    assert doc["summary"]["statements_explained"] == 25 and not doc["skipped"]
    unused = {f["index"] for f in doc["findings"] if f["code"] == "QP201"}
    assert set(PLANTED["unused_indexes"]) <= unused
    fks = {(f["table"], f["evidence"]["columns"][0]) for f in doc["findings"] if f["code"] == "QP204"}
    assert fks == set(PLANTED["fk_without_index"])
    assert {f["index"] for f in doc["findings"] if f["code"] == "QP202"} == set(PLANTED["duplicate_indexes"])
    doc = cli.json("check", "-d", app_dsn, "--workload", f"{WORKLOAD}:orders_by_customer", "--select", "QP1")
    (finding,) = doc["findings"]
    assert finding["code"] == "QP101" and finding["statement"] == "orders_by_customer"
    assert finding["evidence"]["rows_removed_by_filter"] > 10 * finding["evidence"]["rows_returned"]


def test_invalid_index_is_an_error(cli, pg_cluster: PgCluster) -> None:
    dsn = pg_cluster.create_database("check_invalid", extensions=())
    pg_cluster.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (1), (1);", dbname="check_invalid")
    with pg_cluster.connect("check_invalid") as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY t_v_key ON t (v)")
    result = cli("check", "-d", dsn, "--select", "QP203", "--fail-on", "error", "--format", "json")
    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)["findings"]
    assert (finding["index"], finding["severity"]) == ("t_v_key", "error")


def test_check_workload_timeout_is_skipped(cli, pg_cluster: PgCluster, tmp_path: Path) -> None:
    dsn = pg_cluster.create_database("check_timeout", extensions=())
    workload = tmp_path / "slow.sql"
    workload.write_text("-- name: slow\nSELECT pg_sleep(3);\n-- name: quick\nSELECT 1;\n", encoding="utf-8")
    result = cli("check", "-d", dsn, "--workload", str(workload), "--statement-timeout", "300ms", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["statements_explained"] == 1
    assert doc["skipped"][0]["statement"] == "slow" and "statement_timeout" in doc["skipped"][0]["reason"]


def test_rules_listing_and_doc(cli) -> None:
    listing = cli("rules")
    assert listing.exit_code == 0
    for code in ("QP101", "QP105", "QP204", "QP402"):
        assert code in listing.stdout
    doc = cli("rules", "qp101")
    assert doc.exit_code == 0
    assert "QP101 plan.seq-scan-large-table" in doc.stdout and "Anti-pattern" in doc.stdout
    assert "min_rows_scanned = 10000" in doc.stdout and "[tool.qprof.rules.QP101]" in doc.stdout
    data = cli.json("rules", "QP203")
    assert data["severity"] == "error" and data["scope"] == "database"
    missing = cli("rules", "QP999")
    assert missing.exit_code == 2 and "no rule 'QP999'" in missing.stderr
