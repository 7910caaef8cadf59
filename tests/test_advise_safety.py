"""qprof advise: the safety of --verify/--apply (never destroy what qprof did not build, clean up
after failures and interrupts), safe migration files, and the review fixes around them.

Every test that writes uses a database of its own (real PostgreSQL, via the session cluster).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time

import pytest

PARTS = """
CREATE TABLE ev (id int NOT NULL, kind int NOT NULL, at date NOT NULL, note text) PARTITION BY RANGE (at);
CREATE TABLE ev_a PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
CREATE TABLE ev_b PARTITION OF ev FOR VALUES FROM ('2024-07-01') TO ('2025-01-01') PARTITION BY RANGE (at);
CREATE TABLE ev_b1 PARTITION OF ev_b FOR VALUES FROM ('2024-07-01') TO ('2024-10-01');
CREATE TABLE ev_b2 PARTITION OF ev_b FOR VALUES FROM ('2024-10-01') TO ('2025-01-01');
INSERT INTO ev SELECT i, i % 2000, date '2024-01-01' + (i % 360), 'n' FROM generate_series(1, 60000) AS i;
-- the user's own index on one partition, exactly the shape qprof will propose for the parent
CREATE INDEX users_ev_a_kind ON ev_a (kind);
CREATE TABLE ev2 (id int NOT NULL, kind int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE ev2_a PARTITION OF ev2 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO ev2 SELECT i, i % 2000, date '2024-01-01' + (i % 360) FROM generate_series(1, 60000) AS i;
CREATE TABLE t (id int PRIMARY KEY, k int NOT NULL, note text);
INSERT INTO t SELECT i, i % 3000, 'x' FROM generate_series(1, 60000) AS i;
CREATE TABLE u (id int PRIMARY KEY, k int NOT NULL);
INSERT INTO u SELECT i, i % 3000 FROM generate_series(1, 60000) AS i;
ANALYZE;
"""


@pytest.fixture(scope="module")
def safe_dsn(pg_cluster) -> str:
    dsn = pg_cluster.create_database("advsafe", extensions=("pg_stat_statements", "hypopg"))
    pg_cluster.psql(PARTS, dbname="advsafe")
    return dsn


def q(pg_cluster, sql: str, db: str = "advsafe") -> str:
    return pg_cluster.psql(sql, dbname=db).strip()


def indexes_of(pg_cluster, table_like: str, db: str = "advsafe") -> set[str]:
    out = q(pg_cluster, f"SELECT indexname FROM pg_indexes WHERE tablename LIKE '{table_like}'", db)
    return set(out.split())


def run_json(cli, *args: str) -> tuple[int, dict, str]:
    result = cli(*args, "--format", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr


# -- 1 + 5a: partitioned tables -----------------------------------------------------------------
@pytest.mark.postgres
def test_verify_and_apply_on_a_partitioned_table_never_touch_a_users_partition_index(cli, pg_cluster, safe_dsn, tmp_path):
    sql = "SELECT id FROM ev WHERE kind = 7"
    before = indexes_of(pg_cluster, "ev%")
    assert "users_ev_a_kind" in before
    code, doc, err = run_json(cli, "advise", "-d", safe_dsn, "--sql", sql, "--verify", "--runs", "1", "--out", tmp_path / "v")
    assert code == 0, err
    (rec,) = doc["recommendations"]
    assert rec["table"] == "public.ev" and rec["partitioned"] is True
    assert rec["ddl"].startswith("CREATE INDEX IF NOT EXISTS") and "CONCURRENTLY" not in rec["ddl"] + rec["drop_ddl"]
    assert rec["statements"][0]["ms_after"] is not None and rec["size_bytes"] > 0
    # measured and dropped again — and the user's partition index is still there
    assert indexes_of(pg_cluster, "ev%") == before
    text = next((tmp_path / "v").glob("*.sql")).read_text()
    assert "cannot build (or drop) an index on a partitioned table CONCURRENTLY" in text
    assert "ATTACHES any existing matching index" in text

    code, doc, err = run_json(cli, "advise", "-d", safe_dsn, "--sql", sql, "--apply", "--no-write")
    assert code == 0, err
    (entry,) = doc["applied"]
    assert entry["created"] and entry["valid"] and "ON ONLY" in entry["how"]
    name = entry["index"]
    assert q(pg_cluster, f"SELECT indisvalid FROM pg_index WHERE indexrelid = '{name}'::regclass") == "t"
    # not attached to qprof's index: dropping that one (the down step) leaves the user's alone
    assert q(pg_cluster, "SELECT count(*) FROM pg_inherits WHERE inhrelid = 'users_ev_a_kind'::regclass") == "0"
    attached = q(pg_cluster, f"SELECT count(*) FROM pg_partition_tree('{name}'::regclass) WHERE isleaf")
    assert attached == "3"  # ev_a, ev_b1, ev_b2 each got qprof's own index
    pg_cluster.psql(rec["drop_ddl"], dbname="advsafe")
    assert indexes_of(pg_cluster, "ev%") == before


@pytest.mark.postgres
def test_partitioned_ddl_runs_and_drop_unused_skips_attached_partition_indexes(cli, pg_cluster, safe_dsn, tmp_path):
    doc = cli.json("advise", "-d", safe_dsn, "--sql", "SELECT id FROM ev2 WHERE kind = 7", "--no-write")
    (rec,) = doc["recommendations"]
    # PostgreSQL rejects CONCURRENTLY on a partitioned table: the migration's DDL must run as written
    pg_cluster.psql(rec["ddl"], dbname="advsafe")
    try:
        children = set(
            q(pg_cluster, f"SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '{rec['name']}'::regclass").split()
        )
        assert children
        doc = cli.json("advise", "-d", safe_dsn, "--sql", "SELECT id FROM t WHERE k = 1", "--drop-unused", "--out", tmp_path)
        dropped = {d["name"]: d for d in doc["drops"]}
        assert not children & set(dropped)  # an attached partition index cannot be dropped on its own
        parent = dropped.get(rec["name"])
        if parent is not None:  # the parent's index, unused: dropped and recreated plainly
            assert parent["ddl"].startswith("DROP INDEX IF EXISTS")
            assert "CONCURRENTLY" not in parent["drop_ddl"] and " ONLY " not in parent["drop_ddl"]
            pg_cluster.psql(parent["ddl"], dbname="advsafe")
            pg_cluster.psql(parent["drop_ddl"], dbname="advsafe")
    finally:
        pg_cluster.psql(rec["drop_ddl"], dbname="advsafe")


# -- 2: cleanup that waits for another session's lock --------------------------------------------
def _locker(pg_cluster, db: str, lock_sql: str):
    conn = pg_cluster.connect(db)
    conn.autocommit = False
    conn.execute(lock_sql)
    return conn


@pytest.mark.postgres
def test_cleanup_retries_a_blocked_drop_and_reports_what_it_could_not_drop(pg_cluster, safe_dsn):
    from qprof.advise.advisor import advise, recommendations
    from qprof.advise.builds import Owned, build_owned, drop_owned, writable_connection
    from qprof.advise.workload_source import from_sql_texts
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    with open_target(parse_target(safe_dsn)) as target:
        (rec,) = recommendations(advise(target, from_sql_texts(["SELECT id FROM u WHERE k = 3"])), "postgresql")
        with writable_connection(target, lock_timeout=0.2) as conn:
            owned = Owned()
            build_owned(conn, rec, "postgresql", owned)
            locker = _locker(pg_cluster, "advsafe", "LOCK TABLE u IN SHARE UPDATE EXCLUSIVE MODE")
            try:
                left = drop_owned(conn, owned, "postgresql", seconds=1.0)
                built = owned.index[1]
                assert built.startswith("qprof_") and built.endswith(rec.name)  # qprof's build name, then renamed when kept
                assert [item.index for item in left] == [f"public.{built}"]
                assert left[0].drop == f'DROP INDEX CONCURRENTLY IF EXISTS "public"."{built}";'
                assert "lock timeout" in left[0].reason
                assert built in indexes_of(pg_cluster, "u")
                # released while cleanup is still retrying: the retry drops it
                threading.Timer(1.0, locker.rollback).start()
                assert drop_owned(conn, owned, "postgresql", seconds=30.0) == []
            finally:
                locker.close()
    assert not any(name.startswith("qprof_") for name in indexes_of(pg_cluster, "u"))


@pytest.mark.postgres
def test_verify_reports_an_index_it_cannot_drop_with_the_exact_command(pg_cluster, safe_dsn):
    from qprof.advise.advisor import advise, recommendations
    from qprof.advise.verify import verify
    from qprof.advise.workload_source import from_sql_texts
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    lockers = []

    def progress(message: str) -> None:  # the index is built: now another session holds a lock on u
        if message.startswith("timing") and " with " in message and not lockers:
            lockers.append(_locker(pg_cluster, "advsafe", "LOCK TABLE u IN SHARE UPDATE EXCLUSIVE MODE"))

    leftovers: list = []
    try:
        with open_target(parse_target(safe_dsn)) as target:
            advice = advise(target, from_sql_texts(["SELECT id FROM u WHERE k = 3"]))
            (rec,) = recommendations(advice, "postgresql")
            notes = verify(target, [rec], advice.by_key, runs=1, lock_timeout=0.2, on_progress=progress, leftovers=leftovers, cleanup_seconds=1.0)
        (item,) = leftovers
        built = item.index.split(".", 1)[1]
        assert built.startswith("qprof_") and built.endswith(rec.name)
        assert any(f'DROP INDEX CONCURRENTLY IF EXISTS "public"."{built}"' in n for n in notes)
    finally:
        for locker in lockers:
            locker.close()
        for name in indexes_of(pg_cluster, "u"):
            if name.startswith("qprof_"):
                pg_cluster.psql(f'DROP INDEX IF EXISTS "{name}"', dbname="advsafe")


# -- 3: interrupted apply, INVALID leftovers of earlier runs ------------------------------------
@pytest.mark.postgres
def test_sigterm_during_apply_drops_the_half_built_index(pg_cluster, safe_dsn):
    from qprof.advise.advisor import advise, recommendations
    from qprof.advise.apply import apply_recommendations
    from qprof.advise.workload_source import from_sql_texts
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    with open_target(parse_target(safe_dsn)) as target:
        (rec,) = recommendations(advise(target, from_sql_texts(["SELECT id FROM t WHERE k = 3"])), "postgresql")
    # An open writer makes CREATE INDEX CONCURRENTLY wait after it has created the (INVALID) index.
    writer = _locker(pg_cluster, "advsafe", "INSERT INTO t VALUES (1000001, 1, 'w')")
    watcher = pg_cluster.connect("advsafe")
    state: dict = {}

    def interrupt() -> None:
        for _ in range(300):
            if watcher.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 't' AND indexname LIKE 'qprof%%'").fetchone()[0]:
                state["seen"] = True
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.5)
                writer.rollback()  # so the cleanup's DROP … CONCURRENTLY can finish
                return
            time.sleep(0.05)
        writer.rollback()

    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        with open_target(parse_target(safe_dsn)) as target, pytest.raises(KeyboardInterrupt):
            apply_recommendations(target, [rec], lock_timeout=30.0)
    finally:
        thread.join()
        writer.close()
        watcher.close()
    assert state.get("seen")
    assert not any(name.startswith("qprof_") or name == rec.name for name in indexes_of(pg_cluster, "t"))


@pytest.mark.postgres
def test_invalid_index_of_an_earlier_run_is_reported(cli, pg_cluster, safe_dsn):
    # A failed concurrent build leaves an INVALID index under qprof's default name.
    with pytest.raises(RuntimeError, match="could not create unique index"):
        pg_cluster.psql("CREATE UNIQUE INDEX CONCURRENTLY t_k_idx ON t (k)", dbname="advsafe")
    try:
        assert q(pg_cluster, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_k_idx'::regclass") == "f"
        doc = cli.json("advise", "-d", safe_dsn, "--sql", "SELECT id FROM t WHERE k = 9", "--no-write")
        assert any("INVALID index public.t_k_idx" in n and 'DROP INDEX CONCURRENTLY IF EXISTS "public"."t_k_idx"' in n for n in doc["notes"])
    finally:
        pg_cluster.psql("DROP INDEX IF EXISTS t_k_idx", dbname="advsafe")


# -- 4: headers cannot inject SQL or break Python ---------------------------------------------
@pytest.mark.postgres
def test_a_newline_in_a_table_name_cannot_escape_the_header_comment(cli, pg_cluster, tmp_path):
    dsn = pg_cluster.create_database("advevil", extensions=("hypopg",))
    pg_cluster.psql(
        'CREATE TABLE canary (x int); CREATE TABLE "evil\nDROP TABLE canary; --" (id int, k int);'
        'INSERT INTO "evil\nDROP TABLE canary; --" SELECT i, i % 3000 FROM generate_series(1, 50000) i; ANALYZE;',
        dbname="advevil",
    )
    out = tmp_path / "m"
    cli.json("advise", "-d", dsn, "--sql", 'SELECT id FROM "evil\nDROP TABLE canary; --" WHERE k = 5', "--out", out)
    (path,) = out.glob("*.sql")
    text = path.read_text()
    assert "evil\\nDROP TABLE canary" in text
    for line in text.splitlines():  # the DDL names the table as U&"evil\000aDROP …": one line
        assert not line or line.startswith(("--", "CREATE INDEX", "DROP INDEX"))
    up = text.split("-- migrate:down")[0]
    pg_cluster.psql(up, dbname="advevil")
    assert q(pg_cluster, "SELECT to_regclass('canary') IS NOT NULL", "advevil") == "t"


@pytest.mark.postgres
@pytest.mark.parametrize("fmt", ["alembic", "django"])
def test_python_migrations_compile_with_quotes_and_backslashes_in_the_statement(cli, safe_dsn, tmp_path, fmt):
    sql = "SELECT id FROM t WHERE k = 5 AND note <> 'a\\b\"\"\"c\\' AND note <> 'x\ry\u2028z'"
    out = tmp_path / fmt
    cli.json("advise", "-d", safe_dsn, "--sql", sql, "-m", fmt, "--out", out)
    (path,) = out.glob("*.py")
    text = path.read_text()
    compile(text, str(path), "exec")
    assert 'a\\b"""c' in text  # the evidence is still there, in a comment


def test_header_lines_escape_every_line_break():
    from qprof.advise.generator import clean_line

    assert clean_line("a\nb\rc\x0bd\x85e\u2028f\tg") == "a\\nb\\rc\\x0bd\\x85e\\u2028f\\tg"
    assert clean_line('ok "quoted" \\ é') == 'ok "quoted" \\ é'


# -- 6: unquoted identifiers fold to lower case ----------------------------------------------
@pytest.mark.postgres
def test_unquoted_upper_case_names_fold_like_postgresql(cli, app_dsn):
    doc = cli.json("advise", "-d", app_dsn, "--sql", "SELECT * FROM ORDERS WHERE Customer_ID = 1", "--no-write")
    assert [(r["table"], r["columns"]) for r in doc["recommendations"]] == [("public.orders", ["customer_id"])]
    doc = cli.json("advise", "-d", app_dsn, "--sql", "SELECT O.Id FROM Orders O WHERE o.CUSTOMER_ID = 1", "--no-write")
    assert [(r["table"], r["columns"]) for r in doc["recommendations"]] == [("public.orders", ["customer_id"])]
    doc = cli.json("advise", "-d", app_dsn, "--sql", 'SELECT * FROM orders WHERE "Customer_ID" = 1', "--no-write")
    assert doc["recommendations"] == []  # a quoted name keeps its case: no such column


# -- 7: builds have no statement_timeout; failures exit 1 ----------------------------------------
@pytest.mark.postgres
def test_the_writable_session_drops_statement_timeout_and_keeps_lock_timeout(safe_dsn):
    from qprof.advise.builds import writable_connection
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    with open_target(parse_target(safe_dsn), statement_timeout=30.0) as target:
        with writable_connection(target, lock_timeout=0.0001) as conn:
            assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"
            assert conn.execute("SHOW lock_timeout").fetchone()[0] == "1ms"
        with writable_connection(target, lock_timeout=2, build_timeout=600) as conn:
            assert conn.execute("SHOW statement_timeout").fetchone()[0] == "10min"


@pytest.mark.postgres
def test_a_failed_apply_exits_1_and_says_which(cli, pg_cluster, safe_dsn):
    locker = _locker(pg_cluster, "advsafe", "LOCK TABLE u IN SHARE UPDATE EXCLUSIVE MODE")
    try:
        code, doc, err = run_json(cli, "advise", "-d", safe_dsn, "--sql", "SELECT id FROM u WHERE k = 4", "--apply", "--no-write", "--lock-timeout", "200ms")
    finally:
        locker.close()
    assert code == 1, err
    (entry,) = doc["applied"]
    assert not entry["created"] and "lock timeout" in entry["error"]
    assert doc["failed"] == [entry["index"]] and doc["leftovers"] == []
    assert entry["index"] not in indexes_of(pg_cluster, "u")


@pytest.mark.postgres
@pytest.mark.parametrize("value", ["0", "0ms", "0s"])
def test_lock_timeout_must_be_positive(cli, safe_dsn, value):
    result = cli("advise", "-d", safe_dsn, "--sql", "SELECT 1", "--lock-timeout", value, "--no-write")
    assert result.exit_code == 2 and "--lock-timeout must be greater than 0" in result.stderr


# -- 8a: --whatif build skips a candidate it cannot lock ------------------------------------------
@pytest.mark.postgres
def test_whatif_build_skips_a_locked_table_and_goes_on(cli, pg_cluster, safe_dsn):
    locker = _locker(pg_cluster, "advsafe", "LOCK TABLE u IN SHARE UPDATE EXCLUSIVE MODE")
    try:
        code, doc, err = run_json(
            cli,
            "advise",
            "-d",
            safe_dsn,
            "--sql",
            "SELECT id FROM u WHERE k = 4",
            "--sql",
            "SELECT id FROM t WHERE k = 4",
            "--whatif",
            "build",
            "--no-write",
            "--lock-timeout",
            "200ms",
        )
    finally:
        locker.close()
    assert code == 0, err
    assert [r["table"] for r in doc["recommendations"]] == ["public.t"]
    assert any(n.startswith("candidate public.u") and "lock_timeout" in n for n in doc["notes"])


# -- 9, 10: SQLite paths, scratch copies, interrupts ---------------------------------------------
def _shop() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1] / "queries" / "shop.sql")


