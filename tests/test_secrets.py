"""No secret in any output: secrets planted through every path, grepped in every output.

Paths in: a --db URI (password and sslpassword), $QPROF_DB, a profile, a history-store URL,
statements that ran on the server (ALTER ROLE … PASSWORD with every literal kind, a conninfo and
a URI inside literals) as pg_stat_statements and the server log keep them, a workload file.
Outputs: table/json/csv/markdown on stdout, stderr, migration files, HTML/markdown reports and
the history store's SQLite bytes.
"""

from __future__ import annotations

import psycopg
import pytest
from pgcluster import PgCluster
from psycopg import pq

from qprof import redact

ROLE = "qprof_secret_role"
LOGIN_PW = "PlantLoginPw01"  # the role's real password in the end: the --db paths use it
SSL_PW = "PlantSslPw02"
# Statements the role runs; each planted value must never come out of qprof again.
STATEMENTS = [
    "SELECT 1 /* password=PlantComment13 */",
    f"DO $$BEGIN EXECUTE 'ALTER ROLE {ROLE} PASSWORD ''PlantDo14'''; END$$",
    f"ALTER ROLE {ROLE} PASSWORD /* c */ 'PlantComm15'",
    f"ALTER ROLE {ROLE} PASSWORD -- c\n 'PlantComm16'",
    f"ALTER ROLE {ROLE} PASSWORD E'PlantEsc03\\'x'",
    f"ALTER ROLE {ROLE} PASSWORD $$PlantDollar04$$",
    f"ALTER ROLE {ROLE} WITH ENCRYPTED PASSWORD $pw$PlantTag05$pw$",
    f"ALTER ROLE {ROLE} PASSWORD U&'PlantUni06\\0041'",
    f"ALTER ROLE {ROLE} PASSWORD '{LOGIN_PW}'",
]
# An N+1 whose statement carries a connection string and a URI in literals (as dblink calls do).
NPLUSONE = "SELECT 'host=db password=PlantConn07' AS c, 'postgresql://app:PlantUri08@db/x' AS u, id FROM orders WHERE id = {}"
PLANTED = [
    "PlantLoginPw01",
    "PlantSslPw02",
    "PlantEsc03",
    "PlantDollar04",
    "PlantTag05",
    "PlantUni06",
    "PlantConn07",
    "PlantUri08",
    "PlantEnvPw09",
    "PlantProfilePw10",
    "PlantStorePw11",
    "PlantWorkload12",
    "PlantComment13",
    "PlantDo14",
    "PlantComm15",
    "PlantComm16",
    "PlantBase17",
    "PlantBase18",
    "PlantExplain19",
    "PlantUsage20",
    "PlantRecord21",
    "PlantRecord22",
    "PlantRecord23",
    "PlantRawAt24",
    "PlantRawAt25",
]


def leaked(text: str | bytes) -> list[str]:
    data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return [secret for secret in PLANTED if secret in data]


def assert_clean(where: str, text: str | bytes) -> None:
    assert not leaked(text), f"{where} shows {leaked(text)}"


@pytest.fixture(scope="module")
def secret_db(pg_cluster: PgCluster) -> dict[str, str]:
    """A database whose statistics and server log hold planted secrets, and a role to log in with."""
    from qprof.sample_dbs import load_postgres

    dsn = pg_cluster.create_database("secrets", extensions=("pg_stat_statements", "hypopg"))
    load_postgres(dsn, scale=0.02)
    pg_cluster.psql(
        "CREATE TABLE accounts (id int PRIMARY KEY, password text);"
        f"CREATE ROLE {ROLE} LOGIN PASSWORD 'initial-pw'; GRANT pg_read_all_stats TO {ROLE};"
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE};"
        # only this role's statements reach the server log, which the test then reads back
        f"ALTER ROLE {ROLE} SET log_statement = 'all'; ALTER ROLE {ROLE} SET log_min_duration_statement = 0;",
        dbname="secrets",
    )
    with psycopg.connect(pg_cluster.dsn("secrets", user=ROLE, password="initial-pw"), autocommit=True) as conn:
        for statement in STATEMENTS:
            conn.execute(statement)
        with conn.transaction():
            for key in range(1, 13):
                conn.execute(NPLUSONE.format(key))
    return {
        "url": pg_cluster.url("secrets", user=ROLE, password=LOGIN_PW) + f"?sslpassword={SSL_PW}",
        "dsn": pg_cluster.dsn("secrets", user=ROLE, password=LOGIN_PW) + f" sslpassword={SSL_PW}",
        "host": pg_cluster.host,
        "port": str(pg_cluster.port),
    }


