"""Nothing left behind by any kill: a real ``qprof advise --verify`` process is killed (SIGKILL,
SIGHUP, a second signal during cleanup, its build session terminated) while it builds; whatever
survives carries qprof's marks, the next run reports it with the exact DROP, and
``advise --cleanup`` drops it. SQLite scratch folders of a killed run go with the next run.

An open writer on the table makes ``CREATE INDEX CONCURRENTLY`` wait after it has created the
(INVALID) index, so each kill lands in the middle of a build.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCHEMA = """
CREATE TABLE t (id int PRIMARY KEY, k int NOT NULL, note text);
INSERT INTO t SELECT i, i % 3000, 'x' FROM generate_series(1, 60000) AS i;
CREATE INDEX users_own_idx ON t (note);
ANALYZE;
"""
STATEMENT = "SELECT id FROM t WHERE k = 3"
RUN_LOCK_CLASS = 0x71707266


def marked(run: str, n: int, table: object, rest: str) -> str:
    """The build name qprof's run ``run`` gives its n-th build on ``table`` (oid; SQLite: name)."""
    from qprof.advise.builds import mark_digest

    return f"qprof_{run}_{n}_{mark_digest(run, n, table, rest)}_{rest}"


@pytest.fixture(scope="module")
def left_dsn(pg_cluster) -> str:
    dsn = pg_cluster.create_database("advleft", extensions=("pg_stat_statements", "hypopg"))
    pg_cluster.psql(SCHEMA, dbname="advleft")
    return dsn


def q(pg_cluster, sql: str) -> str:
    return pg_cluster.psql(sql, dbname="advleft").strip()


def qprof_indexes(pg_cluster) -> list[str]:
    out = q(pg_cluster, "SELECT indexname FROM pg_indexes WHERE tablename = 't' AND indexname LIKE 'qprof%' ORDER BY 1")
    return out.split()