def test_sqlite_path_with_hash_and_percent_is_opened_as_named(cli, sample_sqlite, tmp_path):
    folder = tmp_path / "a b%20c"
    folder.mkdir()
    db = folder / "app#1.sqlite"
    shutil.copy(sample_sqlite, db)
    doc = cli.json("advise", "-d", db, "--workload", _shop(), "--no-write")
    assert any(r["table"] == "main.orders" for r in doc["recommendations"])
    assert sorted(p.name for p in folder.iterdir()) == ["app#1.sqlite"]  # no stray "app" file


def test_sqlite_scratch_dir_is_removed_when_the_copy_fails(tmp_path, monkeypatch):
    import tempfile

    from qprof.advise.catalog import Catalog
    from qprof.advise.whatif import SqliteWhatIf
    from qprof.errors import QprofError

    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    bogus = tmp_path / "not-a-db.sqlite"
    bogus.write_bytes(b"this is not a database file, just text " * 100)
    with pytest.raises(QprofError):
        SqliteWhatIf(bogus, Catalog("sqlite", {}, ["main"], []))
    # only this run's (pid-named) folder stays until exit, with nothing but its owner note in it
    (run_dir,) = scratch_root.iterdir()
    assert run_dir.name.startswith(f"qprof-run-{os.getpid()}-")
    assert [p.name for p in run_dir.iterdir()] == ["owner"]


