"""History store and deltas: snapshots of the real test cluster around known statements."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from datetime import datetime

import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select, text, update
from test_history_support import find_statement, make_database, pg_store_url, qprof_process, run

from qprof.history import schema
from qprof.history.cli import windowed_source
from qprof.history.deltas import counter_deltas, statement_intervals, statement_totals
from qprof.history.store import Store
from qprof.history.window import windowed_statements
from qprof.ranking import rank_statements

pytestmark = pytest.mark.postgres

LOOKUP = "SELECT price FROM items WHERE id = %s"
BUMP = "UPDATE items SET price = price + 1 WHERE kind = %s"


@pytest.fixture(scope="module")
def hist_dsn(pg_cluster) -> str:
    return make_database(pg_cluster, "hist")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path, pg_cluster) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "history.db")
    return pg_store_url(pg_cluster, "store")


def snapshot(cli, dsn: str, store: str, *extra: str) -> dict:
    return cli.json("snapshot", "--db", dsn, "--store", store, *extra)


def test_window_delta_equals_statements_executed(cli, hist_dsn, store):
    first = snapshot(cli, hist_dsn, store)
    run(hist_dsn, LOOKUP, [(i,) for i in range(1, 8)])  # 7 lookups
    run(hist_dsn, BUMP, [("k1",), ("k2",), ("k3",)])  # 3 updates
    second = snapshot(cli, hist_dsn, store)
    statements = windowed_statements(store, "hist", between=(str(first["snapshot"]), str(second["snapshot"])))
    lookup = find_statement(statements, "SELECT price FROM items WHERE id")
    bump = find_statement(statements, "UPDATE items SET price")
    assert (lookup.calls, bump.calls) == (7, 3)
    assert bump.rows == 600  # 200 rows per kind
    assert lookup.mean_ms == pytest.approx(lookup.total_ms / 7)
    assert not any("qprof" in s.query for s in statements)  # snapshots do not count themselves
    ranked = rank_statements(statements, "calls", limit=2)
    assert [s.calls for s in ranked] == [7, 3]

    # the window's figures are deltas, not the cumulative counters since the last reset
    run(hist_dsn, LOOKUP, [(1,), (2,)])
    third = snapshot(cli, hist_dsn, store)
    later = windowed_statements(store, "hist", between=(str(second["snapshot"]), str(third["snapshot"])))
    assert find_statement(later, "SELECT price FROM items WHERE id").calls == 2
    assert all("UPDATE items" not in s.query for s in later)
    whole = windowed_statements(store, "hist", since="1h")
    assert find_statement(whole, "SELECT price FROM items WHERE id").calls == 9
    # what `qprof top --since 1h --db …` uses: the store entry is found from the live database
    listed, source = windowed_source(store, None, hist_dsn, None, "30s", "1h", None)
    assert find_statement(listed, "SELECT price FROM items WHERE id").calls == 9
    assert source.startswith("history hist ")
    # and through the CLI: ranked by what happened in the window, not since the last reset
    doc = cli.json("top", "--since", "1h", "--db", hist_dsn, "--store", store, "--by", "calls")
    assert doc["source"] == "history"
    assert find_statement_dict(doc["statements"], "SELECT price FROM items WHERE id")["calls"] == 9
    window = cli.json("top", "--between", str(second["snapshot"]), str(third["snapshot"]), "--store", store, "--target", "hist")
    assert find_statement_dict(window["statements"], "SELECT price FROM items WHERE id")["calls"] == 2
    assert cli("top", "--since", "1h", "--store", store, "--workload", "x.sql").exit_code == 2


def find_statement_dict(statements: list[dict], fragment: str) -> dict:
    return next(s for s in statements if fragment in s["query"])


def test_reset_between_snapshots_gives_no_negative_numbers(cli, pg_cluster, tmp_path):
    dsn = make_database(pg_cluster, "hist_reset")
    store = str(tmp_path / "h.db")
    run(dsn, LOOKUP, [(i,) for i in range(1, 21)])
    first = snapshot(cli, dsn, store)
    # reset only this database's entries: other tests share the cluster's statistics
    pg_cluster.psql(
        "SELECT pg_stat_statements_reset(0::oid, (SELECT oid FROM pg_database WHERE datname = 'hist_reset'), 0::bigint)",
        dbname="hist_reset",
    )
    run(dsn, LOOKUP, [(1,), (2,)])
    second = snapshot(cli, dsn, store)
    statements = windowed_statements(store, "hist_reset", between=(str(first["snapshot"]), str(second["snapshot"])))
    assert statements
    for s in statements:
        assert s.calls >= 0 and s.total_ms >= 0 and s.rows >= 0 and (s.shared_blks_hit or 0) >= 0
    assert find_statement(statements, "SELECT price FROM items WHERE id").calls == 2


def _frames(reset_marks, calls_by_snapshot):
    snaps = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "taken_at": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:00", "2024-01-01 03:00"]),
            "pss_stats_reset": pd.to_datetime(reset_marks),
        }
    )
    rows = []
    for snapshot_id, by_statement in calls_by_snapshot.items():
        for statement_id, calls in by_statement.items():
            rows.append(
                {
                    "snapshot_id": snapshot_id,
                    "statement_id": statement_id,
                    "calls": calls,
                    "total_ms": calls * 2.0,
                    "mean_ms": 2.0,
                    "stddev_ms": 0.0,
                    "rows": calls,
                    "shared_blks_hit": calls,
                    "shared_blks_read": 0,
                    "temp_blks": 0,
                    "io_ms": 0.0,
                }
            )
    return snaps, pd.DataFrame(rows)


def test_deltas_restart_on_reported_reset_eviction_and_new_entries():
    reset = ["2024-01-01 00:00", "2024-01-01 00:00", "2024-01-01 00:00", "2024-01-01 02:30"]
    snaps, stats = _frames(
        reset,
        {
            1: {10: 100, 11: 50},
            2: {10: 130, 11: 70, 12: 5},  # +30, +20, new entry with 5
            3: {10: 140, 12: 9},  # 11 evicted; 10 went on: +10; 12: +4
            4: {10: 150, 11: 3, 12: 9},  # full reset reported at 4: counters are what accrued since it
        },
    )
    intervals = statement_intervals(snaps, stats)
    assert (intervals[["calls", "total_ms", "rows"]] >= 0).all().all()
    by = {(r.snapshot_id, r.statement_id): r.calls for r in intervals.itertuples()}
    assert by[(2, 10)] == 30 and by[(2, 11)] == 20 and by[(2, 12)] == 5
    assert by[(3, 10)] == 10 and by[(3, 12)] == 4 and (3, 11) not in by
    assert by[(4, 10)] == 150 and by[(4, 11)] == 3 and by[(4, 12)] == 9
    totals = statement_totals(intervals).set_index("statement_id")
    assert totals.loc[10, "calls"] == 190 and totals.loc[10, "mean_ms"] == pytest.approx(2.0)

    # without a reported reset, a counter that goes down (eviction and re-creation) restarts
    snaps, stats = _frames([None] * 4, {1: {10: 100}, 2: {10: 120}, 3: {10: 4}, 4: {10: 6}})
    calls = list(statement_intervals(snaps, stats)["calls"])
    assert calls == [20, 4, 2]


def test_table_counter_deltas_are_windowed():
    snaps = pd.DataFrame({"id": [1, 2, 3], "taken_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])})
    rows = pd.DataFrame({"snapshot_id": [1, 2, 3], "t": ["a", "a", "a"], "seq_scan": [5, 9, 2]})
    deltas = counter_deltas(snaps, rows, ["t"], ["seq_scan"])
    assert list(deltas["seq_scan"]) == [4, 2]


def test_concurrent_snapshots_both_succeed(hist_dsn, store):
    holder = qprof_process("snapshot", "--db", hist_dsn, "--store", store, "-q", env={"QPROF_SNAPSHOT_HOLD_SECONDS": "1.5"})
    _wait_for_hold(holder)
    other = qprof_process("snapshot", "--db", hist_dsn, "--store", store, "--format", "json")
    out_holder, err_holder = holder.communicate(timeout=60)
    out_other, err_other = other.communicate(timeout=60)
    assert holder.returncode == 0, err_holder
    assert other.returncode == 0, err_other
    taken = json.loads(out_other)["snapshot"]
    with Store(store) as history:
        with history.read() as conn:
            counts = dict(conn.execute(select(schema.snapshots.c.id, schema.snapshots.c.statement_count)).all())
            stored = dict(conn.execute(select(schema.statement_stats.c.snapshot_id, func.count()).group_by(schema.statement_stats.c.snapshot_id)).all())
    assert taken in counts
    assert len(counts) >= 2
    assert counts == stored  # every snapshot complete: its rows match the count it recorded


def _wait_for_hold(process) -> None:
    """Block until the process says it is inside the snapshot transaction."""
    line = process.stderr.readline()
    assert "holding snapshot" in line, line + process.stderr.read()


def test_killed_snapshot_leaves_nothing_behind(hist_dsn, store):
    with Store(store) as history:
        history.ensure_schema()
        with history.read() as conn:
            before = conn.execute(select(func.count()).select_from(schema.snapshots)).scalar()
            stats_before = conn.execute(select(func.count()).select_from(schema.statement_stats)).scalar()
    victim = qprof_process("snapshot", "--db", hist_dsn, "--store", store, env={"QPROF_SNAPSHOT_HOLD_SECONDS": "60"})
    _wait_for_hold(victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    time.sleep(0.2)  # PostgreSQL notices the dead client and rolls back
    after = qprof_process("snapshot", "--db", hist_dsn, "--store", store, "--format", "json")
    out, err = after.communicate(timeout=60)
    assert after.returncode == 0, err
    with Store(store) as history, history.read() as conn:
        count = conn.execute(select(func.count()).select_from(schema.snapshots)).scalar()
        stats = conn.execute(select(func.count()).select_from(schema.statement_stats)).scalar()
    assert count == before + 1  # the killed one is gone, the next one is there
    assert stats == stats_before + json.loads(out)["statements"]


def test_store_location_schema_version_and_prune(cli, hist_dsn, tmp_path):
    data_home = tmp_path / "xdg"
    result = cli("snapshot", "--db", hist_dsn, "-q", env={"XDG_DATA_HOME": str(data_home)})
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # quiet for cron
    store_file = data_home / "qprof" / "history.db"
    with sqlite3.connect(store_file) as conn:
        assert conn.execute("SELECT value FROM qprof_meta WHERE key = 'schema_version'").fetchone() == (str(schema.SCHEMA_VERSION),)

    # an old snapshot is pruned with its rows; the recent one stays
    cli.json("snapshot", "--db", hist_dsn, "--store", str(store_file))
    engine = create_engine(f"sqlite:///{store_file}")
    with engine.begin() as conn:
        conn.execute(update(schema.snapshots).where(schema.snapshots.c.id == 1).values(taken_at=datetime(2000, 1, 1)))
    pruned = cli.json("snapshots", "prune", "--keep", "30d", "--store", str(store_file))
    assert pruned["pruned"] == 1
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM qprof_statement_stats WHERE snapshot_id = 1")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM qprof_snapshots")).scalar() == 1
    listed = cli.json("snapshots", "list", "--store", str(store_file))
    assert [s["id"] for s in listed["snapshots"]] == [2]

    # a store written by a newer qprof is refused with a clear message, not a traceback
    with engine.begin() as conn:
        conn.execute(text("UPDATE qprof_meta SET value = '99' WHERE key = 'schema_version'"))
    engine.dispose()
    refused = cli("snapshot", "--db", hist_dsn, "--store", str(store_file))
    assert refused.exit_code == 2
    assert "schema version 99" in refused.stderr and "Traceback" not in refused.stderr


def test_snapshot_errors_are_clear(cli, sample_sqlite, tmp_path, hist_dsn):
    result = cli("snapshot", "--db", str(sample_sqlite), "--store", str(tmp_path / "h.db"))
    assert result.exit_code == 2
    assert "need PostgreSQL" in result.stderr
    bad = cli("snapshot", "--db", hist_dsn, "--store", "mysql://x@y/z")
    assert bad.exit_code == 2 and "unsupported history store" in bad.stderr
    with Store(str(tmp_path / "empty.db")) as history:
        history.ensure_schema()  # a store that exists but was never written to
    empty = cli("report", "--store", str(tmp_path / "empty.db"))
    assert empty.exit_code == 2 and "holds no snapshots yet" in empty.stderr


@pytest.mark.parametrize("spelling", ["/proc/nope/history.db", "sqlite:////proc/nope/x.db"])
def test_store_that_cannot_be_created_is_a_usage_error(cli, hist_dsn, spelling):
    result = cli("snapshot", "-d", hist_dsn, "--store", spelling)
    assert result.exit_code == 2, result.stderr
    assert "cannot create the history store at /proc/nope/" in result.stderr
    assert "No such file or directory" in result.stderr and "internal error" not in result.stderr


def test_reading_commands_do_not_create_a_store(cli, tmp_path, pg_cluster, hist_dsn):
    typo = tmp_path / "sub" / "typo.db"
    commands = [
        ("report",),
        ("top", "--since", "1h"),
        ("top", "--since", "1h", "--db", hist_dsn),
        ("snapshots", "list"),
        ("snapshots", "prune", "--keep", "30d"),
        ("baseline", "list"),
        ("baseline", "check", "main", "--since", "1h"),
    ]
    for command in commands:
        result = cli(*command, "--store", str(typo))
        assert result.exit_code == 2, (command, result.stderr)
        assert f"no history store at {typo}" in result.stderr, (command, result.stderr)
        assert "qprof snapshot" in result.stderr  # the hint says how to make one
        assert not typo.exists() and not typo.parent.exists(), command

    # a PostgreSQL database without qprof's tables is no store either, and is left without them
    url = pg_store_url(pg_cluster, "store_typo")
    result = cli("report", "--store", url)
    assert result.exit_code == 2 and "no history store at postgresql" in result.stderr, result.stderr
    with pg_cluster.connect("store_typo") as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'qprof%'").fetchone() == (0,)

    # writing commands do create it, folder included, and readers then find it
    snapshot(cli, hist_dsn, str(typo))
    assert typo.is_file()
    assert cli.json("snapshots", "list", "--store", str(typo))["snapshots"]


def test_pg_store_password_is_not_printed(cli, pg_cluster, hist_dsn):
    secret = "s3cr3t-Pw"
    url = pg_store_url(pg_cluster, "store").replace("postgres@", f"nobody:{secret}@")
    result = cli("snapshot", "--db", hist_dsn, "--store", url)
    assert result.exit_code == 2
    assert secret not in result.stderr and secret not in result.stdout
    assert "history store" in result.stderr
