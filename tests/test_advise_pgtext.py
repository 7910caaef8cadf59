"""advise on text qprof's SQL analyzer (sqlglot) misreads or cannot read, from real server logs.

* A setup ``INSERT … SELECT`` (``(g||' minutes')::interval``, ``(ARRAY[…])[1+g%4]``) once came
  out of the log as ``…[$8+g% $9] … (g|| $10)::interval`` and was skipped with sqlglot's
  "Error tokenizing '|| $10)::interval …'": now read, costed, and its rows count as writes.
* Text PostgreSQL parses and sqlglot cannot (``interval '1' second(2)``) is skipped with one
  line, no parser error text; PostgreSQL's own parser (advise/pg_writes.py) still says which
  table it writes, so the indexes advised on that table carry its write cost.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from qprof.advise.pg_writes import read_statement, resolve
from qprof.errors import BadInput

pytestmark = pytest.mark.postgres

SETUP = """
CREATE TABLE pt_events (id bigint PRIMARY KEY, customer_id bigint, kind text, payload jsonb, created_at timestamptz);
INSERT INTO pt_events SELECT g, 1 + (g * 7919) % 5000, (ARRAY['view', 'click', 'cart', 'buy'])[1 + g % 4],
       jsonb_build_object('n', g), now() - (g || ' seconds')::interval FROM generate_series(1, 60000) g;