def _slow_whatif(sample_sqlite, timeout: float):
    from qprof.advise.advisor import analyze_statements
    from qprof.advise.catalog import load_catalog
    from qprof.advise.whatif import SqliteWhatIf
    from qprof.advise.workload_source import from_sql_texts
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) SELECT count(*) FROM n, orders WHERE orders.id = 1"
    with open_target(parse_target(str(sample_sqlite))) as target:
        catalog = load_catalog(target)
    (statement,) = analyze_statements(catalog, from_sql_texts([slow]), [])
    return SqliteWhatIf(sample_sqlite, catalog, runs=1, statement_timeout=timeout), statement


def test_sqlite_measuring_tells_a_timeout_from_ctrl_c(sample_sqlite):
    from qprof.errors import StatementFailed

    whatif, statement = _slow_whatif(sample_sqlite, 0.3)
    try:
        with pytest.raises(StatementFailed, match="statement timeout"):
            whatif.cost(statement, ())
    finally:
        whatif.close()
    whatif, statement = _slow_whatif(sample_sqlite, 60.0)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        with pytest.raises(KeyboardInterrupt):
            timer.start()
            whatif.cost(statement, ())
            time.sleep(5)  # not reached when the interrupt is re-raised
    finally:
        timer.cancel()
        whatif.close()
    assert not whatif._dir.exists()