def spawn(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qprof", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(condition, seconds: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def writer(pg_cluster):
    conn = pg_cluster.connect("advleft")
    conn.autocommit = False
    conn.execute("INSERT INTO t VALUES (1000001, 1, 'w')")
    return conn


def builds_gone(pg_cluster) -> bool:
    """No server session of any qprof run is still building (a killed client's backend finishes
    its statement first)."""
    held = q(pg_cluster, f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = {RUN_LOCK_CLASS}")
    return held == "0"


def verify_process(dsn: str) -> subprocess.Popen:
    return spawn("advise", "-d", dsn, "--sql", STATEMENT, "--verify", "--runs", "1", "--no-write", "--format", "json", "--lock-timeout", "30s")


def assert_reported_then_cleaned(cli, pg_cluster, dsn: str, name: str) -> None:
    drop = f'DROP INDEX CONCURRENTLY IF EXISTS "public"."{name}";'
    # every later advise/check/indexes run names it with the exact DROP …
    doc = cli.json("advise", "-d", dsn, "--sql", STATEMENT, "--no-write", "--whatif", "heuristic")
    (item,) = doc["earlier_leftovers"]
    assert item["index"] == f"public.{name}" and item["drop"] == drop and item["table"] == "public.t"
    # … and never as the user's own index: the advice for t(k) still stands
    assert [r["columns"] for r in doc["recommendations"]] == [["k"]]
    for command in (["indexes"], ["check", "--select", "QP2"]):
        result = cli(*command, "-d", dsn)
        assert drop in result.stderr and "qprof advise --cleanup" in result.stderr, result.stderr
    assert json.loads(cli("indexes", "-d", dsn, "--format", "json").stdout)["qprof_leftovers"][0]["drop"] == drop
    # --cleanup drops it and nothing else
    result = cli("advise", "-d", dsn, "--cleanup", "--format", "json")
    assert result.exit_code == 0, result.stderr
    cleaned = json.loads(result.stdout)
    assert [d["index"] for d in cleaned["dropped"]] == [f"public.{name}"] and cleaned["failed"] == []
    assert qprof_indexes(pg_cluster) == []
    assert q(pg_cluster, "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_own_idx'") == "1"
    # and the advice is the same as before the kill
    doc = cli.json("advise", "-d", dsn, "--sql", STATEMENT, "--no-write")
    assert doc["earlier_leftovers"] == [] and [r["columns"] for r in doc["recommendations"]] == [["k"]]


@pytest.mark.postgres
def test_sigkill_during_a_verify_build_leaves_a_marked_index_the_next_run_reports_and_cleans(cli, pg_cluster, left_dsn):
    held = writer(pg_cluster)
    proc = verify_process(left_dsn)
    try:
        (name,) = wait_for(lambda: qprof_indexes(pg_cluster), what="the build to start")
        proc.kill()
        proc.wait(30)
    finally:
        held.rollback()  # the orphaned build now finishes: a VALID index nobody will drop
        held.close()
    wait_for(lambda: builds_gone(pg_cluster), what="the killed run's server session to end")
    assert name.startswith("qprof_") and name.endswith("_t_k_idx")
    assert q(pg_cluster, f"SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.{name}'::regclass") == "t"
    assert_reported_then_cleaned(cli, pg_cluster, left_dsn, name)


@pytest.mark.postgres
def test_sighup_during_a_verify_build_cleans_up_like_sigterm(cli, pg_cluster, left_dsn):
    held = writer(pg_cluster)
    proc = verify_process(left_dsn)
    try:
        (name,) = wait_for(lambda: qprof_indexes(pg_cluster), what="the build to start")
        # a live run's build is no leftover: not reported, and --cleanup leaves it alone
        assert "qprof advise --cleanup" not in cli("indexes", "-d", left_dsn).stderr
        cleaned = cli.json("advise", "-d", left_dsn, "--cleanup")
        assert cleaned["dropped"] == [] and cleaned["in_use"] == [f"public.{name}"]
        assert qprof_indexes(pg_cluster) == [name]
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        held.rollback()  # the cleanup's DROP … CONCURRENTLY waits for the writer, then goes on
        _out, err = proc.communicate(timeout=60)
    finally:
        held.close()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert qprof_indexes(pg_cluster) == []


@pytest.mark.postgres
def test_a_second_signal_while_cleanup_waits_still_names_the_leftover(cli, pg_cluster, left_dsn):
    held = writer(pg_cluster)
    proc = verify_process(left_dsn)
    try:
        (name,) = wait_for(lambda: qprof_indexes(pg_cluster), what="the build to start")
        proc.send_signal(signal.SIGHUP)
        # cleanup's DROP INDEX CONCURRENTLY now waits for the writer: interrupt that too
        wait_for(
            lambda: (
                q(pg_cluster, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%DROP INDEX CONCURRENTLY%qprof_%' AND pid <> pg_backend_pid()") == "1"
            ),
            what="cleanup to wait",
        )
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        held.rollback()
        held.close()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"LEFTOVER: public.{name}" in err and f'DROP INDEX CONCURRENTLY IF EXISTS "public"."{name}";' in err
    wait_for(lambda: builds_gone(pg_cluster), what="the run's server session to end")
    assert qprof_indexes(pg_cluster) == [name]
    assert q(pg_cluster, f"SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.{name}'::regclass") == "f"
    # the next --verify finds it, drops it first (it would skew the baseline), and advises t(k) again
    result = cli("advise", "-d", left_dsn, "--sql", STATEMENT, "--verify", "--runs", "1", "--no-write", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert f'DROP INDEX CONCURRENTLY IF EXISTS "public"."{name}";' in result.stderr
    assert doc["earlier_leftovers"] == [] and [r["columns"] for r in doc["recommendations"]] == [["k"]]
    assert doc["recommendations"][0]["statements"][0]["ms_after"] is not None
    assert qprof_indexes(pg_cluster) == []


@pytest.mark.postgres
def test_terminated_build_session_is_reopened_and_cleaned_with_one_line(pg_cluster, left_dsn):
    held = writer(pg_cluster)
    proc = verify_process(left_dsn)
    try:
        wait_for(lambda: qprof_indexes(pg_cluster), what="the build to start")
        killed = q(
            pg_cluster,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE '%CREATE INDEX CONCURRENTLY%qprof_%' AND pid <> pg_backend_pid()",
        )
        assert killed == "1"
        time.sleep(0.5)
        held.rollback()
        out, err = proc.communicate(timeout=90)
    finally:
        held.close()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "internal error" not in err
    doc = json.loads(out)
    assert doc["leftovers"] == [] and len(doc["failed"]) == 1
    assert any("the build session ended" in n and "terminating connection" in n for n in doc["notes"]), doc["notes"]
    assert sum("the build session ended" in line for line in err.splitlines()) == 1, err
    assert qprof_indexes(pg_cluster) == []


@pytest.mark.postgres
def test_when_cleanup_cannot_reconnect_the_leftover_is_reported_and_found_next_time(cli, pg_cluster, left_dsn):
    pg_cluster.psql(
        "DO $$BEGIN CREATE ROLE leftbuilder LOGIN PASSWORD 'lb-pw'; EXCEPTION WHEN duplicate_object THEN NULL; END$$;"
        "CREATE TABLE IF NOT EXISTS t2 (id int PRIMARY KEY, k int NOT NULL);"
        "INSERT INTO t2 SELECT i, i % 3000 FROM generate_series(1, 60000) i ON CONFLICT DO NOTHING;"
        "ALTER TABLE t2 OWNER TO leftbuilder; GRANT CREATE ON SCHEMA public TO leftbuilder; ANALYZE t2;",
        dbname="advleft",
    )
    dsn = pg_cluster.dsn("advleft", user="leftbuilder", password="lb-pw")
    held = pg_cluster.connect("advleft")
    held.autocommit = False
    held.execute("INSERT INTO t2 VALUES (1000001, 1)")
    proc = spawn(
        "advise", "-d", dsn, "--sql", "SELECT id FROM t2 WHERE k = 3", "--verify", "--runs", "1", "--no-write", "--format", "json", "--lock-timeout", "30s"
    )
    try:
        wait_for(lambda: q(pg_cluster, "SELECT count(*) FROM pg_indexes WHERE tablename = 't2' AND indexname LIKE 'qprof%'") == "1", what="the build to start")
        # the build session dies and its role may no longer log in: cleanup cannot reconnect
        pg_cluster.psql(
            "ALTER ROLE leftbuilder NOLOGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE '%CREATE INDEX CONCURRENTLY%qprof_%' AND pid <> pg_backend_pid()",
            dbname="advleft",
        )
        held.rollback()
        out, err = proc.communicate(timeout=120)
    finally:
        held.close()
        pg_cluster.psql("ALTER ROLE leftbuilder LOGIN", dbname="advleft")
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "internal error" not in err
    doc = json.loads(out)
    (left,) = doc["leftovers"]
    name = left["index"].split(".", 1)[1]
    assert not any(name in line for line in doc["notes"])  # named once: the LEFTOVER line and "leftovers"
    assert err.count(f"could not drop public.{name}") == 1, err
    assert left["drop"] == f'DROP INDEX CONCURRENTLY IF EXISTS "public"."{name}";'
    assert "cannot open a writable session" in left["reason"] and "not permitted to log in" in left["reason"]
    assert f"LEFTOVER: could not drop public.{name}" in err
    # the next run finds it (its run is gone) and --cleanup drops it
    doc = cli.json("advise", "-d", left_dsn, "--sql", STATEMENT, "--no-write", "--whatif", "heuristic")
    assert [item["index"] for item in doc["earlier_leftovers"]] == [f"public.{name}"]
    assert [d["index"] for d in cli.json("advise", "-d", left_dsn, "--cleanup")["dropped"]] == [f"public.{name}"]
    assert q(pg_cluster, "SELECT count(*) FROM pg_indexes WHERE tablename = 't2' AND indexname LIKE 'qprof%'") == "0"


@pytest.mark.postgres
def test_whatif_build_killed_mid_build_leaves_nothing(cli, pg_cluster, left_dsn):
    held = writer(pg_cluster)  # the rolled-back transaction's CREATE INDEX waits for its SHARE lock
    proc = spawn("advise", "-d", left_dsn, "--sql", STATEMENT, "--whatif", "build", "--no-write", "--lock-timeout", "30s")
    try:
        wait_for(
            lambda: (
                q(
                    pg_cluster,
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%CREATE INDEX%qprof_%whatif%' "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                )
                == "1"
            ),
            what="the what-if build",
        )
        proc.kill()
        proc.wait(30)
    finally:
        held.rollback()
        held.close()
    wait_for(
        lambda: q(pg_cluster, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%CREATE INDEX%qprof_%whatif%' AND pid <> pg_backend_pid()") == "0",
        what="the killed session to end",
    )
    assert qprof_indexes(pg_cluster) == []
    assert cli.json("advise", "-d", left_dsn, "--sql", STATEMENT, "--no-write")["earlier_leftovers"] == []


# -- SQLite ---------------------------------------------------------------------------------------
SLOW = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) SELECT count(*) FROM n, orders WHERE orders.id = 1"


def test_sqlite_scratch_folder_of_a_killed_run_is_removed_by_the_next_run(sample_sqlite, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    proc = spawn("advise", "-d", sample_sqlite, "--sql", SLOW, "--no-write", "--statement-timeout", "10min", env=env)
    try:
        scratch = wait_for(lambda: list(tmp.glob(f"qprof-run-{proc.pid}-*/advise-*/scratch.sqlite")), what="the scratch copy")
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    (run_dir,) = {path.parents[1] for path in scratch}
    assert run_dir.exists()  # SIGKILL: nothing could run
    other = spawn("advise", "-d", sample_sqlite, "--sql", "SELECT id FROM orders WHERE customer_id = 3", "--no-write", env=env)
    _out, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    assert not run_dir.exists()
    assert list(tmp.iterdir()) == []  # the second run's own folder went at its exit


def test_a_live_runs_scratch_folder_is_left_alone(tmp_path, monkeypatch):
    import tempfile

    from qprof.advise import runs

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f"qprof-run-{sleeper.pid}-0123abcd"
        live.mkdir()
        (live / "owner").write_text(f"{sleeper.pid} {runs.start_time(sleeper.pid)}\n")
        reused = tmp_path / f"qprof-run-{sleeper.pid}-89abcdef"  # same pid, another process start: gone
        reused.mkdir()
        (reused / "owner").write_text(f"{sleeper.pid} 1\n")
        assert runs.remove_stale_run_dirs() == [reused]
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert runs.remove_stale_run_dirs() == [live]


def test_sqlite_verify_leftover_is_reported_and_cleaned(cli, sample_sqlite, tmp_path, monkeypatch):
    import shutil
    import sqlite3
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    db = tmp_path / "app.sqlite"
    shutil.copy(sample_sqlite, db)
    # what a --verify killed outright leaves: an index under another run's build name, that run gone
    name = marked("0badc0de", 1, "orders", "orders_customer_id_idx")
    with sqlite3.connect(db) as conn:
        conn.execute(f'CREATE INDEX "{name}" ON orders (customer_id)')
        conn.execute('CREATE INDEX "qprof_0badc0de_2_mine" ON orders (customer_id, id)')  # a person's: no mark
    result = cli("indexes", "-d", db)
    assert f'DROP INDEX IF EXISTS "{name}";' in result.stderr and "qprof_0badc0de_2_mine" not in result.stderr
    doc = cli.json("advise", "-d", db, "--sql", "SELECT id FROM orders WHERE customer_id = 3", "--no-write")
    assert doc["earlier_leftovers"][0]["index"] == name
    cleaned = cli.json("advise", "-d", db, "--cleanup")
    assert [d["index"] for d in cleaned["dropped"]] == [name]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'qprof%'").fetchall() == [("qprof_0badc0de_2_mine",)]
        conn.execute('DROP INDEX "qprof_0badc0de_2_mine"')
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'qprof%'").fetchone()[0] == 0
    assert Path(db).exists()


# -- review fixes: only qprof's verified marks are leftovers; each kept name is one pair -----------
def oid_of(pg_cluster, table: str) -> int:
    return int(q(pg_cluster, f"SELECT '{table}'::regclass::oid"))


@pytest.mark.postgres
def test_a_dbas_index_named_or_commented_like_qprofs_is_never_reported_nor_dropped(cli, pg_cluster, left_dsn):
    pg_cluster.psql(
        "CREATE TABLE IF NOT EXISTS other (id int PRIMARY KEY, k int NOT NULL);"
        "INSERT INTO other SELECT i, i % 300 FROM generate_series(1, 20000) i ON CONFLICT DO NOTHING;"
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS j int; ANALYZE;",
        dbname="advleft",
    )
    fake_mark = marked("cafebabe", 1, 12345, "t_k_idx")  # a well-formed mark, but for another table
    pg_cluster.psql(
        "CREATE INDEX qprof_deadbeef_1_mine ON t (j, k);"
        "CREATE INDEX qprof_cafebabe_2_0123abcd_mine ON t (k, j);"
        f'CREATE INDEX "{fake_mark}" ON t (j);'
        "CREATE INDEX qprof_cafebabe_3_kept ON t (k, id);"
        "COMMENT ON INDEX qprof_cafebabe_3_kept IS 'qprof build run=cafebabe pid=1 host=h at=2026-01-01T00:00:00Z "
        "mark=00000000 (my own index, do not drop)'",
        dbname="advleft",
    )
    # a real leftover on the same table, its mark right, commented with another index's mark: not ours either
    real = marked("cafebabe", 4, oid_of(pg_cluster, "t"), "t_k_idx")
    pg_cluster.psql(
        f'CREATE INDEX "{real}" ON t (k); COMMENT ON INDEX "{real}" IS '
        "'qprof build run=cafebabe pid=1 host=h at=2026-01-01T00:00:00Z mark=00000000 (advise --verify)'",
        dbname="advleft",
    )
    mine = ["qprof_cafebabe_2_0123abcd_mine", "qprof_cafebabe_3_kept", "qprof_deadbeef_1_mine", fake_mark, real]
    try:
        assert "qprof advise --cleanup" not in cli("indexes", "-d", left_dsn).stderr
        cleaned = cli.json("advise", "-d", left_dsn, "--cleanup")
        assert cleaned["dropped"] == [] and cleaned["failed"] == []
        # --verify on another table measures without touching them
        result = cli("advise", "-d", left_dsn, "--sql", "SELECT id FROM other WHERE k = 3", "--verify", "--runs", "1", "--no-write", "--format", "json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["earlier_leftovers"] == [] and "dropped" not in result.stderr
        assert sorted(qprof_indexes(pg_cluster)) == sorted(mine)
    finally:
        pg_cluster.psql("".join(f'DROP INDEX IF EXISTS "{name}";' for name in mine), dbname="advleft")


@pytest.mark.postgres
def test_cleanup_keeps_schema_and_name_apart_and_messages_stay_on_one_line(cli, pg_cluster, left_dsn):
    pg_cluster.psql(
        'CREATE SCHEMA IF NOT EXISTS "s.dot"; CREATE TABLE IF NOT EXISTS "s.dot".u (k int);'
        'CREATE SCHEMA IF NOT EXISTS "a\nb"; CREATE TABLE IF NOT EXISTS "a\nb".v (k int);',
        dbname="advleft",
    )
    dotted = marked("12345678", 1, oid_of(pg_cluster, '"s.dot".u'), "u_k_idx")
    newline = marked(
        "12345678",
        2,
        int(q(pg_cluster, "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = E'a\\nb' AND c.relname = 'v'")),
        "v_k_idx",
    )
    pg_cluster.psql(f'CREATE INDEX "{dotted}" ON "s.dot".u (k); CREATE INDEX "{newline}" ON "a\nb".v (k);', dbname="advleft")
    result = cli("indexes", "-d", left_dsn)
    lines = [line for line in result.stderr.splitlines() if "qprof advise --cleanup" in line]
    assert len(lines) == 2 and any("a\\nb" in line for line in lines), result.stderr
    cleaned = cli.json("advise", "-d", left_dsn, "--cleanup")
    assert sorted(d["name"] for d in cleaned["dropped"]) == sorted([dotted, newline]) and cleaned["failed"] == []
    assert q(pg_cluster, "SELECT count(*) FROM pg_class WHERE relname LIKE 'qprof%'") == "0"


@pytest.mark.postgres
def test_a_run_that_comes_back_before_the_drop_is_left_alone(pg_cluster, left_dsn):
    from qprof.advise import leftovers
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    name = marked("0abcdef1", 1, oid_of(pg_cluster, "t"), "t_k_idx")
    pg_cluster.psql(f'CREATE INDEX "{name}" ON t (k)', dbname="advleft")
    other = pg_cluster.connect("advleft")
    try:

        def comes_back(done, remaining):  # between listing and dropping, its run takes its lock again
            other.execute("SELECT pg_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, 0x0ABCDEF1))

        target = open_target(parse_target(left_dsn, "--db"), statement_timeout=30)
        try:
            dropped, failed, live = leftovers.cleanup_leftovers(target, lock_timeout=5, on_progress=comes_back)
        finally:
            target.close()
        assert dropped == [] and failed == [] and live == [f"public.{name}"]
        assert qprof_indexes(pg_cluster) == [name]
    finally:
        other.close()
        pg_cluster.psql(f'DROP INDEX "{name}"', dbname="advleft")


@pytest.mark.postgres
def test_cleanup_by_a_role_that_may_not_drop_says_who_can_without_retrying(cli, pg_cluster, left_dsn):
    pg_cluster.psql("DO $$BEGIN CREATE ROLE lefty LOGIN PASSWORD 'lefty-pw'; EXCEPTION WHEN duplicate_object THEN NULL; END$$;", dbname="advleft")
    name = marked("0badf00d", 1, oid_of(pg_cluster, "t"), "t_k_idx")
    pg_cluster.psql(f'CREATE INDEX "{name}" ON t (k)', dbname="advleft")
    try:
        started = time.monotonic()
        result = cli("advise", "-d", pg_cluster.dsn("advleft", user="lefty", password="lefty-pw"), "--cleanup")
        assert time.monotonic() - started < 20  # not the 60 s a lock wait gets
        assert result.exit_code == 1
        (line,) = [line for line in result.stderr.splitlines() if "LEFTOVER" in line]
        assert "must be owner" in line and "only the owner" in line and "the owner is role postgres" in line, result.stderr
        assert qprof_indexes(pg_cluster) == [name]
    finally:
        pg_cluster.psql(f'DROP INDEX "{name}"', dbname="advleft")


PARTITIONED = """
CREATE TABLE IF NOT EXISTS p (id int, k int NOT NULL) PARTITION BY RANGE (id);
CREATE TABLE IF NOT EXISTS p1 PARTITION OF p FOR VALUES FROM (0) TO (50000);
CREATE TABLE IF NOT EXISTS p2 PARTITION OF p FOR VALUES FROM (50000) TO (100000);
INSERT INTO p SELECT i, i % 3000 FROM generate_series(0, 99999) i;
ANALYZE p;
"""


@pytest.mark.postgres
def test_apply_on_a_partitioned_table_keeps_all_or_nothing(cli, pg_cluster, left_dsn):
    pg_cluster.psql(PARTITIONED, dbname="advleft")
    blocker = pg_cluster.connect("advleft")
    blocker.autocommit = False
    blocker.execute("CREATE SEQUENCE public.p2_k_idx")  # uncommitted: the rename of p2's index waits, then fails
    try:
        result = cli("advise", "-d", left_dsn, "--sql", "SELECT id FROM p WHERE k = 3", "--apply", "--no-write", "--format", "json", "--lock-timeout", "1s")
    finally:
        blocker.rollback()
        blocker.close()
    assert result.exit_code == 1, result.stderr
    (entry,) = json.loads(result.stdout)["applied"]
    assert entry["created"] is False and "renaming" in entry["error"]
    # nothing renamed, nothing kept, nothing left: parent and partitions alike
    assert q(pg_cluster, "SELECT string_agg(relname, ',') FROM pg_class WHERE relkind IN ('i', 'I') AND relname ~ '^(p_|p1_|p2_|qprof)'") == ""
    # without the blocker it is kept, every level under its final name and final comment
    doc = cli.json("advise", "-d", left_dsn, "--sql", "SELECT id FROM p WHERE k = 3", "--apply", "--no-write")
    assert doc["applied"][0]["created"] is True
    rows = q(
        pg_cluster,
        "SELECT relname || '=' || obj_description(oid, 'pg_class') FROM pg_class WHERE relkind IN ('i', 'I') AND relname ~ '^(p_|p1_|p2_)' ORDER BY 1",
    ).splitlines()
    assert [row.split("=")[0] for row in rows] == ["p1_k_idx", "p2_k_idx", "p_k_idx"]
    assert all("created by qprof advise --apply" in row for row in rows)
    pg_cluster.psql("DROP TABLE p", dbname="advleft")


@pytest.mark.postgres
def test_sigkill_while_the_apply_rename_waits_leaves_a_marked_leftover(cli, pg_cluster, left_dsn):
    blocker = pg_cluster.connect("advleft")
    blocker.autocommit = False
    blocker.execute("CREATE SEQUENCE public.t_k_idx")
    proc = spawn("advise", "-d", left_dsn, "--sql", STATEMENT, "--apply", "--no-write", "--lock-timeout", "60s")
    try:
        wait_for(
            lambda: (
                q(
                    pg_cluster,
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%ALTER INDEX%RENAME%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                )
                == "1"
            ),
            what="the rename to wait",
        )
        proc.kill()
        proc.wait(30)
    finally:
        blocker.rollback()
        blocker.close()
    wait_for(lambda: builds_gone(pg_cluster), what="the killed run's server session to end")
    (name,) = qprof_indexes(pg_cluster)  # under its build name and mark: a leftover, not a half-kept index
    assert q(pg_cluster, "SELECT count(*) FROM pg_class WHERE relname = 't_k_idx'") == "0"
    assert_reported_then_cleaned(cli, pg_cluster, left_dsn, name)


@pytest.mark.postgres
def test_read_session_terminated_during_verify_is_one_line_and_builds_are_dropped(pg_cluster, left_dsn):
    held = writer(pg_cluster)
    proc = verify_process(left_dsn)
    try:
        wait_for(lambda: qprof_indexes(pg_cluster), what="the build to start")
        # the read session: the one of this run that holds no run lock
        pg_cluster.psql(
            "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a WHERE a.datname = 'advleft' "
            "AND a.pid <> pg_backend_pid() AND a.application_name LIKE 'qprof%' AND NOT EXISTS (SELECT 1 FROM "
            f"pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.classid = {RUN_LOCK_CLASS})",
            dbname="advleft",
        )
        held.rollback()
        _, err = proc.communicate(timeout=120)
    finally:
        held.close()
    assert proc.returncode == 1, err
    assert "internal error" not in err and "Traceback" not in err
    assert "lost the connection to the database" in err, err
    wait_for(lambda: builds_gone(pg_cluster), what="the build session to end")
    assert qprof_indexes(pg_cluster) == []


def test_sqlite_run_alive_under_another_tmpdir_keeps_its_index(cli, sample_sqlite, tmp_path, monkeypatch):
    import shutil
    import sqlite3
    import tempfile

    ta, tb = tmp_path / "ta", tmp_path / "tb"
    ta.mkdir()
    tb.mkdir()
    db = tmp_path / "app.sqlite"
    shutil.copy(sample_sqlite, db)
    # a live run under TMPDIR=ta that has started building (its run folder and marker exist)
    live = subprocess.Popen(
        [sys.executable, "-c", ("from qprof.advise import runs; runs.run_dir(); print(runs.current_run().id, flush=True); import time; time.sleep(60)")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(ta)},
    )
    try:
        run_id = live.stdout.readline().strip()
        name = marked(run_id, 1, "orders", "orders_customer_id_idx")
        with sqlite3.connect(db) as conn:
            conn.execute(f'CREATE INDEX "{name}" ON orders (customer_id)')
        monkeypatch.setattr(tempfile, "tempdir", str(tb))  # the cleanup runs under TMPDIR=tb
        cleaned = cli.json("advise", "-d", db, "--cleanup")
        assert cleaned["dropped"] == [] and cleaned["in_use"] == [name]
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0] == 1
    finally:
        live.kill()
        live.wait()
    # once it is gone, the same cleanup drops it
    assert [d["index"] for d in cli.json("advise", "-d", db, "--cleanup")["dropped"]] == [name]


@pytest.mark.postgres
def test_a_qprof_partition_index_left_attached_to_a_kept_index_is_reported_and_renamed(cli, pg_cluster, left_dsn):
    # what an --apply killed half-way through its renames (before they were one transaction) left
    pg_cluster.psql(
        "CREATE TABLE pq (id int, k int) PARTITION BY RANGE (id);"
        "CREATE TABLE pq1 PARTITION OF pq FOR VALUES FROM (0) TO (100);"
        "CREATE INDEX pq_k_idx ON ONLY pq (k);",
        dbname="advleft",
    )
    name = marked("5eed5eed", 2, oid_of(pg_cluster, "pq1"), "pq1_k_idx")
    pg_cluster.psql(f'CREATE INDEX "{name}" ON pq1 (k); ALTER INDEX pq_k_idx ATTACH PARTITION "{name}";', dbname="advleft")
    try:
        rename = f'ALTER INDEX "public"."{name}" RENAME TO "pq1_k_idx";'
        result = cli("indexes", "-d", left_dsn)
        assert rename in result.stderr and "attached to public.pq_k_idx" in result.stderr, result.stderr
        cleaned = cli.json("advise", "-d", left_dsn, "--cleanup")
        assert [d["name"] for d in cleaned["dropped"]] == [name]
        assert (
            q(pg_cluster, "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relname ~ '^(pq|qprof)' AND relkind IN ('i', 'I')")
            == "pq1_k_idx,pq_k_idx"
        )
    finally:
        pg_cluster.psql("DROP TABLE pq", dbname="advleft")


@pytest.mark.postgres
def test_server_restart_mid_build_cleanup_reconnects_and_drops_it():
    from pgcluster import PgCluster

    with PgCluster() as cluster:  # its own: the restart must not touch the other tests' sessions
        dsn = cluster.create_database("restart", extensions=())
        cluster.psql(SCHEMA, dbname="restart")
        held = cluster.connect("restart")
        held.autocommit = False
        held.execute("INSERT INTO t VALUES (1000001, 1, 'w')")
        proc = verify_process(dsn)

        def building() -> bool:
            return cluster.psql("SELECT count(*) FROM pg_class WHERE relname LIKE 'qprof%'", dbname="restart").strip() == "1"

        wait_for(building, what="the build to start")
        cluster.restart()  # ends every session: the build's, the reader's, the writer's
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        assert "internal error" not in err and "Traceback" not in err
        assert "LEFTOVER" not in err, err  # the cleanup reconnected once the server was back
        assert cluster.psql("SELECT count(*) FROM pg_class WHERE relname LIKE 'qprof%'", dbname="restart").strip() == "0"


@pytest.mark.postgres
def test_interrupted_cleanup_lists_what_remains(cli, pg_cluster, left_dsn):
    names = [marked("0ddba11f", n, oid_of(pg_cluster, "t"), f"t_k{n}_idx") for n in (1, 2)]
    pg_cluster.psql("".join(f'CREATE INDEX "{name}" ON t (k);' for name in names), dbname="advleft")
    held = writer(pg_cluster)  # DROP INDEX CONCURRENTLY waits for this transaction
    proc = spawn("advise", "-d", left_dsn, "--cleanup", "--lock-timeout", "30s")
    try:
        wait_for(
            lambda: q(pg_cluster, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%DROP INDEX CONCURRENTLY%' AND pid <> pg_backend_pid()") == "1",
            what="the drop to wait",
        )
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        held.rollback()
        held.close()
    assert proc.returncode == 130, err
    remaining = [line for line in err.splitlines() if line.startswith("warning: interrupted: still there")]
    assert len(remaining) == 2 and all(any(name in line for line in remaining) for name in names), err
    assert sorted(d["name"] for d in cli.json("advise", "-d", left_dsn, "--cleanup")["dropped"]) == sorted(names)
