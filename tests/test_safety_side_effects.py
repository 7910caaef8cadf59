"""Read-only means no side effect: statements whose functions act outside qprof's rolled-back
transaction are never executed by explain, bench, top --workload or check --workload.

Each side-effect function runs through every executing command against the real cluster; the
tables (checksums), sequences, sessions, replication slots, server files, large objects,
statistics resets, configuration load time and WAL segment are compared before and after.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pgcluster import PgCluster

from qprof.conninfo import parse_target
from qprof.safety import execution_verdict
from qprof.targets import open_target

DB = "side_effects"
SEQUENCE_VALUE = 20128


@pytest.fixture(scope="module")
def side_dsn(pg_cluster: PgCluster) -> str:
    dsn = pg_cluster.create_database(DB, extensions=("pg_stat_statements", "dblink", "adminpack", "postgres_fdw"))
    pg_cluster.psql(
        f"""
        CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw
          OPTIONS (host '{pg_cluster.host}', port '{pg_cluster.port}', dbname '{DB}');
        CREATE USER MAPPING FOR postgres SERVER loopback OPTIONS (user 'postgres');
        CREATE TABLE t (id serial PRIMARY KEY, v int NOT NULL);
        INSERT INTO t (v) SELECT g FROM generate_series(1, 200) g;
        SELECT setval('t_id_seq', {SEQUENCE_VALUE});
        CREATE TABLE t2 (id int PRIMARY KEY, note text);
        INSERT INTO t2 SELECT g, 'row ' || g FROM generate_series(1, 100) g;
        CREATE FOREIGN TABLE remote_t2 (id int, note text) SERVER loopback OPTIONS (table_name 't2');
        CREATE TABLE logged (id int GENERATED ALWAYS AS IDENTITY, note text);
        CREATE FUNCTION bump() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1';
        CREATE VIEW killer AS SELECT pg_terminate_backend(0) AS k;
        CREATE VIEW bumped AS SELECT id, bump() AS b FROM t2;
        CREATE TABLE parted (id int, v int) PARTITION BY RANGE (id);
        CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (100);
        CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
        CREATE TRIGGER audit_low BEFORE INSERT ON parted_low FOR EACH ROW EXECUTE FUNCTION audit_row();
        CREATE FUNCTION t2_rows() RETURNS bigint LANGUAGE plpgsql STABLE AS
          'BEGIN RETURN (SELECT count(*) FROM t2 WHERE note <> ''nested-marker''); END';
        """,
        dbname=DB,
    )
    return dsn


@pytest.fixture
def victim(pg_cluster: PgCluster) -> Iterator[tuple[psycopg.Connection, int]]:
    """An application session that a pg_terminate_backend/pg_cancel_backend would hit."""
    conn = psycopg.connect(pg_cluster.dsn(DB), autocommit=True, application_name="victim")
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    try:
        yield conn, pid
    finally:
        conn.close()


def side_effect_statements(pg_cluster: PgCluster, victim_pid: int) -> dict[str, str]:
    other = f"host={pg_cluster.host} port={pg_cluster.port} dbname={DB} user=postgres"
    return {
        "terminate": f"SELECT pg_terminate_backend({victim_pid})",
        "cancel": f"SELECT pg_cancel_backend({victim_pid})",
        "terminate_in_view": "SELECT * FROM killer",
        "pss_reset": "SELECT pg_stat_statements_reset()",
        "stat_reset": "SELECT pg_stat_reset()",
        "slot": "SELECT pg_create_physical_replication_slot('qprof_test_slot')",
        "lo_export": "SELECT lo_export(lo_import('/etc/hostname'), 'qprof_lo_export.txt')",
        "file_write": "SELECT pg_file_write('qprof_file_write.txt', 'x', false)",
        "reload": "SELECT pg_reload_conf()",
        "switch_wal": "SELECT pg_switch_wal()",
        "advisory_lock": "SELECT pg_advisory_lock(4242)",
        "dblink": f"SELECT public.dblink_exec('{other}', 'DELETE FROM t2 WHERE id > 90')",
        "postgres_fdw": "DELETE FROM remote_t2 WHERE id > 95",
        "setval": "UPDATE t SET v = v WHERE setval('t_id_seq', 1) > 0",
        "nextval": "SELECT nextval('t_id_seq')",
        "serial_default": "INSERT INTO t (v) VALUES (1)",
        "identity": "INSERT INTO logged (note) VALUES ('x')",
        "session_setting": "SELECT set_config('work_mem', '1GB', false)",
        "user_volatile_in_view": "SELECT * FROM bumped",
    }


def server_state(pg_cluster: PgCluster) -> dict[str, object]:
    """Everything a side effect above would change, read as superuser."""
    with pg_cluster.connect(DB) as conn:

        def one(query: str) -> object:
            return conn.execute(query).fetchone()[0]

        tables = [r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 1")]
        return {
            "tables": {t: one(f"SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM {t} x") for t in tables},
            "sequences": conn.execute("SELECT sequencename, last_value FROM pg_sequences ORDER BY 1").fetchall(),
            "sessions": conn.execute(
                "SELECT pid, application_name FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid() AND application_name <> 'qprof' ORDER BY 1"
            ).fetchall(),
            "slots": conn.execute("SELECT slot_name FROM pg_replication_slots ORDER BY 1").fetchall(),
            "files": sorted(r[0] for r in conn.execute("SELECT pg_ls_dir('.')")),
            "large_objects": one("SELECT count(*) FROM pg_largeobject_metadata"),
            "pss_reset_at": one("SELECT stats_reset FROM pg_stat_statements_info"),
            "db_stats_reset_at": one("SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"),
            "conf_loaded_at": one("SELECT pg_conf_load_time()"),
            "wal_segment": one("SELECT pg_walfile_name(pg_current_wal_lsn())"),
        }


def write_workload(path: Path, statements: dict[str, str]) -> Path:
    path.write_text("".join(f"-- name: {name}\n{sql};\n" for name, sql in statements.items()), encoding="utf-8")
    return path


def test_no_command_executes_a_side_effect(cli, pg_cluster: PgCluster, side_dsn: str, victim, tmp_path: Path) -> None:
    conn, pid = victim
    statements = side_effect_statements(pg_cluster, pid)
    workload = write_workload(tmp_path / "effects.sql", {**statements, "fine": "SELECT count(*) FROM t"})
    before = server_state(pg_cluster)
    assert ("victim",) in [(app,) for _, app in before["sessions"]]

    for name, sql in statements.items():
        result = cli("explain", "-d", side_dsn, "--sql", sql, "--runs", "2", "--format", "json")
        assert result.exit_code == 0, (name, result.stderr)
        done = json.loads(result.stdout)["statements"][0]
        assert not done["plan"]["analyzed"] and done["timing"] is None, name
        assert done["not_executed"]["reasons"], name

    bench = cli.json("bench", str(workload), "-d", side_dsn, "--runs", "2")
    assert [s["name"] for s in bench["statements"]] == ["fine"]
    assert {s["statement"] for s in bench["skipped"]} == set(statements)
    assert all("not executed" in s["reason"] for s in bench["skipped"])

    top = cli.json("top", "-d", side_dsn, "--workload", str(workload), "--runs", "2")
    assert [s["name"] for s in top["statements"]] == ["fine"] and {s["statement"] for s in top["skipped"]} == set(statements)

    # a parameter value is not sampled from a view whose definition would run
    inferred = cli.json("explain", "-d", side_dsn, "--sql", "SELECT * FROM killer WHERE k = $1")["statements"][0]
    assert inferred["generic_plan"] and not inferred["plan"]["analyzed"]

    check = cli.json("check", "-d", side_dsn, "--workload", str(workload), "--select", "QP1")
    assert {s["statement"] for s in check["not_executed"]} == set(statements)

    after = server_state(pg_cluster)
    assert after == before
    assert conn.execute("SELECT 1").fetchone() == (1,)  # the victim lives


def test_reasons_name_the_function_its_route_and_the_flag(cli, side_dsn: str, victim) -> None:
    result = cli("explain", "-d", side_dsn, "--sql", "UPDATE t SET v = v WHERE setval('t_id_seq', 1) > 0")
    assert result.exit_code == 0
    assert "not executed, plain EXPLAIN only: pg_catalog.setval (volatile, owner postgres): moves a sequence" in result.stdout
    assert "--allow-function setval" in result.stdout
    with open_target(parse_target(side_dsn)) as target:
        view = execution_verdict(target, "SELECT * FROM killer")
        assert not view.allowed and "pg_terminate_backend" in view.message() and "via view killer" in view.message()
        serial = execution_verdict(target, "INSERT INTO t (v) VALUES (1)")
        assert "nextval" in serial.message() and "default of t.id" in serial.message()
        identity = execution_verdict(target, "INSERT INTO logged (note) VALUES ('x')")
        assert "identity column logged.id" in identity.message()
        partition = execution_verdict(target, "INSERT INTO parted VALUES (1, 1)")
        assert "public.audit_row" in partition.message() and "via trigger audit_low on parted_low" in partition.message()
        assert execution_verdict(target, "SELECT count(*) FROM parted").allowed
        remote = execution_verdict(target, "SELECT count(*) FROM remote_t2")
        assert "postgres_fdw_handler" in remote.message() and "via foreign table remote_t2" in remote.message()
        assert not execution_verdict(target, "SELECT no_such_function(1)").allowed
        assert not execution_verdict(target, "SELECT pg_catalog.set_config('work_mem', '1GB', false)").allowed
        for harmless in (
            "SELECT random(), now(), clock_timestamp(), gen_random_uuid(), count(*) FROM t WHERE id BETWEEN 1 AND 5",
            "SELECT set_config('work_mem', '1GB', true)",
            "SELECT pg_advisory_xact_lock(1)",
            "UPDATE t SET v = v + 1 WHERE id = $1",
            "DELETE FROM t2 WHERE note LIKE 'row 9%'",
            "WITH d AS (DELETE FROM t2 WHERE id = 1 RETURNING id) SELECT count(*) FROM d",
            "SELECT t2_rows()",
            "SELECT l.mode, count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) GROUP BY 1",
            "SELECT sequencename, last_value FROM pg_sequences",
        ):
            verdict = execution_verdict(target, harmless)
            assert verdict.allowed, (harmless, verdict.reasons)


def test_allow_function_lets_one_through(cli, pg_cluster: PgCluster, side_dsn: str, tmp_path: Path) -> None:
    statement = "UPDATE t SET v = v WHERE setval('t_id_seq', 1) > 0"
    try:
        doc = cli.json("explain", "-d", side_dsn, "--sql", statement, "--allow-function", "setval")
        assert doc["statements"][0]["plan"]["analyzed"] and doc["statements"][0]["not_executed"] is None
        # the user allowed it, and a sequence is outside the rollback: it moved
        assert pg_cluster.psql("SELECT last_value FROM t_id_seq", dbname=DB).strip() == "1"
        bench = cli.json(
            "bench",
            "-d",
            side_dsn,
            "--runs",
            "2",
            "--allow-function",
            "public.bump",
            str(write_workload(tmp_path / "allow.sql", {"bumped": "SELECT * FROM bumped"})),
        )
        assert [s["name"] for s in bench["statements"]] == ["bumped"] and bench["skipped"] == []
    finally:
        pg_cluster.psql(f"SELECT setval('t_id_seq', {SEQUENCE_VALUE})", dbname=DB)


def test_measured_runs_never_show_in_pg_stat_statements(cli, pg_cluster: PgCluster, side_dsn: str, tmp_path: Path) -> None:
    """bench, explain --runs and EXPLAIN ANALYZE, and (track = all) what runs nested inside them."""
    marker = "qprof-own-marker"
    workload = write_workload(tmp_path / "own.sql", {"own": f"SELECT count(*) FROM t2 WHERE note <> '{marker}'"})
    cli.json("bench", str(workload), "-d", side_dsn, "--runs", "3")
    cli.json("explain", "-d", side_dsn, "--sql", "SELECT t2_rows()", "--runs", "2")
    cli.json("top", "-d", side_dsn, "--workload", str(workload), "--runs", "2")
    assert pg_cluster.psql("SHOW pg_stat_statements.track").strip() == "all"
    seen = pg_cluster.psql(
        f"SELECT count(*) FROM pg_stat_statements WHERE (query LIKE '%{marker}%' OR query LIKE '%nested-marker%' "
        "OR query LIKE '%t2_rows()%') AND query NOT LIKE '%CREATE FUNCTION%'",  # the fixture's own DDL
        dbname=DB,
    )
    assert seen.strip() == "0"
    top = cli.json("top", "-d", side_dsn, "--limit", "500")
    assert not [s for s in top["statements"] if (marker in s["query"] or "t2_rows" in s["query"]) and "CREATE" not in s["query"]]


def test_sqlite_functions_that_reach_outside_are_not_executed(cli, tmp_path: Path) -> None:
    import hashlib
    import sqlite3

    path = tmp_path / "side.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INT)")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [(i,) for i in range(100)])
        conn.execute("CREATE TABLE audit (n INT)")
        conn.execute("CREATE TRIGGER tr AFTER DELETE ON t BEGIN SELECT load_extension('nope'); END")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    workload = write_workload(
        tmp_path / "side.sql",
        {
            "load_extension": "SELECT load_extension('/tmp/nope')",
            "writefile": "SELECT writefile('/tmp/qprof-sqlite-out', 'x')",
            "trigger": "DELETE FROM t WHERE id < 5",
            "fine": "SELECT count(*), random(), abs(-1) FROM t",
        },
    )
    bench = cli.json("bench", str(workload), "-d", str(path), "--runs", "2")
    assert [s["name"] for s in bench["statements"]] == ["fine"]
    reasons = {s["statement"]: s["reason"] for s in bench["skipped"]}
    assert "load_extension(): loads a shared library" in reasons["load_extension"]
    assert "writefile(): not a SQLite built-in" in reasons["writefile"]
    assert "unsafe use of load_extension()" in reasons["trigger"]  # SQLite's own guard (trusted_schema), kept
    explained = cli.json("explain", "-d", str(path), "--sql", "SELECT load_extension('/tmp/nope')")
    assert explained["statements"][0]["not_executed"]["blocking"] == ["load_extension"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert not Path("/tmp/qprof-sqlite-out").exists()


def test_tracking_is_silenced_only_where_the_role_may(pg_cluster: PgCluster, side_dsn: str) -> None:
    """A monitoring role granted SET on pg_stat_statements.track (PostgreSQL 15+) keeps its
    measured runs out of the statistics; without the grant qprof still runs, tagged only."""
    pg_cluster.psql(
        "CREATE ROLE monitor LOGIN PASSWORD 'monitor-pw'; GRANT SELECT ON t2 TO monitor;GRANT SET ON PARAMETER pg_stat_statements.track TO monitor;",
        dbname=DB,
    )
    dsn = pg_cluster.dsn(DB, user="monitor", password="monitor-pw")
    with open_target(parse_target(dsn)) as target:
        assert target.can_silence_tracking()
        target.execute_timed("SELECT count(*) FROM t2 WHERE note <> 'granted-marker'", [], modifying=False)
    pg_cluster.psql("REVOKE SET ON PARAMETER pg_stat_statements.track FROM monitor;", dbname=DB)
    with open_target(parse_target(dsn)) as target:
        assert not target.can_silence_tracking()
        target.execute_timed("SELECT count(*) FROM t2 WHERE note <> 'revoked-marker'", [], modifying=False)
    seen = pg_cluster.psql(
        "SELECT s.calls, s.query FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
        "WHERE r.rolname = 'monitor' AND s.query LIKE '%FROM t2 WHERE note <> $1'",
        dbname=DB,
    )
    # one call: the granted run was not recorded; the other was, tagged (top leaves it out)
    assert seen.strip() == "1|/* qprof */ SELECT count(*) FROM t2 WHERE note <> $1"


# --- routes a hostile DBA found: a canary function commits a row over dblink ----------------

ROUTES_DB = "side_routes"


@pytest.fixture(scope="module")
def routes_dsn(pg_cluster: PgCluster) -> Iterator[str]:
    """A database where each route below reaches ``canary()``, which commits a row to ``canary``
    over its own dblink connection — a side effect no rollback undoes."""
    dsn = pg_cluster.create_database(ROUTES_DB, extensions=("pg_stat_statements", "dblink", "postgres_fdw"))
    other = f"host={pg_cluster.host} port={pg_cluster.port} dbname={ROUTES_DB} user=postgres"
    pg_cluster.psql(
        f"""
        CREATE TABLE canary (note text);
        CREATE FUNCTION canary(note text) RETURNS boolean LANGUAGE sql VOLATILE AS $f$
          SELECT public.dblink_exec('{other}', 'INSERT INTO canary VALUES (' || quote_literal(note) || ')') IS NOT NULL $f$;
        CREATE FUNCTION canary_int(i int) RETURNS int LANGUAGE sql VOLATILE AS $f$ SELECT CASE WHEN public.canary('int') THEN i END $f$;
        CREATE TABLE t (id int PRIMARY KEY, v int, note text);
        INSERT INTO t SELECT g, g, 'row ' || g FROM generate_series(1, 20) g;
        -- 1. aggregates: pg_proc says immutable, the transition function is not
        CREATE FUNCTION canary_step(s int, v int) RETURNS int LANGUAGE sql VOLATILE AS
          $f$ SELECT CASE WHEN public.canary('aggregate') THEN coalesce(s, 0) + 1 END $f$;
        CREATE AGGREGATE canary_count(int) (SFUNC = canary_step, STYPE = int);
        -- 3. a foreign partition and a foreign inheritance child whose remote side is a view calling canary
        CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw
          OPTIONS (host '{pg_cluster.host}', port '{pg_cluster.port}', dbname '{ROUTES_DB}');
        CREATE USER MAPPING FOR postgres SERVER loopback OPTIONS (user 'postgres');
        CREATE VIEW remote_v AS SELECT 1 AS id, canary('foreign') AS c;
        CREATE TABLE pp (id int, c boolean) PARTITION BY LIST (id);
        CREATE TABLE pp_local PARTITION OF pp FOR VALUES IN (2);
        CREATE FOREIGN TABLE pp_remote PARTITION OF pp FOR VALUES IN (1) SERVER loopback OPTIONS (table_name 'remote_v');
        CREATE TABLE inh (id int, c boolean);
        CREATE FOREIGN TABLE inh_remote () INHERITS (inh) SERVER loopback OPTIONS (table_name 'remote_v');
        -- 4. a sequence behind a domain's default, and behind ON DELETE SET DEFAULT
        CREATE SEQUENCE ds;
        CREATE DOMAIN seqd AS int DEFAULT nextval('ds');
        CREATE TABLE dt (id seqd, v int);
        CREATE SEQUENCE fs;
        CREATE TABLE fparent (id int PRIMARY KEY);
        INSERT INTO fparent SELECT generate_series(1, 1000);
        CREATE TABLE fchild (pid int DEFAULT nextval('fs') REFERENCES fparent ON DELETE SET DEFAULT);
        INSERT INTO fchild VALUES (1000);
        -- 5. cascades, two levels deep, to a trigger
        CREATE FUNCTION canary_trigger() RETURNS trigger LANGUAGE plpgsql AS
          $f$ BEGIN PERFORM public.canary('cascade'); RETURN OLD; END $f$;
        CREATE TABLE cparent (id int PRIMARY KEY);
        CREATE TABLE cmid (id int PRIMARY KEY, pid int REFERENCES cparent ON DELETE CASCADE);
        CREATE TABLE cleaf (mid int REFERENCES cmid ON DELETE CASCADE);
        CREATE TRIGGER cleaf_gone AFTER DELETE ON cleaf FOR EACH ROW EXECUTE FUNCTION canary_trigger();
        INSERT INTO cparent VALUES (1); INSERT INTO cmid VALUES (1, 1); INSERT INTO cleaf VALUES (1);
        -- 6. a trigger whose function is declared stable, and whose WHEN clause is not
        CREATE FUNCTION keep_row() RETURNS trigger LANGUAGE plpgsql STABLE AS $f$ BEGIN RETURN NEW; END $f$;
        CREATE TABLE wt (id int, v int);
        INSERT INTO wt VALUES (1, 1);
        CREATE TRIGGER wt_when BEFORE UPDATE ON wt FOR EACH ROW WHEN (canary('when')) EXECUTE FUNCTION keep_row();
        -- 7. operators nobody names: int = text (IN, ANY, CASE, USING, NATURAL) …
        CREATE FUNCTION evil_eq(int, text) RETURNS boolean LANGUAGE sql VOLATILE AS $f$ SELECT public.canary('operator') $f$;
        CREATE OPERATOR = (LEFTARG = int, RIGHTARG = text, FUNCTION = evil_eq);
        CREATE TABLE ta (m int, x int);
        CREATE TABLE tb (m text, y int);
        INSERT INTO ta VALUES (1, 1); INSERT INTO tb VALUES ('1', 1);
        CREATE TYPE tag AS (s text);
        CREATE FUNCTION tag_eq(tag, tag) RETURNS boolean LANGUAGE sql VOLATILE AS $f$ SELECT public.canary('using') $f$;
        CREATE OPERATOR = (LEFTARG = tag, RIGHTARG = tag, FUNCTION = tag_eq);
        CREATE TABLE tu (m tag, x int);
        CREATE TABLE tv (m tag, y int);
        INSERT INTO tu VALUES (ROW('a'), 1); INSERT INTO tv VALUES (ROW('a'), 1);
        -- … and a user type whose default btree operator class (schema off the search path) sorts with canary
        CREATE TYPE pair AS (a int, b int);
        CREATE SCHEMA evilops;
        CREATE FUNCTION evilops.pair_cmp(pair, pair) RETURNS int LANGUAGE sql VOLATILE AS
          $f$ SELECT CASE WHEN public.canary('sort') THEN btrecordcmp($1, $2) END $f$;
        CREATE FUNCTION evilops.pair_lt(pair, pair) RETURNS boolean LANGUAGE sql IMMUTABLE AS $f$ SELECT $1::record < $2::record $f$;
        CREATE FUNCTION evilops.pair_le(pair, pair) RETURNS boolean LANGUAGE sql IMMUTABLE AS $f$ SELECT $1::record <= $2::record $f$;
        CREATE FUNCTION evilops.pair_eq(pair, pair) RETURNS boolean LANGUAGE sql IMMUTABLE AS $f$ SELECT $1::record = $2::record $f$;
        CREATE FUNCTION evilops.pair_ge(pair, pair) RETURNS boolean LANGUAGE sql IMMUTABLE AS $f$ SELECT $1::record >= $2::record $f$;
        CREATE FUNCTION evilops.pair_gt(pair, pair) RETURNS boolean LANGUAGE sql IMMUTABLE AS $f$ SELECT $1::record > $2::record $f$;
        CREATE OPERATOR evilops.< (LEFTARG = pair, RIGHTARG = pair, FUNCTION = evilops.pair_lt);
        CREATE OPERATOR evilops.<= (LEFTARG = pair, RIGHTARG = pair, FUNCTION = evilops.pair_le);
        CREATE OPERATOR evilops.= (LEFTARG = pair, RIGHTARG = pair, FUNCTION = evilops.pair_eq);
        CREATE OPERATOR evilops.>= (LEFTARG = pair, RIGHTARG = pair, FUNCTION = evilops.pair_ge);
        CREATE OPERATOR evilops.> (LEFTARG = pair, RIGHTARG = pair, FUNCTION = evilops.pair_gt);
        CREATE OPERATOR CLASS evilops.pair_ops DEFAULT FOR TYPE pair USING btree AS
          OPERATOR 1 evilops.<, OPERATOR 2 evilops.<=, OPERATOR 3 evilops.=, OPERATOR 4 evilops.>=,
          OPERATOR 5 evilops.>, FUNCTION 1 evilops.pair_cmp(pair, pair);
        CREATE TABLE tp (p pair);
        INSERT INTO tp VALUES (ROW(1, 2)), (ROW(2, 1));
        -- 8. attribute notation
        CREATE TABLE at (id int);
        INSERT INTO at VALUES (1);
        CREATE FUNCTION evil_attr(at) RETURNS boolean LANGUAGE sql VOLATILE AS $f$ SELECT public.canary('attribute') $f$;
        -- 9. a domain CHECK and a cast someone created
        CREATE DOMAIN posint AS int CHECK (canary_int(VALUE) > 0);
        CREATE FUNCTION evil_cast(int) RETURNS date LANGUAGE sql VOLATILE AS
          $f$ SELECT CASE WHEN public.canary('cast') THEN date '2000-01-01' + $1 END $f$;
        CREATE CAST (int AS date) WITH FUNCTION evil_cast(int);
        -- 11. a user function named like a built-in
        CREATE SCHEMA hs;
        CREATE FUNCTION hs.nextval() RETURNS bigint LANGUAGE sql VOLATILE AS $f$ SELECT CASE WHEN public.canary('hs') THEN 1 END $f$;
        """,
        dbname=ROUTES_DB,
    )
    yield dsn
    # the shared cluster's pg_stat_statements is read by later tests (top --all-databases
    # --limit 1000): leave no entries of this database behind
    pg_cluster.psql("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)", dbname=ROUTES_DB)


ROUTES = {
    "aggregate": "SELECT canary_count(v) FROM t",
    "query_to_xml": "SELECT query_to_xml('SELECT canary(''xml'')', true, false, '')",
    "table_to_xml": "SELECT table_to_xml('remote_v', true, false, '')",
    "ts_stat": "SELECT * FROM ts_stat('SELECT to_tsvector(canary(''ts'')::text)')",
    "ts_rewrite": "SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery FROM canary(''tsrw'')')",
    "txid_current": "SELECT txid_current()",
    "foreign_partition": "SELECT * FROM pp",
    "foreign_child": "SELECT * FROM inh",
    "domain_default": "INSERT INTO dt (v) VALUES (1)",
    "fk_set_default": "DELETE FROM fparent WHERE id = 1000",
    "fk_cascade": "DELETE FROM cparent WHERE id = 1",
    "trigger_when": "UPDATE wt SET v = 2",
    "in_subquery": "SELECT * FROM ta WHERE m IN (SELECT m FROM tb)",
    "any_subquery": "SELECT * FROM ta WHERE m = ANY (SELECT m FROM tb)",
    "case_when": "SELECT CASE m WHEN 'x'::text THEN 1 END FROM ta",
    "join_using": "SELECT * FROM tu JOIN tv USING (m)",
    "natural_join": "SELECT * FROM tu NATURAL JOIN tv",
    "order_by_user_type": "SELECT * FROM tp ORDER BY p",
    "group_by_user_type": "SELECT p, count(*) FROM tp GROUP BY p",
    "distinct_user_type": "SELECT DISTINCT p FROM tp",
    "attribute_notation": "SELECT a.evil_attr FROM at a",
    "domain_check": "SELECT 5::posint",
    "user_cast": "SELECT 5::date",
    "shadowed_nextval": "SELECT hs.nextval()",
}


def routes_state(pg_cluster: PgCluster) -> dict[str, object]:
    with pg_cluster.connect(ROUTES_DB) as conn:
        return {
            "canary": conn.execute("SELECT note, count(*) FROM canary GROUP BY 1 ORDER BY 1").fetchall(),
            "sequences": conn.execute("SELECT sequencename, last_value FROM pg_sequences ORDER BY 1").fetchall(),
            "tables": {
                name: conn.execute(f"SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM {name} x").fetchone()[0]
                for name in ("t", "dt", "fparent", "fchild", "cparent", "cmid", "cleaf", "wt")
            },
        }


def test_every_route_really_has_a_side_effect(pg_cluster: PgCluster, routes_dsn: str) -> None:
    """The premise: each statement, run read-only and rolled back as a naive tool would, still
    commits a canary row or moves a sequence (so the refusals below are refusals of something)."""
    moved = []
    for name, sql in ROUTES.items():
        if name == "txid_current":
            continue  # its effect (a consumed transaction id) is checked by the refusal itself
        before = routes_state(pg_cluster)
        with psycopg.connect(pg_cluster.dsn(ROUTES_DB)) as conn:
            try:
                conn.execute(sql).fetchall()
            except psycopg.Error:
                pass  # an error after the effect (ts_rewrite's bad query, a cast) still leaves it
            conn.rollback()
        if routes_state(pg_cluster) != before:
            moved.append(name)
    assert set(ROUTES) - {"txid_current"} - set(moved) == set()


def test_no_route_executes_through_any_command(cli, pg_cluster: PgCluster, routes_dsn: str, tmp_path: Path) -> None:
    before = routes_state(pg_cluster)
    for name, sql in ROUTES.items():
        done = cli.json("explain", "-d", routes_dsn, "--sql", sql, "--runs", "2")["statements"][0]
        assert not done["plan"]["analyzed"] and done["timing"] is None, name
        assert done["not_executed"]["reasons"], name
    workload = write_workload(tmp_path / "routes.sql", {**ROUTES, "fine": "SELECT count(*) FROM t"})
    bench = cli.json("bench", str(workload), "-d", routes_dsn, "--runs", "2")
    assert [s["name"] for s in bench["statements"]] == ["fine"] and {s["statement"] for s in bench["skipped"]} == set(ROUTES)
    top = cli.json("top", "-d", routes_dsn, "--workload", str(workload), "--runs", "2")
    assert {s["statement"] for s in top["skipped"]} == set(ROUTES)
    check = cli.json("check", "-d", routes_dsn, "--workload", str(workload), "--select", "QP1")
    assert {s["statement"] for s in check["not_executed"]} == set(ROUTES)
    # parameter sampling (also with --no-analyze) reads through the same gate: no TABLESAMPLE of pp or inh
    for table in ("pp", "inh"):
        sampled = cli.json("explain", "-d", routes_dsn, "--no-analyze", "--sql", f"SELECT * FROM {table} WHERE id = $1")
        assert sampled["statements"][0]["params_from"] == "generic"
    assert routes_state(pg_cluster) == before


def test_each_route_is_named_in_the_reason(routes_dsn: str) -> None:
    expected = {
        "aggregate": "public.canary_step (volatile, owner postgres) via called (aggregate canary_count)",
        "query_to_xml": "pg_catalog.query_to_xml (volatile, owner postgres): runs SQL built from its arguments",
        "table_to_xml": "pg_catalog.table_to_xml (stable, owner postgres): runs SQL built from its arguments",
        "ts_stat": "pg_catalog.ts_stat (volatile, owner postgres): runs the SQL query given as text",
        "ts_rewrite": "pg_catalog.ts_rewrite (volatile, owner postgres): runs the SQL query given as text",
        "txid_current": "pg_catalog.txid_current (stable, owner postgres): assigns a transaction id",
        "foreign_partition": "via foreign table pp_remote (read: the remote table may be a view",
        "foreign_child": "via foreign table inh_remote (read",
        "domain_default": "pg_catalog.nextval (volatile, owner postgres) via default of domain seqd",
        "fk_set_default": "pg_catalog.nextval (volatile, owner postgres) via default of fchild.pid",
        "fk_cascade": "public.canary_trigger (volatile, owner postgres) via trigger cleaf_gone on cleaf",
        "trigger_when": "public.canary (volatile, owner postgres) via WHEN of trigger wt_when on wt",
        "in_subquery": "public.evil_eq (volatile, owner postgres) via called (operator =)",
        "case_when": "public.evil_eq",
        "join_using": "public.tag_eq",
        "natural_join": "public.tag_eq",
        "order_by_user_type": "evilops.pair_cmp (volatile, owner postgres) via operator class support of pair",
        "attribute_notation": "public.evil_attr (volatile, owner postgres) via attribute notation .evil_attr",
        "domain_check": "public.canary_int (volatile, owner postgres) via check of domain posint",
        "user_cast": "public.evil_cast (volatile, owner postgres) via cast integer -> date",
        "shadowed_nextval": "hs.nextval (volatile, owner postgres)",
    }
    with open_target(parse_target(routes_dsn)) as target:
        for name, text in expected.items():
            verdict = execution_verdict(target, ROUTES[name])
            assert not verdict.allowed and text in verdict.message(), (name, verdict.reasons)
        # a catalog lookup that fails (a type name PostgreSQL rejects) refuses, with the reason
        broken = execution_verdict(target, "SELECT 1::a.b.c.d")
        assert not broken.allowed and "could not be read from the catalog" in broken.message()
        assert execution_verdict(target, "SELECT count(*) FROM t").allowed  # and the session goes on
        # TRUNCATE … CASCADE is refused outright; harmless neighbours of the routes still run
        assert not execution_verdict(target, "TRUNCATE cparent CASCADE").allowed
        for fine in (
            "SELECT count(*) FROM t",
            "SELECT sum(v), max(note) FROM t",
            "SELECT a.id FROM at a",
            "SELECT 5::bigint",
            "SELECT v > 3 FROM t",
            "SELECT txid_current_snapshot()",
        ):
            verdict = execution_verdict(target, fine)
            assert verdict.allowed, (fine, verdict.reasons)


def test_allow_function_names_exactly_one_function(routes_dsn: str) -> None:
    with open_target(parse_target(routes_dsn)) as target:
        target.allowed_functions = frozenset({"nextval"})  # the pg_catalog one, not hs.nextval
        assert not execution_verdict(target, "SELECT hs.nextval()").allowed
        assert execution_verdict(target, "SELECT nextval('ds')").allowed
        target.verdicts = {}
        target.allowed_functions = frozenset({"hs.nextval"})
        assert execution_verdict(target, "SELECT hs.nextval()").allowed
        assert not execution_verdict(target, "SELECT nextval('ds')").allowed
        target.allowed_functions = frozenset({"hs.not_there_yet"})  # unknown functions, allowed by schema.name
        assert execution_verdict(target, "SELECT hs.not_there_yet()").allowed
        target.allowed_functions = frozenset({"not_there_yet"})
        assert not execution_verdict(target, "SELECT hs.not_there_yet()").allowed


def test_demo_rebuild_never_replaces_a_device_or_fifo(cli, tmp_path: Path) -> None:
    """As root, ``qprof demo --db /dev/null --rebuild`` would have swapped the device for a file."""
    import os
    import stat

    fifo = tmp_path / "not-a-db"
    os.mkfifo(fifo)
    result = cli("demo", "--db", str(fifo), "--rebuild", "--scale", "0.01")
    assert result.exit_code == 2
    assert "exists and is not a regular file" in result.stderr and len(result.stderr.strip().splitlines()) <= 2
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["not-a-db"]  # no temporary file left behind
