"""Reports drawn from just two snapshots — the window a load test makes: readable charts (bars),
DDL/utility statements counted apart, and no crash on a database without indexes or on
statement text with ``$$`` (matplotlib's math mode). The HTML is rendered in headless Chromium."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import psycopg
import pytest

pytestmark = pytest.mark.postgres

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def two_snapshots(pg_cluster, tmp_path_factory):
    """A database without a single index, one statement whose text holds ``$$`` (an identifier
    may contain $), and some DDL and utility statements between two snapshots."""
    from typer.testing import CliRunner

    from qprof.cli.app import app

    dsn = pg_cluster.create_database("two_snaps", extensions=("pg_stat_statements",))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE dollars (id int, x$$y int, label text)")
        conn.execute("INSERT INTO dollars SELECT g, g % 7, 'l' || g FROM generate_series(1, 20000) g")
    store = str(tmp_path_factory.mktemp("two") / "history.db")
    runner = CliRunner()

    def snap() -> None:
        result = runner.invoke(app, ["snapshot", "--db", dsn, "--store", store, "-q"])
        assert result.exit_code == 0, result.stderr

    snap()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(30):
            conn.execute("SELECT count(*) FROM dollars WHERE x$$y = %s", [i % 7])
            conn.execute("SELECT label FROM dollars WHERE id = %s", [i])
        conn.execute("SET work_mem = '8MB'")
        conn.execute("CREATE TABLE dollars_copy AS SELECT * FROM dollars")
    snap()
    return {"dsn": dsn, "store": store}


def test_report_from_two_snapshots_has_bar_charts_and_leaves_ddl_out(two_snapshots):
    from qprof.history.store import Store
    from qprof.history.window import select_window
    from qprof.reports.build import build_report
    from qprof.reports.charts import render_charts

    with Store(two_snapshots["store"]) as history:
        target = history.find_target(None)
        report = build_report(history, select_window(history, target, between=("1", "2")))
    doc = report.document
    queries = [r["query"] for r in doc["top_by_total"]]
    assert any("x$$y" in q for q in queries)
    assert not any(q.upper().startswith(("CREATE", "SET")) for q in queries)
    assert doc["summary"]["excluded"].get("ddl", 0) >= 1 and doc["summary"]["excluded"].get("utility", 0) >= 1
    assert "left out of the top lists" in doc["summary"]["excluded_note"]
    assert doc["unused_indexes"] == [] and doc["used_indexes"] == []  # no index at all: no crash
    assert len(report.series["times"]) == 1  # one interval: drawn as bars over the window
    charts = render_charts(report.series)
    assert set(charts) == {"db_time", "latency", "calls"}
    from matplotlib import image

    for _title, png in charts.values():
        pixels = image.imread(io.BytesIO(png), format="png")
        coloured = ((abs(pixels[..., 0] - pixels[..., 1]) > 0.1) | (abs(pixels[..., 1] - pixels[..., 2]) > 0.1)).sum()
        assert coloured > 2000, "a chart with no bars drawn"


def test_html_report_from_two_snapshots_renders_in_chromium(cli, two_snapshots, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is installed by make test (scripts/ensure-prereqs.sh)"
    out = tmp_path / "reports"
    result = cli("report", "--store", two_snapshots["store"], "--between", "1", "2", "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    (page,) = out.glob("qprof-report-two_snaps-*.html")
    profile = tmp_path / "profile"
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*command, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90, check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(re.findall(r'<img[^>]*src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', dom.stdout)) == 3
    assert 'id="improvements"' in dom.stdout and 'class="pair"' in dom.stdout  # beside the regressions
    assert "x$$y" in dom.stdout
    shot = tmp_path / "two-snapshots.png"
    subprocess.run([*command, f"--screenshot={shot}", "--window-size=1280,2200", page.as_uri()], capture_output=True, timeout=90, check=True)
    assert shot.stat().st_size > 20_000


def test_speed_changes_read_as_multiples():
    from qprof.reports.render import speed_change

    assert speed_change(0.001) == "1,000× faster"
    assert speed_change(0.25) == "4.0× faster"
    assert speed_change(0.8) == "-20%"
    assert speed_change(1.35) == "+35%"
    assert speed_change(3.0) == "3.0× slower"


def test_chart_labels_with_dollars_are_plain_text():
    from datetime import datetime, timedelta

    from qprof.reports.charts import render_charts

    start = datetime(2026, 1, 1, 12, 0)
    series = {
        "start": start,
        "end": start + timedelta(minutes=3),
        "times": [start + timedelta(minutes=m) for m in (1, 2, 3)],
        "labels": ["DO $$ BEGIN PERFORM 1; END $$", "SELECT $1, $2"],
        "db_time_s": [[1.0, 2.0, 1.5], [0.5, 0.2, 0.1], [0.1, 0.1, 0.1]],
        "mean_ms": [[1.0, 2.0, 1.5], [0.5, 0.2, 0.1]],
        "calls_per_s": [3.0, 4.0, 5.0],
    }
    assert len(render_charts(series)) == 3  # time series (3 points), labels with $ and $$ drawn as text