# -- 11: small things ----------------------------------------------------------------------------
def test_sqlite_verify_names_the_right_size_source(cli, sample_sqlite, tmp_path):
    db = tmp_path / "app.sqlite"
    shutil.copy(sample_sqlite, db)
    doc = cli.json("advise", "-d", db, "--sql", "SELECT id FROM orders WHERE customer_id = 3", "--verify", "--runs", "1", "--out", tmp_path / "m")
    (rec,) = doc["recommendations"]
    assert rec["size_source"] == "dbstat (built)"
    text = next((tmp_path / "m").glob("*.sql")).read_text()
    assert "dbmate-style migration" in text and "Do NOT run the whole" in text


@pytest.mark.postgres
def test_apply_statements_are_tagged_for_pg_stat_statements(cli, pg_cluster, safe_dsn):
    # only this database's entries: other tests rely on the statistics of theirs
    here = "dbid = (SELECT oid FROM pg_database WHERE datname = 'advsafe')"
    q(pg_cluster, "SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database WHERE datname = 'advsafe'")
    code, doc, err = run_json(cli, "advise", "-d", safe_dsn, "--sql", "SELECT id FROM u WHERE k = 4", "--apply", "--no-write")
    assert code == 0, err
    try:
        ours = f"{here} AND (query ILIKE '%CREATE INDEX%' OR query ILIKE '%SET %' OR query ILIKE '%advisory%')"
        assert q(pg_cluster, f"SELECT count(*) FROM pg_stat_statements WHERE {ours} AND query LIKE '/* qprof */ CREATE INDEX%'") == "1"
        assert q(pg_cluster, f"SELECT count(*) FROM pg_stat_statements WHERE {ours} AND query NOT LIKE '/* qprof */%'") == "0"
    finally:
        pg_cluster.psql(f"DROP INDEX IF EXISTS {doc['applied'][0]['index']}", dbname="advsafe")


