"""Connecting the psql way, safely: precedence, read-only sessions, timeouts, secrets, bad targets."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from pgcluster import PgCluster

from qprof import redact
from qprof.config import load_config
from qprof.conninfo import parse_target, resolve_target
from qprof.errors import BadInput, StatementFailed
from qprof.targets import open_target


def test_parse_target_kinds(tmp_path: Path, sample_sqlite: Path) -> None:
    assert parse_target("postgresql://u@h/db").engine == "postgresql"
    assert parse_target("host=h dbname=d").engine == "postgresql"
    assert parse_target(str(sample_sqlite)).path == sample_sqlite
    assert parse_target(f"sqlite:///{sample_sqlite}").path == sample_sqlite
    with pytest.raises(BadInput, match="does not exist"):
        parse_target(str(tmp_path / "missing.sqlite"))
    # a bare word is a PostgreSQL database name, as psql's -d takes it; a path is a file
    assert (parse_target("just-words").engine, parse_target("just-words").conninfo) == ("postgresql", "dbname=just-words")
    with pytest.raises(BadInput, match="does not exist"):
        parse_target(str(tmp_path / "no-suffix"))
    with pytest.raises(BadInput, match="empty database name"):
        parse_target("  ")


def test_malformed_connection_string_is_a_clear_error(cli) -> None:
    result = cli("top", "-d", "host='unterminated dbname=x")
    assert result.exit_code == 2
    assert "invalid PostgreSQL connection string: unterminated quoted string" in result.stderr
    secret = cli("top", "-d", "host=127.0.0.1 password=se cret-part")
    assert secret.exit_code == 2 and "invalid PostgreSQL connection string" in secret.stderr
    assert "cret-part" not in secret.stderr + secret.stdout


def test_redact_never_shows_password() -> None:
    assert "s3cret" not in redact.conninfo("host=h user=u password=s3cret dbname=d")
    assert "s3cret" not in redact.conninfo("postgresql://u:s3cret@h:5432/d")
    assert "dbname=d" in redact.conninfo("postgresql://u:s3cret@h:5432/d")


def test_precedence_db_profile_env_then_libpq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_sqlite: Path) -> None:
    (tmp_path / "qprof.toml").write_text(f'[profiles.staging]\ndb = "sqlite:///{sample_sqlite}"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config()
    monkeypatch.setenv("QPROF_DB", "host=from-env dbname=x")
    assert resolve_target("host=explicit", "staging", config).conninfo == "host=explicit"
    assert resolve_target(None, "staging", config).engine == "sqlite"
    assert resolve_target(None, None, config).conninfo == "host=from-env dbname=x"
    monkeypatch.delenv("QPROF_DB")
    fallback = resolve_target(None, None, config)
    assert (fallback.engine, fallback.conninfo, fallback.source) == ("postgresql", "", "libpq defaults")
    with pytest.raises(BadInput, match="unknown profile 'prod'.*staging"):
        resolve_target(None, "prod", config)


def test_profile_from_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli, sample_sqlite: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[tool.qprof.profiles.local]\ndb = "{sample_sqlite}"\n')
    monkeypatch.chdir(tmp_path)
    doc = cli.json("tables", "--profile", "local")
    assert doc["target"] == f"sqlite {sample_sqlite}"


def test_libpq_environment_is_used_when_nothing_given(cli, app_dsn: str, pg_cluster: PgCluster) -> None:
    env = {"PGHOST": pg_cluster.host, "PGPORT": str(pg_cluster.port), "PGDATABASE": "app", "PGUSER": "postgres"}
    doc = cli.json("tables", env=env)
    assert any(t["table"] == "public.orders" for t in doc["tables"])


def test_unreachable_server_is_a_clear_error(cli) -> None:
    with PgCluster() as doomed:
        port = doomed.port
    result = cli("top", "-d", f"host=127.0.0.1 port={port} dbname=x user=u password=hunter2-secret")
    assert result.exit_code == 2
    assert "cannot connect" in result.stderr and "Traceback" not in result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout


def test_wrong_password_never_echoed(cli, pg_cluster: PgCluster, app_dsn: str) -> None:
    pg_cluster.psql("CREATE ROLE conn_tester LOGIN PASSWORD 'right-horse-battery'")
    bad = cli("tables", "-d", pg_cluster.url("app", user="conn_tester", password="wrong-staple-9"))
    assert bad.exit_code == 2 and "password authentication failed" in bad.stderr
    assert "wrong-staple-9" not in bad.stderr + bad.stdout
    good = cli("tables", "-d", pg_cluster.url("app", user="conn_tester", password="right-horse-battery"), "-f", "json")
    assert good.exit_code == 0
    assert "right-horse-battery" not in good.stdout + good.stderr


def test_postgres_session_is_read_only_with_timeouts(app_dsn: str) -> None:
    with open_target(parse_target(app_dsn), statement_timeout=0.2) as target:
        assert target.fetch_value("SHOW default_transaction_read_only") == "on"
        assert target.fetch_value("SHOW statement_timeout") == "200ms"
        assert target.fetch_value("SHOW lock_timeout") == "5s"
        assert target.fetch_value("SHOW application_name") == "qprof"
        with pytest.raises(StatementFailed, match="read-only"):
            target.fetch_all("CREATE TABLE should_not_exist (a int)")
        with pytest.raises(StatementFailed, match="statement_timeout"):
            target.fetch_all("SELECT pg_sleep(2)")
        assert target.fetch_value("SELECT 1") == 1  # the session survives a cancelled statement


def test_dml_is_timed_and_rolled_back_on_postgres(pg_cluster: PgCluster, app_dsn: str) -> None:
    checksum = "SELECT md5(string_agg(id::text || ':' || usage_count::text, ',' ORDER BY id)) FROM case_bank"
    before = pg_cluster.psql(checksum, dbname="app")
    with open_target(parse_target(app_dsn)) as target:
        timing = target.execute_timed("UPDATE case_bank SET usage_count = usage_count + $1", [1], modifying=True)
    assert timing.rows == 400
    assert pg_cluster.psql(checksum, dbname="app") == before


def _digest(path: Path) -> str:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT id, usage_count FROM case_bank ORDER BY id").fetchall()
    conn.close()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_sqlite_is_read_only_and_dml_rolled_back(tmp_path: Path, sample_sqlite: Path, cli) -> None:
    copy = tmp_path / "copy.sqlite"
    shutil.copy(sample_sqlite, copy)
    before = _digest(copy)
    workload = tmp_path / "w.sql"
    workload.write_text("-- name: bump\n-- params: [1]\nUPDATE case_bank SET usage_count = usage_count + $1;\n-- name: gone\nSELECT * FROM no_such_table;\n")
    result = cli("top", "-d", copy, "-w", workload, "--runs", "2", "-f", "json")
    assert result.exit_code == 0, result.stderr
    import json

    doc = json.loads(result.stdout)
    assert [s["name"] for s in doc["statements"]] == ["bump"]
    assert doc["statements"][0]["rows_per_call"] == 400
    assert doc["skipped"] == [{"statement": "gone", "reason": "statement: no such table: no_such_table"}]
    assert "skipped gone" in result.stderr
    assert _digest(copy) == before
    with open_target(parse_target(str(copy))) as target, pytest.raises(Exception, match="readonly|read-only"):
        target.fetch_all("DELETE FROM case_bank")


def test_corrupt_and_non_sqlite_files(cli, tmp_path: Path, sample_sqlite: Path) -> None:
    text_file = tmp_path / "notes.db"
    text_file.write_text("these are not the pages you are looking for")
    result = cli("tables", "-d", text_file)
    assert result.exit_code == 2 and "not a SQLite database" in result.stderr
    damaged = tmp_path / "damaged.sqlite"
    data = bytearray(sample_sqlite.read_bytes()[:8192])
    data[100:8192] = b"\xff" * (8192 - 100)
    damaged.write_bytes(bytes(data))
    result = cli("tables", "-d", damaged)
    assert result.exit_code == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_sqlite_statement_timeout(sample_sqlite: Path) -> None:
    slow = "SELECT count(*) FROM orders a, orders b"
    with open_target(parse_target(str(sample_sqlite)), statement_timeout=0.2) as target, pytest.raises(StatementFailed, match="statement timeout"):
        target.fetch_all(slow)


def test_zero_statement_timeout_is_refused(cli, app_dsn: str) -> None:
    result = cli("top", "-d", app_dsn, "--statement-timeout", "0")
    assert result.exit_code == 2 and "--statement-timeout must be more than 0" in result.stderr
    with open_target(parse_target(app_dsn), statement_timeout=0.0001) as target:
        assert target.fetch_value("SHOW statement_timeout") == "1ms"  # rounded up, never "no limit"


def test_statements_qprof_runs_cannot_change_the_session(app_dsn: str) -> None:
    from qprof.plans.postgres import explain_postgres

    from qprof.safety import ExecutionRefused

    escape = "SELECT set_config('default_transaction_read_only', 'off', false)"
    with open_target(parse_target(app_dsn)) as target:
        with pytest.raises(ExecutionRefused, match="changes the session beyond the rollback"):
            explain_postgres(target, escape, analyze=True)
        target.allowed_functions = frozenset({"set_config"})  # and when the user allows it: the rollback still holds
        explain_postgres(target, escape, analyze=True)
        assert target.fetch_value("SHOW default_transaction_read_only") == "on"
        target.execute_timed("SELECT set_config('statement_timeout', '0', false)", [], modifying=False)
        assert target.fetch_value("SHOW statement_timeout") == "30s"


def test_ctrl_c_during_a_sqlite_statement_is_an_interrupt_not_a_timeout(sample_sqlite: Path) -> None:
    import signal
    import threading

    slow = "SELECT count(*) FROM orders a, orders b"
    with open_target(parse_target(str(sample_sqlite)), statement_timeout=60) as target:
        timer = threading.Timer(0.3, signal.raise_signal, (signal.SIGINT,))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                target.fetch_all(slow)
        finally:
            timer.cancel()


# psql's connection flags: -h/--host, -p/--port, -U/--username, -d/--dbname (help is --help only)


def test_psql_flags_connect_like_psql(cli, pg_cluster: PgCluster, app_dsn: str) -> None:
    host, port = pg_cluster.host, str(pg_cluster.port)
    doc = cli.json("tables", "-h", host, "-p", port, "-U", pg_cluster.superuser, "-d", "app")
    assert any(t["table"] == "public.orders" for t in doc["tables"])
    assert f"host={host}" in doc["target"] and f"port={port}" in doc["target"] and "dbname=app" in doc["target"]
    long = cli.json("tables", "--host", host, "--port", port, "--username", pg_cluster.superuser, "--dbname", "app")
    assert long["tables"] == doc["tables"]
    # -d takes a URI (and --db still works)
    assert cli.json("tables", "-d", pg_cluster.url("app"))["tables"] == doc["tables"]
    assert cli.json("tables", "--db", pg_cluster.url("app"))["tables"] == doc["tables"]


def test_username_is_the_login_role(cli, pg_cluster: PgCluster, app_dsn: str) -> None:
    pg_cluster.psql("DROP ROLE IF EXISTS flag_login; CREATE ROLE flag_login LOGIN PASSWORD 'flag-pass-77'")
    flags = ("-h", pg_cluster.host, "-p", str(pg_cluster.port), "-d", "app")
    good = cli("tables", *flags, "-U", "flag_login", "-f", "json", env={"PGPASSWORD": "flag-pass-77"})
    assert good.exit_code == 0, good.stderr
    assert "user=flag_login" in json.loads(good.stdout)["target"]
    bad = cli("tables", *flags, "-U", "flag_login", env={"PGPASSWORD": "wrong-pass-88"})
    assert bad.exit_code == 2 and 'password authentication failed for user "flag_login"' in bad.stderr
    assert "wrong-pass-88" not in bad.stderr + bad.stdout


def test_a_conninfo_given_to_d_wins_over_the_flags_as_in_psql(cli, pg_cluster: PgCluster, app_dsn: str) -> None:
    # psql -h a "host=b …" connects to b: the flags only fill what the conninfo leaves out
    doc = cli.json("tables", "-h", "nowhere.invalid", "-p", "1", "-d", pg_cluster.dsn("app"))
    assert "nowhere.invalid" not in doc["target"] and doc["tables"]
    partial = cli.json("tables", "-p", str(pg_cluster.port), "-U", pg_cluster.superuser, "-d", f"host={pg_cluster.host} dbname=app")
    assert f"port={pg_cluster.port}" in partial["target"] and partial["tables"]
    # a password in the URI is used and never shown, even when the connection fails
    failed = cli("tables", "-p", str(pg_cluster.port), "-d", "postgresql://postgres:uri-secret-42@127.0.0.1:1/app")
    assert failed.exit_code == 2 and "port 1 failed" in failed.stderr
    assert "uri-secret-42" not in failed.stderr + failed.stdout


def test_flags_override_a_profile_and_qprof_db(cli, pg_cluster: PgCluster, app_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "qprof.toml").write_text(f'[profiles.stale]\ndb = "host={pg_cluster.host} port=1 user={pg_cluster.superuser} dbname=postgres"\n')
    doc = cli.json("tables", "--profile", "stale", "-p", str(pg_cluster.port), "-d", "app")
    assert f"port={pg_cluster.port}" in doc["target"] and "dbname=app" in doc["target"] and doc["tables"]
    env = {"QPROF_DB": pg_cluster.dsn("postgres")}
    assert "dbname=app" in cli.json("tables", "-d", "app", env=env)["target"]
    assert "dbname=postgres" in cli.json("tables", env=env)["target"]


def test_server_flags_on_a_sqlite_target_are_one_clear_error(cli, sample_sqlite: Path) -> None:
    result = cli("tables", "-h", "127.0.0.1", "-d", sample_sqlite)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: -h/--host names a PostgreSQL server") and "SQLite" in result.stderr


def test_h_is_the_host_and_help_is_help(cli) -> None:
    assert cli("top", "--help").exit_code == 0
    missing = cli("top", "-h")
    assert missing.exit_code == 2 and "Option '-h' requires an argument" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    bad_port = cli("tables", "-p", "99999")
    assert bad_port.exit_code == 2 and "invalid port '99999'" in bad_port.stderr


def test_every_command_that_connects_has_the_psql_flags() -> None:
    import typer

    from qprof.cli.app import app

    def walk(group, prefix=()):
        for name in group.list_commands(None):  # not group.commands: the root loads its commands lazily
            command = group.get_command(None, name)
            yield (*prefix, name), command
            if hasattr(command, "commands"):
                yield from walk(command, (*prefix, name))

    connecting = 0
    for path, command in walk(typer.main.get_command(app)):
        opts = {opt for param in command.params for opt in getattr(param, "opts", [])}
        if "--db" in opts and path != ("demo",):  # demo's --db is where its sample file goes
            connecting += 1
            assert {"-d", "--dbname", "-h", "--host", "-p", "--port", "-U", "--username"} <= opts, path
            every = [opt for param in command.params for opt in getattr(param, "opts", [])]
            assert all(every.count(flag) == 1 for flag in ("-d", "-h", "-p", "-U")), path  # click would pick one silently
        assert "-h" not in opts or "--host" in opts, path  # -h never means help
    assert connecting >= 12


def test_d_name_with_server_flags_is_a_database_whatever_lies_in_cwd(cli, pg_cluster: PgCluster, app_dsn: str, tmp_path: Path) -> None:
    # psql -h H -d app connects to database app on H, even next to a folder "app" or a file "x.db"
    (tmp_path / "app").mkdir()
    server = ("-h", pg_cluster.host, "-p", str(pg_cluster.port), "-U", pg_cluster.superuser)
    doc = cli.json("tables", *server, "-d", "app")
    assert "dbname=app" in doc["target"] and doc["tables"]
    missing = cli("tables", *server, "-d", "analytics.db")
    assert missing.exit_code == 2 and 'database "analytics.db" does not exist' in missing.stderr
    # without the flags a folder is still no SQLite file: "app" is a database name for libpq
    assert parse_target("app").conninfo == "dbname=app"
    with pytest.raises(BadInput, match="does not exist"):
        parse_target("analytics.db")  # a SQLite suffix without -h/-p/-U: the file the user means
    with pytest.raises(BadInput, match="is a folder"):
        parse_target("./app")  # a path is a file, and a folder is none


def test_explicit_flags_override_a_sqlite_or_missing_qprof_db(cli, pg_cluster: PgCluster, app_dsn: str, sample_sqlite: Path, tmp_path: Path) -> None:
    server = ("-h", pg_cluster.host, "-p", str(pg_cluster.port), "-U", pg_cluster.superuser)
    for value in (f"sqlite:///{sample_sqlite}", "sqlite:///nonexist.db", "nonexist.db"):
        doc = cli.json("tables", *server, "-d", "app", env={"QPROF_DB": value})
        assert "dbname=app" in doc["target"] and doc["tables"], value
    # only -h/-p/-U over a SQLite $QPROF_DB: a PostgreSQL target, libpq's defaults for the rest
    only_flags = cli("tables", *server, "-f", "json", env={"QPROF_DB": str(sample_sqlite), "PGDATABASE": "app"})
    assert only_flags.exit_code == 0, only_flags.stderr
    assert json.loads(only_flags.stdout)["tables"]
    (tmp_path / "qprof.toml").write_text('[profiles.lite]\ndb = "sqlite:///nonexist.db"\n')
    assert cli.json("tables", "--profile", "lite", *server, "-d", "app")["tables"]
    # without flags the SQLite $QPROF_DB is still what is used
    assert cli("tables", env={"QPROF_DB": "sqlite:///nonexist.db"}).exit_code == 2


def test_a_hot_rollback_journal_is_a_clear_error_and_nothing_is_written(tmp_path: Path, cli) -> None:
    """A write killed mid-transaction (a SIGKILLed --verify on SQLite, found in review) leaves a hot
    journal; a read-only open cannot roll it back. qprof says so and how to recover, writes nothing."""
    import subprocess
    import sys

    path = tmp_path / "h.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (a, pad)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * 100) for i in range(20000)])
    conn.commit()
    conn.close()
    killed = (
        "import os, sqlite3\n"
        f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA cache_size = 2'); c.execute('BEGIN'); c.execute('UPDATE t SET pad = pad || 1')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", killed], check=True)
    journal = tmp_path / "h.db-journal"
    assert journal.exists()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    result = cli("advise", "-d", str(path), "--cleanup")
    assert result.exit_code == 2
    assert "rollback journal" in result.output and "--cleanup" in result.output and "Traceback" not in result.output
    assert journal.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == digest
