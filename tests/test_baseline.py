"""``qprof bench`` percentiles and ``qprof baseline save/check`` gating, on real databases."""

from __future__ import annotations

import pytest
from test_history_support import make_database, run

pytestmark = pytest.mark.postgres

FAST = """-- name: lookup
-- params: [7]
SELECT price FROM items WHERE id = $1;
-- name: nap
SELECT pg_sleep(0.001);
-- name: bump
-- params: ["k1"]
UPDATE items SET price = price + 1 WHERE kind = $1;
"""
SLOW = FAST.replace("pg_sleep(0.001)", "pg_sleep(0.03)")


@pytest.fixture(scope="module")
def base_dsn(pg_cluster) -> str:
    return make_database(pg_cluster, "hist_baseline")


@pytest.fixture
def workloads(tmp_path):
    fast, slow = tmp_path / "fast.sql", tmp_path / "slow.sql"
    fast.write_text(FAST)
    slow.write_text(SLOW)
    return fast, slow


def test_bench_reports_percentiles_and_rolls_back_writes(cli, base_dsn, workloads):
    before = _price_sum(base_dsn)
    doc = cli.json("bench", str(workloads[0]), "--runs", "7", "--db", base_dsn)
    assert [s["name"] for s in doc["statements"]] == ["lookup", "nap", "bump"]
    for s in doc["statements"]:
        assert s["runs"] == 7
        assert s["min_ms"] <= s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"]
    nap = doc["statements"][1]
    assert nap["p50_ms"] >= 1.0  # pg_sleep(0.001) really ran
    assert _price_sum(base_dsn) == before  # the UPDATE was rolled back every time


def _price_sum(dsn: str):
    import psycopg

    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT sum(price) FROM items").fetchone()[0]


def test_baseline_check_fails_on_slowdown_with_the_numbers(cli, base_dsn, workloads, tmp_path):
    store = str(tmp_path / "h.db")
    fast, slow = workloads
    saved = cli.json("baseline", "save", "main", "--workload", str(fast), "--runs", "5", "--db", base_dsn, "--store", store)
    assert saved["statements"] == 3 and saved["source"] == "bench"

    result = cli(
        "baseline",
        "check",
        "main",
        "--workload",
        str(slow),
        "--runs",
        "5",
        "--db",
        base_dsn,
        "--store",
        store,
        "--threshold",
        "10%",
        "--min-delta",
        "5ms",
        "--format",
        "json",
    )
    assert result.exit_code == 1, result.stderr
    import json

    doc = json.loads(result.stdout)
    assert doc["slower"] == 1
    (nap,) = [s for s in doc["statements"] if s["key"] == "nap"]
    assert nap["status"] == "slower" and nap["mean_ms"] > nap["baseline_mean_ms"] + 20
    assert nap["p95_ms"] is not None and nap["baseline_p95_ms"] is not None
    assert "nap" in result.stderr and "slower than baseline 'main'" in result.stderr

    # the same workload again is within a generous threshold: exit 0
    same = cli(
        "baseline", "check", "main", "--workload", str(fast), "--runs", "5", "--db", base_dsn, "--store", store, "--threshold", "400%", "--min-delta", "15ms"
    )  # p95 of 5 runs is their max: noisy
    assert same.exit_code == 0, same.stdout + same.stderr
    assert "no statement slower" in same.stderr

    listed = cli.json("baseline", "list", "--store", store)
    assert [(b["name"], b["source"], b["statements"]) for b in listed["baselines"]] == [("main", "bench", 3)]
    wrong = cli("baseline", "check", "main", "--since", "1h", "--store", store)
    assert wrong.exit_code == 2 and "--workload" in wrong.stderr
    missing = cli("baseline", "check", "nope", "--store", store)
    assert missing.exit_code == 2 and "no baseline 'nope'" in missing.stderr


def test_window_baseline_from_history(cli, base_dsn, tmp_path):
    store = str(tmp_path / "h.db")
    snap = lambda: cli.json("snapshot", "--db", base_dsn, "--store", store)["snapshot"]  # noqa: E731
    a = snap()
    run(base_dsn, "SELECT pg_sleep(%s)", [(0.001,)] * 5)
    b = snap()
    run(base_dsn, "SELECT pg_sleep(%s)", [(0.02,)] * 5)
    c = snap()
    cli.json("baseline", "save", "quiet-week", "--between", str(a), str(b), "--store", store)
    result = cli(
        "baseline", "check", "quiet-week", "--between", str(b), str(c), "--store", store, "--threshold", "10%", "--min-delta", "5ms", "--format", "json"
    )
    assert result.exit_code == 1, result.stderr
    import json

    slower = [s for s in json.loads(result.stdout)["statements"] if s["status"] == "slower"]
    assert [s["query"] for s in slower] == ["SELECT pg_sleep($1)"]
    assert slower[0]["baseline_p95_ms"] is None  # windows know means only

    report = cli.json("report", "--between", str(b), str(c), "--baseline", "quiet-week", "--store", store, "--min-calls", "5")
    assert report["comparison"]["against"] == "baseline quiet-week"
    assert [r["query"] for r in report["regressions"]] == ["SELECT pg_sleep($1)"]


def test_bench_on_sqlite(cli, sample_sqlite):
    from pathlib import Path

    workload = Path(__file__).resolve().parents[1] / "queries" / "shop.sql"
    doc = cli.json("bench", str(workload), "--runs", "3", "--db", str(sample_sqlite), "-q")
    assert len(doc["statements"]) >= 20
    assert all(s["runs"] == 3 and s["p50_ms"] <= s["p99_ms"] for s in doc["statements"])