def test_secret_keys_cover_what_libpq_marks_secret() -> None:
    marked = {d.keyword.decode() for d in pq.Conninfo.get_defaults() if d.dispchar == b"*"}
    assert marked <= set(redact.SECRET_KEYS), marked - set(redact.SECRET_KEYS)
    shown = redact.conninfo("host=h password=a sslpassword=b oauth_client_secret=c dbname=d")
    assert sorted(shown.split()) == ["dbname=d", "host=h"]


@pytest.mark.parametrize(
    ("sql", "hidden"),
    [
        ("ALTER ROLE r PASSWORD E'ab\\'cd' LOGIN", "ALTER ROLE r PASSWORD '***' LOGIN"),
        ("ALTER ROLE r PASSWORD $$ab'cd$$", "ALTER ROLE r PASSWORD '***'"),
        ("ALTER ROLE r PASSWORD $t$ab$$cd$t$ VALID UNTIL 'x'", "ALTER ROLE r PASSWORD '***' VALID UNTIL 'x'"),
        ("ALTER ROLE r PASSWORD U&'d\\0061t\\+000061' UESCAPE '\\'", "ALTER ROLE r PASSWORD '***' UESCAPE '\\'"),
        ("ALTER ROLE \"é\" PASSWORD 'pw'", "ALTER ROLE \"é\" PASSWORD '***'"),
        (
            "CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'u', \"password\" 'pw')",
            "CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'u', \"password\" '***')",
        ),
        (
            "CREATE SUBSCRIPTION s CONNECTION 'host=h sslpassword=''a b'' dbname=d' PUBLICATION p",
            "CREATE SUBSCRIPTION s CONNECTION 'host=h sslpassword=*** dbname=d' PUBLICATION p",
        ),
        ("SELECT dblink_connect($$postgresql://u:pw@h/d$$)", "SELECT dblink_connect($$postgresql://u:***@h/d$$)"),
        ("ALTER ROLE r PASSWORD $$cut-off in a lo", "ALTER ROLE r PASSWORD '***'"),
        ("SELECT 'password' AS label, $1", "SELECT 'password' AS label, $1"),
    ],
)
def test_statement_redaction_knows_every_literal_kind(sql: str, hidden: str) -> None:
    assert redact.statement(sql) == hidden


def test_free_text_redaction_errs_on_hiding() -> None:
    line = '{"message":"statement: ALTER ROLE x PASSWORD E\'a\\\\\'bc\' LOGIN"}'  # jsonlog-escaped
    assert "bc" not in redact.text(line)
    assert redact.text("connection: host=h password=p1 user=u") == "connection: host=h password=*** user=u"
    assert redact.text("see postgresql://u:p@ss@h/db?sslpassword=s2&x=1") == "see postgresql://u:***@h/db?sslpassword=***&x=1"


@pytest.mark.parametrize(
    "db",
    [
        "postgresql://u:PlantLoginPw01%zz@h/db",
        "postgresql://u:PlantLoginPw01@[::1/db",
        "host=h password=PlantLoginPw01 dbname",
        "host=h sslpassword='PlantLoginPw01 dbname=x",
    ],
)
def test_malformed_connection_strings_do_not_echo_the_password(cli, db: str) -> None:
    result = cli("top", "--db", db)
    assert result.exit_code == 2 and "invalid PostgreSQL connection string" in result.stderr
    assert "Traceback" not in result.stderr
    assert_clean("stderr", result.stdout + result.stderr)


def test_store_url_with_a_bad_port_or_bracket_is_a_clear_error(cli, tmp_path) -> None:
    for url in ("postgresql://u:PlantStorePw11@h:badport/db", "postgresql://u:PlantStorePw11@[::1/db"):
        result = cli("snapshots", "list", "--store", url)
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith("error: invalid store URL postgresql://u:***@")
        assert "Traceback" not in result.stderr
        assert_clean("stderr", result.stdout + result.stderr)


def test_failed_connection_hides_every_secret(cli) -> None:
    with PgCluster() as doomed:
        port = doomed.port
    result = cli("top", "-d", f"host=127.0.0.1 port={port} user=u password=PlantLoginPw01 sslpassword=PlantSslPw02")
    assert result.exit_code == 2 and "cannot connect" in result.stderr
    assert_clean("stderr", result.stdout + result.stderr)