CREATE TABLE pt_archive (LIKE pt_events);
CREATE SCHEMA "Audit";
CREATE TABLE "Audit"."Log" (id bigint, what text, "When" timestamptz);
ANALYZE;
"""

# The application's reads: an index on pt_events(customer_id) is worth it.
READS = [("SELECT id, kind FROM pt_events WHERE customer_id = %s", (customer,)) for customer in (17, 42, 4242, 99)]
# Setup DML as psql (literals) and a driver (bound parameters, extended protocol) send it.
LOADS = [
    (
        "INSERT INTO pt_events SELECT g, 1 + (g * 7919) % 5000, (ARRAY['view', 'click', 'cart', 'buy'])[1+g%4], "
        "jsonb_build_object('n', g), now() - (g||' minutes')::interval FROM generate_series(100001, 100200) g",
        None,
    ),
    (
        "INSERT INTO pt_events SELECT g, 1 + (g * 7919) %% 5000, (ARRAY['view','click','cart','buy'])[1+g%%4], "
        "jsonb_build_object('n', g), now() - (g|| %s)::interval FROM generate_series(%s::bigint, %s::bigint) g",
        (" minutes", 100201, 100300),
    ),
]
# What only PostgreSQL's parser reads (sqlglot: "Invalid expression / Unexpected token").
ONLY_POSTGRES = [
    (
        "INSERT INTO pt_events (id, customer_id, kind, created_at) "
        "SELECT g, g % 5000, 'view', now() - interval '3' second(2) FROM generate_series(200001, 200100) g",
        None,
    ),
    ("INSERT INTO pt_archive SELECT * FROM pt_events WHERE created_at < now() - interval '90' second(2)", None),
]


@pytest.fixture(scope="module")
def pt_dsn(pg_cluster) -> str:
    dsn = pg_cluster.create_database("advpgtext", extensions=("pg_stat_statements", "hypopg"))
    pg_cluster.psql(SETUP, dbname="advpgtext")
    return dsn


def _log_of(pg_cluster, dsn: str, statements: list[tuple[str, tuple | None]], path) -> object:
    """The server log lines (log_min_duration_statement = 0) the statements produce, as a file;
    data-modifying ones are rolled back so every capture starts from the same data."""
    pg_cluster.psql("ALTER DATABASE advpgtext SET log_min_duration_statement = 0")
    start = pg_cluster.logfile.stat().st_size
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for sql, params in statements:
                with conn.transaction(force_rollback=True):
                    conn.execute(sql, params)
    finally:
        pg_cluster.psql("ALTER DATABASE advpgtext RESET log_min_duration_statement")
    with pg_cluster.logfile.open("rb") as handle:
        handle.seek(start)
        path.write_bytes(handle.read())
    return path


def _overhead(doc: dict, table: str, column: str) -> float:
    (rec,) = [r for r in doc["recommendations"] if r["table"] == table and r["columns"][0] == column]
    return rec["write_overhead"]


def test_setup_insert_select_from_a_log_is_read_costed_and_counted_as_writes(cli, pg_cluster, pt_dsn, tmp_path) -> None:
    reads_only = _log_of(pg_cluster, pt_dsn, READS, tmp_path / "reads.log")
    with_loads = _log_of(pg_cluster, pt_dsn, READS + LOADS, tmp_path / "loads.log")
    result = cli("advise", "-d", pt_dsn, "--log", with_loads, "--no-write", "--format", "json")
    assert result.exit_code == 0, result.stderr
    for text in (result.stdout, result.stderr):
        assert "tokeniz" not in text and "cannot parse" not in text
    doc = json.loads(result.stdout)
    assert not [s for s in doc["skipped"] if s["not_costed"]], doc["skipped"]
    assert doc["summary"]["statements"] == 3  # the read and both INSERT shapes (literal, bound) costed
    # the INSERTs' rows make the index on the table they load cost more to keep
    assert _overhead(doc, "public.pt_events", "customer_id") > 0
    assert _overhead(cli.json("advise", "-d", pt_dsn, "--log", reads_only, "--no-write"), "public.pt_events", "customer_id") == 0
    table = cli("advise", "-d", pt_dsn, "--log", with_loads, "--no-write")
    assert table.exit_code == 0 and "skipped" not in table.stdout and "tokeniz" not in table.stdout + table.stderr


def test_text_only_postgres_reads_is_skipped_in_one_line_and_its_writes_still_count(cli, pg_cluster, pt_dsn, tmp_path) -> None:
    from qprof import sqltext

    for sql, _ in ONLY_POSTGRES:  # the premise: sqlglot cannot read the plannable form
        with pytest.raises(BadInput, match="cannot parse SQL"):
            sqltext.parse(sql.replace("interval '3' second(2)", "$1::interval second(2)").replace("interval '90' second(2)", "$1::interval second(2)"))
    log = _log_of(pg_cluster, pt_dsn, READS + ONLY_POSTGRES, tmp_path / "pg.log")
    result = cli("advise", "-d", pt_dsn, "--log", log, "--no-write", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "cannot parse" not in result.stdout + result.stderr and "Unexpected token" not in result.stdout + result.stderr
    doc = json.loads(result.stdout)
    skips = {s["statement"].split(" SELECT")[0]: s for s in doc["skipped"]}
    loader = skips["INSERT INTO pt_events (id, customer_id, kind, created_at)"]
    assert loader["reason"] == "insert statement reading no table: nothing to index" and not loader["not_costed"]
    archive = skips["INSERT INTO pt_archive"]
    assert archive["not_costed"] and archive["share"] > 0
    assert archive["reason"] == ("no index derived: PostgreSQL parses this text but qprof's SQL analyzer cannot; its writes to public.pt_archive are counted")
    assert doc["skipped_summary"]["count"] == 1  # the archive copy: it reads pt_events, an index might serve it
    # the loader's 100 rows per call are writes on pt_events: the advised index carries them
    assert _overhead(doc, "public.pt_events", "customer_id") > 0
    table = cli("advise", "-d", pt_dsn, "--log", log, "--no-write")
    assert table.exit_code == 0, table.stderr
    block = table.stdout[table.stdout.index("skipped statements") :]
    assert "no index derived: PostgreSQL parses this text but qprof's SQL analyzer cannot" in block
    assert "cannot parse" not in table.stdout + table.stderr


@pytest.mark.parametrize(
    ("sql", "kind", "reads", "inserts", "updated"),
    [
        (
            "INSERT INTO pt_events SELECT g, 1, 'a', NULL, now() - $1::interval second(2) FROM generate_series(1, 2) g",
            "insert",
            set(),
            {("public", "pt_events")},
            {},
        ),
        (
            'WITH moved AS (DELETE FROM pt_events WHERE created_at < $1::interval second(2) RETURNING *) INSERT INTO "Audit"."Log" SELECT id, kind FROM moved',
            "insert",
            set(),
            {("Audit", "Log")},
            {},
        ),
        (
            'UPDATE "Audit"."Log" l SET what = $1, ("When", id) = (now(), 1) FROM pt_archive a WHERE a.id = l.id',
            "update",
            {("public", "pt_archive")},
            set(),
            {("Audit", "Log"): {"what", "When", "id"}},
        ),
        (
            "MERGE INTO pt_archive a USING pt_events e ON a.id = e.id WHEN MATCHED THEN UPDATE SET kind = e.kind "
            "WHEN NOT MATCHED THEN INSERT VALUES (e.id, e.customer_id, e.kind, e.payload, e.created_at)",
            "merge",
            {("public", "pt_events")},
            {("public", "pt_archive")},
            {("public", "pt_archive"): {"kind"}},
        ),
        ("SELECT count(*) FROM pt_events, pg_class WHERE kind = $1", "select", {("public", "pt_events")}, set(), {}),
    ],
    ids=["insert_from_series", "cte_delete_then_insert", "update_multi_assign", "merge", "select_with_catalog"],
)
def test_postgres_parser_says_what_a_statement_reads_and_writes(pt_dsn, sql, kind, reads, inserts, updated) -> None:
    from qprof.advise.catalog import load_catalog
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    with open_target(parse_target(pt_dsn)) as target:
        catalog = load_catalog(target)
    found = resolve(read_statement(sql), catalog)
    assert (found.kind, set(found.reads), set(found.inserts_into)) == (kind, reads, inserts)
    assert {table: set(columns) for table, columns in found.updated_columns.items()} == updated
    assert found.tables == reads | inserts | set(updated) | ({("public", "pt_events")} if "DELETE" in sql else set())
    assert not found.missing
    assert resolve(read_statement("INSERT INTO pt_nowhere SELECT 1"), catalog).missing == ("pt_nowhere",)
    assert read_statement("SELEC 1") is None and read_statement("VACUUM pt_events") is None


def test_placeholders_sqlglot_takes_for_a_dollar_quote() -> None:
    """``$3])[$8``: sqlglot reads ``$3])[$`` as the tag of a dollar-quoted string that never ends."""
    from qprof import sqltext
    from qprof.pgtext import parametrize, plannable, space_placeholders

    sql, values = parametrize(LOADS[0][0])
    text = plannable(sql).sql
    assert "[ $1+g% $8]" in text and "(g|| $10)::interval" in text
    assert sqltext.statement_kind(sqltext.parse(text)) == "insert"
    assert values[-2:] == [100001, 100200] and values[8] == "n"  # jsonb_build_object's key, bound as text
    assert "jsonb_build_object($9::text, g)" in text
    glued = "SELECT (ARRAY[$1])[$2+g] FROM t WHERE a = $3 AND b = '$4x'"
    with pytest.raises(BadInput, match="cannot parse SQL"):
        sqltext.parse(glued)
    # PostgreSQL's lexer finds them when sqlglot's cannot; literals keep their text
    assert [p.number for p in sqltext.find_placeholders(glued)] == [1, 2, 3]
    assert sqltext.to_psycopg(glued) == "SELECT (ARRAY[%(p1)s])[%(p2)s+g] FROM t WHERE a = %(p3)s AND b = '$4x'"
    assert space_placeholders(glued) == "SELECT (ARRAY[$1])[ $2+g] FROM t WHERE a = $3 AND b = '$4x'"
    assert space_placeholders("SELECT $1='a$b'") == "SELECT $1 ='a$b'"  # the next $ is in a literal: space after
    for text in (space_placeholders(glued), space_placeholders("SELECT $1='a$b'"), space_placeholders("SELECT ($1)+($2)")):
        sqltext.parse(text)
