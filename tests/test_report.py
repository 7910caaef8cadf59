"""``qprof report``: a history with a known regression, a new statement and an unused index,
rendered as JSON, Markdown and HTML — the HTML checked in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_history_support import make_database, run

pytestmark = pytest.mark.postgres

SLEEPY = "SELECT pg_sleep(%s)"
LOOKUP = "SELECT price FROM items WHERE id = %s"
SCAN = "SELECT count(*) FROM items WHERE price > %s"
LATE = "SELECT max(price) FROM items WHERE kind = %s"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def history(pg_cluster, tmp_path_factory):
    """Three snapshots: in the second interval the sleepy statement is 4× slower and a new one appears."""
    from typer.testing import CliRunner

    from qprof.cli.app import app

    dsn = make_database(pg_cluster, "hist_report")
    store = str(tmp_path_factory.mktemp("report") / "history.db")
    runner = CliRunner()

    def snap() -> None:
        result = runner.invoke(app, ["snapshot", "--db", dsn, "--store", store, "-q"])
        assert result.exit_code == 0, result.stderr

    snap()
    run(dsn, SLEEPY, [(0.002,)] * 12)
    run(dsn, LOOKUP, [(i,) for i in range(1, 31)])
    run(dsn, SCAN, [(50,)] * 2)
    snap()
    run(dsn, SLEEPY, [(0.008,)] * 12)
    run(dsn, LOOKUP, [(i,) for i in range(1, 31)])
    run(dsn, SCAN, [(50,)] * 8)
    run(dsn, LATE, [("k1",), ("k2",)])
    snap()
    return {"dsn": dsn, "store": store}


def _by_text(rows, fragment):
    return [r for r in rows if fragment in r["query"]]


def test_report_json_finds_regression_new_statement_and_unused_index(cli, history):
    doc = cli.json("report", "--store", history["store"], "--between", "2", "3", "--min-calls", "5")
    summary = doc["summary"]
    assert summary["window"]["first_snapshot"] == 2 and summary["window"]["last_snapshot"] == 3
    assert summary["previous_window"]["first_snapshot"] == 1
    assert summary["calls"] == sum(r["calls"] for r in doc["top_by_total"]) or summary["statements"] > len(doc["top_by_total"])
    (regression,) = _by_text(doc["regressions"], "pg_sleep")
    assert regression["calls"] == 12 and regression["before_calls"] == 12
    assert regression["change_pct"] > 100  # 2 ms → 8 ms
    assert [r["calls"] for r in _by_text(doc["new_statements"], "max(price)")] == [2]
    assert not _by_text(doc["new_statements"], "pg_sleep")
    assert "public.items_never_used" in [r["index"] for r in doc["unused_indexes"]]
    assert "public.items_pkey" not in [r["index"] for r in doc["unused_indexes"]]
    (table,) = doc["seq_scan_growth"]
    assert table["table"] == "public.items" and table["seq_scan"] >= 8 and table["growth_pct"] > 0
    assert doc["top_by_total"][0]["query"].startswith("SELECT pg_sleep")
    assert doc["findings"] is None and "--db" in doc["findings_note"]


def test_report_with_db_includes_advisor_findings(cli, history):
    doc = cli.json("report", "--store", history["store"], "--db", history["dsn"], "--between", "2", "3")
    assert doc["summary"]["target"] == "hist_report"  # the store entry was found from the live database
    findings = doc["findings"]
    assert isinstance(findings, list)
    assert any("items_never_used" in (f["subject"] or "") for f in findings), findings


def test_fail_on_regression_exits_1_and_markdown_lists_it(cli, history):
    result = cli("report", "--store", history["store"], "--between", "2", "3", "--min-calls", "5", "--fail-on-regression")
    assert result.exit_code == 1, result.stderr
    markdown = result.stdout
    assert markdown.startswith("# qprof report: hist_report")
    regressions = markdown.split("## Regressions", 1)[1].split("## New statements", 1)[0]
    assert "pg_sleep" in regressions and "12" in regressions
    ok = cli("report", "--store", history["store"], "--between", "2", "3", "--regression", "1000%", "--fail-on-regression")
    assert ok.exit_code == 0, ok.stderr


def test_a_bare_number_is_a_percentage(cli, history):
    """--regression 1 is 1 % (it once meant 100 %); 1000 is 1000 %, like 1000%."""
    one = cli("report", "--store", history["store"], "--between", "2", "3", "--min-calls", "5", "--regression", "1", "--fail-on-regression")
    assert one.exit_code == 1 and "regression(s) at or above 1%" in one.stderr
    bare = cli("report", "--store", history["store"], "--between", "2", "3", "--regression", "1000", "--fail-on-regression")
    assert bare.exit_code == 0, bare.stderr


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed: apt-get install -y chromium (needed to check the HTML report renders)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def test_html_report_renders_in_headless_chromium(cli, history, chromium, tmp_path):
    out = tmp_path / "reports"
    result = cli("report", "--store", history["store"], "--between", "1", "3", "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    (page,) = out.glob("qprof-report-hist_report-*.html")
    assert re.fullmatch(r"qprof-report-hist_report-\d{8}-\d{4}\.html", page.name)
    assert (out / page.name.replace(".html", ".md")).exists()
    assert len(list(out.glob("*.png"))) == 3  # the Markdown's charts, beside it
    assert "http://" not in page.read_text() and "https://" not in page.read_text()  # self-contained

    profile = tmp_path / "chromium-profile"
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*command, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout
    images = re.findall(r'<img[^>]*src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', rendered)
    assert len(images) == 3
    for section in ("top_by_total", "top_by_mean", "new_statements", "unused_indexes"):
        assert f'<table data-section="{section}">' in rendered
    assert "pg_sleep" in rendered

    shot = tmp_path / "report.png"
    subprocess.run([*command, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()], capture_output=True, timeout=60, check=True)
    assert shot.stat().st_size > 20_000  # a page with charts, not a blank one
    keep = os.environ.get("QPROF_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, Path(keep))


def test_unwritable_out_is_a_usage_error_and_leaves_the_window_for_the_next_run(cli, pg_cluster, tmp_path):
    """A report that could not be written must not count as delivered: the next run (cron,
    no --since) covers the same window instead of starting where the failed one would have ended."""
    dsn = make_database(pg_cluster, "hist_report_out")
    store = str(tmp_path / "history.db")

    def snap() -> int:
        return cli.json("snapshot", "--db", dsn, "--store", store)["snapshot"]

    first = snap()
    run(dsn, LOOKUP, [(i,) for i in range(1, 6)])
    snap()
    (tmp_path / "a_file").write_text("not a folder")
    for out, reason in [("/proc/nope/", "No such file or directory"), (str(tmp_path / "a_file"), "not a folder")]:
        failed = cli("report", "--store", store, "--out", out, "--no-charts")
        assert failed.exit_code == 2, failed.stderr
        assert "cannot write the report to" in failed.stderr and reason in failed.stderr, failed.stderr
        assert "internal error" not in failed.stderr
    third = snap()

    doc = cli.json("report", "--store", store)
    assert (doc["summary"]["window"]["first_snapshot"], doc["summary"]["window"]["last_snapshot"]) == (first, third)
    # a delivered report does move the window on
    run(dsn, LOOKUP, [(1,)])
    fourth = snap()
    out = tmp_path / "reports"
    written = cli("report", "--store", store, "--out", str(out), "--no-charts", "--format", "json")
    assert written.exit_code == 0, written.stderr
    assert len(list(out.glob("qprof-report-hist_report_out-*.json"))) == 1
    fifth = snap()
    doc = cli.json("report", "--store", store)
    assert (doc["summary"]["window"]["first_snapshot"], doc["summary"]["window"]["last_snapshot"]) == (fourth, fifth)