@pytest.mark.postgres
def test_planted_secrets_never_come_out(cli, secret_db, pg_cluster, tmp_path, monkeypatch) -> None:
    outputs: dict[str, str | bytes] = {}

    def run(label: str, *args: str, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> None:
        result = cli(*args, env=env)
        assert result.exit_code in ok, f"{label} (exit {result.exit_code}): {result.stderr}"
        outputs[f"{label} stdout"] = result.stdout
        outputs[f"{label} stderr"] = result.stderr

    url = secret_db["url"]
    # pg_stat_statements really holds the statements with their passwords (the leak being guarded)
    raw = pg_cluster.psql("SELECT query FROM pg_stat_statements WHERE query LIKE '%Plant%'", dbname="secrets")
    assert "PlantEsc03" in raw and "PlantTag05" in raw and "PlantUni06" in raw, raw

    for fmt in ("table", "json", "csv", "markdown"):
        run(f"top --db {fmt}", "top", "--db", url, "--format", fmt, "--limit", "5000", "--min-calls", "1")
    doc = cli.json("top", "--db", url, "--limit", "5000", "--min-calls", "1")
    texts = " ".join(row["query"] for row in doc["statements"])
    assert texts.count("PASSWORD '***'") >= 4, texts  # the statements are there, hidden

    run("tables via QPROF_DB", "tables", "--format", "json", env={"QPROF_DB": secret_db["dsn"].replace(LOGIN_PW, LOGIN_PW)})
    env_dsn = f"host={secret_db['host']} port={secret_db['port']} dbname=secrets user={ROLE} password=PlantEnvPw09"
    run("top via QPROF_DB (wrong password)", "top", env={"QPROF_DB": env_dsn}, ok=(2,))

    (tmp_path / "qprof.toml").write_text(
        f'[profiles.staging]\ndb = "{url}"\n[profiles.broken]\ndb = "postgresql://u:PlantProfilePw10@{secret_db["host"]}:{secret_db["port"]}/secrets"\n'
    )
    monkeypatch.chdir(tmp_path)
    run("indexes via profile", "indexes", "--profile", "staging", "--format", "json")
    run("top via broken profile", "top", "--profile", "broken", ok=(2,))

    store = tmp_path / "history.db"
    run("snapshot 1", "snapshot", "--db", url, "--store", str(store), "--format", "json")
    run("snapshot 2", "snapshot", "--db", url, "--store", str(store), "--format", "json")
    for fmt in ("markdown", "html", "json"):
        run(f"report {fmt}", "report", "--store", str(store), "--format", fmt, "--no-charts", "--out", str(tmp_path / f"report-{fmt}"))
    run("report with charts", "report", "--store", str(store), "--format", "html", "--out", str(tmp_path / "report-charts"))
    run("snapshots list", "snapshots", "list", "--store", str(store), "--format", "json")
    baseline_workload = tmp_path / "baseline.sql"
    baseline_workload.write_text(
        "-- name: conninfo\nSELECT 'host=h password=PlantBase17' AS c, id FROM orders WHERE customer_id = 1;\n"
        "-- name: uri\nSELECT 'postgresql://u:PlantBase18@h/d' AS u, id FROM orders WHERE customer_id = 2;\n"
    )
    run("baseline save", "baseline", "save", "b1", "--workload", str(baseline_workload), "--runs", "1", "--db", url, "--store", str(store))
    for fmt in ("table", "markdown", "json"):
        run(
            f"explain --sql {fmt}",
            "explain",
            "--db",
            url,
            "--format",
            fmt,
            "--sql",
            "SELECT id FROM orders WHERE status = 'x' AND note = 'password=PlantExplain19'",
            ok=(0, 1, 2),
        )
        run(f"explain --sql password {fmt}", "explain", "--db", url, "--format", fmt, "--sql", "SELECT id FROM accounts WHERE password = 'PlantExplain19'")
    run("usage error", "top", "postgresql://u:PlantUsage20@h/d", ok=(2,))
    run("usage error -f", "top", "-f", "password=PlantUsage20", ok=(2,))
    run("usage error --by", "top", "--by", "host=h password=PlantUsage20", ok=(2,))
    assert "password" in str(outputs["explain --sql password table stdout"])  # the filter is shown, hidden
    # a recorded run keeps its command line in the store (qprof_runs) and shows it in the report
    run(
        "record",
        "record",
        "-d",
        url,
        "--store",
        str(store),
        "--no-advisors",
        "--name",
        "r1",
        "-f",
        "json",
        "--",
        "sh",
        "-c",
        "true PGPASSWORD=PlantRecord21",
        "postgresql://u:PlantRecord22@h/d",
        "--password",
        "PlantRecord23",
        ok=(0, 127),
    )  # 127: no fileno under the in-process runner
    assert "PGPASSWORD=***" in str(outputs["record stderr"])
    from qprof.history.store import Store

    with Store(str(store)) as history:
        stored_command = {r["name"]: r for r in history.runs()}["r1"]["command"]
    assert "PGPASSWORD=***" in str(stored_command) and "--password" in str(stored_command), stored_command
    # a raw "@" in a URI password: libpq and SQLAlchemy read its tail as part of the host
    run("raw @ in --db", "top", "--db", f"postgresql://rv:Raw@PlantRawAt24@127.0.0.1:{secret_db['port']}/secrets", ok=(2,))
    run("raw @ in --store", "snapshots", "list", "--store", f"postgresql://rv:Raw@PlantRawAt25@127.0.0.1:{secret_db['port']}/x", ok=(2,))

    workload = tmp_path / "secret.sql"
    workload.write_text(
        "-- name: lookup\nSELECT id, status FROM orders WHERE customer_id = 42;\n"
        "-- name: connect\nSELECT 'host=x password=PlantWorkload12' AS c, id FROM orders WHERE customer_id = 7;\n"
        f"-- name: rotate\nALTER ROLE {ROLE} PASSWORD E'PlantWorkload12';\n"
    )
    for fmt in ("table", "json", "markdown"):
        run(f"explain {fmt}", "explain", "--db", url, str(workload), "--format", fmt, ok=(0, 1, 2))
        run(f"check {fmt}", "check", "--db", url, "--workload", str(workload), "--format", fmt, ok=(0, 1, 2))
    run("bench", "bench", "--db", url, str(workload), "--runs", "1", ok=(0, 1, 2))
    run("advise", "advise", "--db", url, "--workload", str(workload), "--out", str(tmp_path / "mig"), "--format", "json")
    run("advise alembic", "advise", "--db", url, "--workload", str(workload), "-m", "alembic", "--out", str(tmp_path / "alembic"))
    assert list((tmp_path / "mig").glob("*.sql")), "advise wrote no migration to check"

    log = tmp_path / "server.log"
    log.write_text(pg_cluster.log_text())
    assert "PlantConn07" in log.read_text() and "PlantDollar04" in log.read_text()
    for fmt in ("table", "json", "csv", "markdown"):
        run(f"nplusone --log {fmt}", "nplusone", "--log", str(log), "--min-ms", "0", "--format", fmt)
    assert "password=***" in str(outputs["nplusone --log json stdout"])  # the N+1 was found, hidden
    run("advise --log", "advise", "--db", url, "--log", str(log), "--no-write", "--format", "json")

    for path in tmp_path.rglob("*"):
        if path.is_file() and path not in (log, workload, baseline_workload) and path.name != "qprof.toml":
            outputs[str(path.relative_to(tmp_path))] = path.read_bytes()
    # the same statements in a PostgreSQL history store: every table, every stored string
    from qprof.history import schema

    pg_cluster.create_database("secretstore", extensions=())
    pg_store = pg_cluster.url("secretstore")
    run("snapshot to a PostgreSQL store", "snapshot", "--db", url, "--store", pg_store, "--format", "json")
    run("baseline to a PostgreSQL store", "baseline", "save", "b1", "--workload", str(baseline_workload), "--runs", "1", "--db", url, "--store", pg_store)
    for table in schema.metadata.sorted_tables:
        outputs[f"pg store {table.name}"] = pg_cluster.psql(f"SELECT t::text FROM {table.name} t", dbname="secretstore")
    assert "PASSWORD" in str(outputs["pg store qprof_statements"])  # the statements are stored, hidden

    assert len(outputs) > 50
    leaks = {label: leaked(text) for label, text in outputs.items() if leaked(text)}
    assert not leaks


@pytest.mark.parametrize(
    ("sql", "secret"),
    [
        ("SELECT 1 /* password=ZQXcomment21 */", "ZQXcomment21"),
        ("SELECT 1 -- dblink('host=h password=ZQXcomment22')", "ZQXcomment22"),
        ("DO $$BEGIN EXECUTE 'ALTER ROLE rv2 PASSWORD ''ZQXdo26'''; END$$", "ZQXdo26"),
        ("ALTER ROLE rv2 PASSWORD /* c */ 'ZQXcomm13'", "ZQXcomm13"),
        ("ALTER ROLE rv2 PASSWORD -- c\n 'ZQXcomm14'", "ZQXcomm14"),
        ("ALTER ROLE rv2 ENCRYPTED /* a */ PASSWORD /* b */ 'ZQXcomm15' LOGIN", "ZQXcomm15"),
        ("SELECT dblink('host=h password=?ZQXa02')", "ZQXa02"),
        ("SELECT dblink('password=$1ZQXa03')", "ZQXa03"),
        ("COPY cp FROM PROGRAM 'PGPASSWORD=ZQXpg1 echo 1'", "ZQXpg1"),
        ("SELECT 1 FROM users WHERE password = 'ZQXe30'", "ZQXe30"),
    ],
)
def test_secrets_hidden_in_comments_bodies_and_odd_values(sql: str, secret: str) -> None:
    """Every exit (statement for the store, output for the rest) hides them; a log line too."""
    assert secret not in redact.statement(sql)
    assert secret not in redact.output(sql)
    assert secret not in redact.text(sql)


def test_placeholders_and_plain_text_stay_as_they_are() -> None:
    for sql in (
        "SELECT * FROM t WHERE password = $1 AND x = ?",
        "UPDATE t SET password=$12, y=1",
        "SELECT 'password' AS k, v FROM t WHERE k = 'x'",
        "SELECT 1 /* plain comment */",
    ):
        assert redact.output(sql) == sql
    assert redact.text("options=-c app.password=OptPw57 dbname=d") == "options=-c app.password=*** dbname=d"
    assert redact.output("env PGPASSWORD=ZQXpg2 psql") == "env PGPASSWORD=*** psql"


def test_plan_filters_are_redacted_in_every_text_format() -> None:
    from qprof.output import OutputFormat
    from qprof.plans.postgres import parse_explain_json
    from qprof.plans.render import render_plan

    plan = parse_explain_json([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "users", "Plan Rows": 1, "Filter": "(password = 'ZQXe31'::text)"}}])
    for fmt in (OutputFormat.table, OutputFormat.markdown):
        shown = render_plan(plan, fmt)
        assert "password = '***'" in shown and "ZQXe31" not in shown