# -- dbmate-style files: a catalog name cannot add a line (issue 9 §4) -----------------------------
EVIL = "c\n-- migrate:down\nDROP TABLE victim; --"


def dbmate_split(text: str) -> tuple[str, str]:
    """Up and down parts as dbmate cuts them: at the marker lines, wherever they are (it does not
    parse SQL; Go regexps (?m)^--\\s*migrate:up / :down)."""
    import re

    up = re.search(r"(?m)^--\s*migrate:up(.*)$", text)
    down = re.search(r"(?m)^--\s*migrate:down(.*)$", text)
    assert up and down and up.start() < down.start()
    assert len(re.findall(r"(?m)^--\s*migrate:(?:up|down)", text)) == 2, text
    return text[up.end() : down.start()], text[down.end() :]


@pytest.mark.postgres
def test_a_column_named_like_a_dbmate_marker_cannot_put_a_drop_table_in_the_down_part(cli, pg_cluster, tmp_path):
    dsn = pg_cluster.create_database("advdbmate", extensions=("hypopg",))
    col = '"' + EVIL.replace('"', '""') + '"'
    pg_cluster.psql(
        f"CREATE TABLE victim (x int); INSERT INTO victim VALUES (1);"
        f"CREATE TABLE w (id int, {col} int, other int);"
        f"INSERT INTO w SELECT i, i % 3000, i % 7 FROM generate_series(1, 50000) i;"
        f"CREATE INDEX w_unused ON w (other, {col}); ANALYZE;",
        dbname="advdbmate",
    )
    out = tmp_path / "m"
    doc = cli.json("advise", "-d", dsn, "--sql", f"SELECT id FROM w WHERE {col} = 5", "--drop-unused", "--out", out)
    assert [r["columns"] for r in doc["recommendations"]] == [[EVIL]]
    files = sorted(out.rglob("*.sql"))
    assert len(files) == 2  # the new index, and the drop of the unused one (recreated by its down part)
    for path in files:
        text = path.read_text()
        up, down = dbmate_split(text)
        for part in (up, down):  # every statement is a whole line of its own: the name stays inside its quotes
            assert all(line.startswith(("CREATE INDEX", "DROP INDEX")) for line in part.splitlines() if line.strip()), part
        for line in text.splitlines():
            assert not line or line.startswith(("--", "CREATE ", "DROP INDEX")), line
        # run both parts as dbmate would: the index goes and comes back, the victim stays
        pg_cluster.psql(up, dbname="advdbmate")
        pg_cluster.psql(down, dbname="advdbmate")
        assert q(pg_cluster, "SELECT count(*) FROM victim", "advdbmate") == "1"
    # the columns are the real ones (U&"…" escapes name exactly that column)
    assert q(pg_cluster, "SELECT count(*) FROM pg_indexes WHERE tablename = 'w' AND indexname = 'w_unused'", "advdbmate") == "1"
    pg_cluster.psql(dbmate_split(next(p for p in files if "add_" in p.name).read_text())[0], dbname="advdbmate")
    defs = q(pg_cluster, "SELECT indexdef FROM pg_indexes WHERE tablename = 'w' ORDER BY indexname", "advdbmate")
    assert defs.count("migrate:down") == 2  # both indexes are on the evil column itself


def test_sqlite_cannot_escape_a_line_break_so_the_sql_file_is_refused(cli, sample_sqlite, tmp_path):
    import sqlite3

    db = tmp_path / "evil.sqlite"
    col = '"' + EVIL.replace('"', '""') + '"'
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE victim (x int)")
        conn.execute(f"CREATE TABLE w (id INTEGER PRIMARY KEY, {col} int)")
        conn.executemany("INSERT INTO w VALUES (?, ?)", [(i, i % 3000) for i in range(1, 30001)])
    statement = f"SELECT id FROM w WHERE {col} = 5"
    result = cli("advise", "-d", db, "--sql", statement, "--out", tmp_path / "sql", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [r["columns"] for r in doc["recommendations"]] == [[EVIL]] and doc["files"] == []
    assert "cannot carry safely" in result.stderr and "alembic" in result.stderr
    assert not list((tmp_path / "sql").glob("*.sql"))
    # a Python migration holds the statement as a string literal: written, and it compiles
    doc = cli.json("advise", "-d", db, "--sql", statement, "--out", tmp_path / "py", "-m", "alembic")
    (path,) = (tmp_path / "py").glob("*.py")
    compile(path.read_text(), str(path), "exec")
    assert doc["files"] == [str(path)]