def test_chart_labels_are_redacted() -> None:
    from qprof.reports.build import chart_label
    from qprof.reports.charts import plain

    label = chart_label("123456789", "ALTER ROLE app PASSWORD 'OldPw42' VALID UNTIL 'infinity'")
    assert "OldPw42" not in label and "PASSWORD '***'" in label
    assert "OldPw43" not in plain("postgresql://u:OldPw43@h/d $$")


def test_remembered_secrets_match_whole_tokens_only() -> None:
    redact.remember(["postgres", "select", "ZQXtok1"])
    shown = redact.known("postgresql://h/postgres SELECT low_selectivity select x ZQXtok1, aZQXtok1")
    assert shown == "postgresql://h/*** SELECT low_selectivity select x ***, aZQXtok1"


def test_raw_at_in_a_uri_password_hides_its_tail() -> None:
    uri = "postgresql://rv:Raw@65x@127.0.0.1:5/sec"
    redact.remember_conninfo(uri)
    assert "65x" not in redact.conninfo(uri)
    assert "65x" not in redact.known('connection to server at "65x@127.0.0.1", port 5 failed')


def test_uri_pattern_is_linear_on_long_alphanumeric_runs() -> None:
    """A pattern that tries every position of an alphanumeric run as a URI scheme's start takes
    16× the time for a 4× longer run (85 s for 200 kB); a linear one ~4×. Best of three runs each,
    compared with each other, so machine speed and noise cancel out; and a 1 MB statement of
    50 kB runs (minutes before) in bounded time."""
    import time

    def statement(run: int, size: int) -> str:
        return "SELECT " + " + ".join(["a" * run] * max(size // (run + 3), 1)) + " FROM t WHERE c = 'password=x'"

    def best(sql: str) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert "password=***" in redact.output(sql)
            times.append(time.perf_counter() - started)
        return min(times)

    short, long = best(statement(16_000, 16_000)), best(statement(64_000, 64_000))
    assert long < 10 * max(short, 0.002), (short, long)  # quadratic would be 16×
    assert best(statement(50_000, 1_000_000)) < 30.0


@pytest.mark.postgres
def test_a_password_equal_to_a_user_name_still_snapshots(cli, secret_db, tmp_path, monkeypatch) -> None:
    """The store matches statements by (queryid, user): the user is stored redacted, and found so;
    two users both hidden as *** become one row, not a UNIQUE violation."""
    monkeypatch.setattr(redact, "_known", set(redact._known))  # the rest of the session keeps its own
    redact.remember([ROLE, "postgres"])
    store = str(tmp_path / "h.db")
    for _ in range(2):
        result = cli("snapshot", "--db", secret_db["url"], "--store", store, "--format", "json")
        assert result.exit_code == 0, result.stderr
    assert ROLE.encode() not in (tmp_path / "h.db").read_bytes()
