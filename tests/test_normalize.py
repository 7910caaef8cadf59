"""Every statement costed, or a loud reason: normalized text (pg_stat_statements, server logs) plans.

The statements are run for real so that pg_stat_statements writes its own normalized text
(``interval $1``, ``date $1``, ``ANY (ARRAY[$1, $2])`` …); advise must cost them all and
index them, and list what it still cannot cost with its share of the workload's time.
"""

from __future__ import annotations

import datetime
import json
import re
from decimal import Decimal

import psycopg
import pytest

from qprof.errors import BadInput
from qprof.pgtext import (
    MAX_PARAMETERS,
    cast_placeholder_arrays,
    parametrize,
    plannable,
    space_placeholders,
)

pytestmark = pytest.mark.postgres

SETUP = """
CREATE TABLE norm_orders (
    id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, amount numeric(12, 2),
    created_at timestamptz NOT NULL, ship_date date NOT NULL, ref uuid NOT NULL, meta jsonb, tags int[]
);
INSERT INTO norm_orders
SELECT g, 1 + (g * 7919) % 20000, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3], (g % 1000) / 3.0,
       now() - g * interval '30 seconds', date '2026-01-01' + g % 300, md5(g::text)::uuid,
       jsonb_build_object('k', g % 100), ARRAY[g % 50, g % 7]
FROM generate_series(1, 200000) AS g;
ANALYZE norm_orders;
CREATE TABLE norm_load (id bigint, kind text, doc jsonb, at timestamptz);
"""

# What an application runs, with literals; pg_stat_statements keeps it with $n.
WORKLOAD = {
    "interval": "SELECT count(*) FROM norm_orders WHERE created_at > now() - interval '1 hour'",
    "date": "SELECT count(*) FROM norm_orders WHERE ship_date = date '2026-03-01'",
    "timestamp": "SELECT id FROM norm_orders WHERE created_at = timestamptz '2026-01-01 10:00:00+00'",
    "numeric": "SELECT id FROM norm_orders WHERE amount = numeric '12.50' AND customer_id = 7",
    "uuid": "SELECT id FROM norm_orders WHERE ref = uuid 'c4ca4238-a0b9-3382-8dcc-509a6f75849b'",
    "jsonb": "SELECT id FROM norm_orders WHERE meta = jsonb '{\"k\": 1}' AND customer_id = 8",
    "limit_offset": "SELECT id, status FROM norm_orders WHERE customer_id = 42 ORDER BY id LIMIT 20 OFFSET 40",
    "array": "SELECT id FROM norm_orders WHERE customer_id = ANY (ARRAY[1, 2, 3])",
    "time_zone": "SELECT created_at AT TIME ZONE 'UTC' FROM norm_orders WHERE customer_id = 9",
    "extract": "SELECT extract(hour FROM created_at), count(*) FROM norm_orders WHERE ship_date = date '2026-02-01' GROUP BY 1",
    # ARRAY[$1, $2] is text[]; the PREPARE error names integer[], and the array is cast to it
    "array_operator": "SELECT count(*) FROM norm_orders WHERE tags && ARRAY[1, 2]",
    # multi-byte characters before the rewrites: libpg_query counts bytes, its scanner characters
    "unicode": "/* controller='café' 😀 */ SELECT count(*) FROM norm_orders WHERE created_at > current_timestamp - interval '2 hours' AND status <> 'é'",
    "timestamp_plain": "SELECT id FROM norm_orders WHERE created_at < timestamp '2026-01-01 10:00:00' AND customer_id = 21",
    "time": "SELECT count(*) FROM norm_orders WHERE created_at::time = time '10:00:00' AND customer_id = 22",
    "json": "SELECT id FROM norm_orders WHERE meta::text = json '{\"k\": 1}'::text AND customer_id = 23",
    "in_unspaced": "SELECT id FROM norm_orders WHERE status IN ('paid','new') AND customer_id IN (5,6)",  # one queryid with = ANY (ARRAY[…]) when alike
    "limit": "SELECT id FROM norm_orders WHERE customer_id = 27 ORDER BY created_at DESC LIMIT 5",
    "interval_fields": "SELECT count(*) FROM norm_orders WHERE created_at > current_timestamp - interval '5' minute AND customer_id = 28",
    "interval_times": "SELECT count(*) FROM norm_orders WHERE created_at > now() - 3 * interval '1 hour' AND status = 'paid'",
    "date_plus_interval": "SELECT count(*) FROM norm_orders WHERE ship_date BETWEEN DATE '2026-02-01' AND DATE '2026-02-01' + interval '7 days'",
    "extract_of_literal": (
        "SELECT count(*) FROM norm_orders WHERE EXTRACT(epoch FROM created_at) > EXTRACT(epoch FROM timestamp with time zone '2026-06-01') AND customer_id = 29"
    ),
    "array_contains": "SELECT count(*) FROM norm_orders WHERE tags @> ARRAY[3, 4] AND customer_id = 30",
    # the GROUP BY keeps its literal in pg_stat_statements' text: `date_trunc($1, …) … GROUP BY date_trunc('day', …)`
    "group_by_expression": "SELECT date_trunc('day', created_at), count(*) FROM norm_orders WHERE customer_id = 24 GROUP BY date_trunc('day', created_at)",
    "order_by_expression": "SELECT lower(status) || '-x', id FROM norm_orders WHERE customer_id = 25 ORDER BY lower(status) || '-x'",
    # setup DML: `(ARRAY[$2, $3])[$4+g% $5]` once read by sqlglot as a dollar-quoted string; `jsonb_build_object($6, g)`
    # and `generate_series($8, $9)` have no type for their parameters until they are given one
    "insert_select": (
        "INSERT INTO norm_load SELECT g, (ARRAY['view','buy'])[1+g%2], jsonb_build_object('n', g), now() - (g||' minutes')::interval "
        "FROM generate_series(1, 10) g"
    ),
}
# A statement that cannot be costed any more: its table was dropped after it ran (renamed, say).
UNCOSTABLE = "SELECT count(*) FROM norm_gone WHERE customer_id = 5"
# One whose function was dropped since: PREPARE fails whatever qprof declares.
UNPLANNABLE = "SELECT count(*) FROM norm_orders WHERE norm_bucket(customer_id) = 5"
# One the application binds: pg_stat_statements keeps `created_at > $1 - interval $2`, and PostgreSQL
# types the untyped $1 from the interval (interval - interval): `timestamptz > interval` does not
# exist — until $1 is declared with the type the error names.
BOUND = "SELECT count(*) FROM norm_orders WHERE created_at > %s - interval '1 day'"
GONE, FUNCTION_GONE, BOUND_TEXT = "FROM norm_gone WHERE", "norm_bucket(customer_id) = $", "> $1 - interval $2"


@pytest.fixture(scope="module")
def norm_dsn(pg_cluster) -> str:
    dsn = pg_cluster.create_database("normalize", extensions=("pg_stat_statements", "hypopg"))
    pg_cluster.psql(SETUP, dbname="normalize")
    dbid = pg_cluster.psql("SELECT oid FROM pg_database WHERE datname = 'normalize'").strip()
    pg_cluster.psql(f"SELECT pg_stat_statements_reset(0, {dbid}, 0)", dbname="normalize")  # this database only
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(3):
            for form, sql in WORKLOAD.items():
                conn.execute(f"/* form={form} */ {sql}")  # pg_stat_statements keeps the comment: found by form
        conn.execute("CREATE TABLE norm_gone AS SELECT * FROM norm_orders")
        for _ in range(5):
            conn.execute(UNCOSTABLE)
        conn.execute("DROP TABLE norm_gone")
        conn.execute("CREATE FUNCTION norm_bucket(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 % 10'")
        for _ in range(3):
            conn.execute(UNPLANNABLE)
        conn.execute("DROP FUNCTION norm_bucket(int)")
        for _ in range(2):
            conn.execute(BOUND, (datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC),))
    return dsn


def _normalized(dsn: str, fragment: str) -> tuple[str, str]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT queryid::text, query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
            "WHERE datname = current_database()) AND query LIKE %s AND query NOT LIKE %s AND query NOT LIKE %s",
            # qprof's own PREPARE of the same text is recorded too (track = all): which row came first
            # depended on how full pg_stat_statements was
            (f"%{fragment}%", "%pg_stat_statements%", "/* qprof */%"),
        ).fetchone()
    assert row is not None, fragment
    return row[0], row[1]


# --- the rewrite itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("normalized", "plannable_text"),
    [
        ("SELECT 1 FROM t WHERE c > now() - interval $3", "SELECT 1 FROM t WHERE c > now() - $1::interval"),
        ("SELECT 1 FROM t WHERE d = date $1 AND n = numeric $2", "SELECT 1 FROM t WHERE d = $1::date AND n = $2::numeric"),
        ("SELECT 1 FROM t WHERE z > timestamp with time zone $1", "SELECT 1 FROM t WHERE z > $1::timestamp with time zone"),
        ("SELECT 1 FROM t WHERE u = uuid $1 AND j @> jsonb $2", "SELECT 1 FROM t WHERE u = $1::uuid AND j @> $2::jsonb"),
        ("SELECT 1 FROM t WHERE i > interval $1 day", "SELECT 1 FROM t WHERE i > $1::interval day"),
        ("SELECT 1 FROM t WHERE a IN ($1,$2,$3)", "SELECT 1 FROM t WHERE a IN ($1, $2, $3)"),
        ("SELECT 1 FROM t WHERE a = ANY (ARRAY[$1, $2])", "SELECT 1 FROM t WHERE a IN ($1, $2)"),
        ("SELECT 1 FROM t WHERE a <> ALL(ARRAY[$1,$2])", "SELECT 1 FROM t WHERE a NOT IN ($1, $2)"),
        ("SELECT extract($1 FROM c AT TIME ZONE $2) FROM t", "SELECT date_part($1 , c AT TIME ZONE $2) FROM t"),
        ("SELECT extract(hour FROM $1)", "SELECT extract(hour FROM $1::timestamptz)"),
        ("SELECT 1 FROM t WHERE a = $70000", "SELECT 1 FROM t WHERE a = $1"),
        ("SELECT 1 FROM t ORDER BY a LIMIT $1 OFFSET $2", "SELECT 1 FROM t ORDER BY a LIMIT $1 OFFSET $2"),
        # sqlglot read `$1])[$2` as a dollar-quoted string tagged `1])[`
        ("SELECT (ARRAY[$1])[$2+g] FROM t", "SELECT (ARRAY[$1])[ $2+g] FROM t"),
        ("SELECT jsonb_build_object($1, g) FROM t", "SELECT jsonb_build_object($1::text, g) FROM t"),
        (
            "SELECT date_trunc($1, c), count(*) FROM t WHERE a = $2 GROUP BY date_trunc('day', c) ORDER BY date_trunc('day', c)",
            "SELECT date_trunc('day', c), count(*) FROM t WHERE a = $1 GROUP BY date_trunc('day', c) ORDER BY date_trunc('day', c)",
        ),
    ],
)
def test_normalized_forms_are_rewritten_by_position(normalized: str, plannable_text: str) -> None:
    assert plannable(normalized).sql == plannable_text


def test_literals_and_comments_are_never_touched() -> None:
    sql = "SELECT 1 FROM t WHERE a IN ($1,$2) AND b = 'date $1,$2' -- interval $2,$1\n"
    assert plannable(sql).sql == "SELECT 1 FROM t WHERE a IN ($1, $2) AND b = 'date $1,$2' -- interval $2,$1\n"
    assert space_placeholders("SELECT '$1,$2', $$ x,$1 $$") == "SELECT '$1,$2', $$ x,$1 $$"


def test_renumbering_carries_the_values_along() -> None:
    rewritten = plannable("SELECT 1 FROM t WHERE a = $5 AND b = date $2")
    assert rewritten.sql == "SELECT 1 FROM t WHERE a = $2 AND b = $1::date"
    assert rewritten.params(["x", "2026-01-01", "y", "z", 42]) == ["2026-01-01", 42]
    # a select-list $n given its GROUP BY literal back: the values after it move up
    grouped = plannable("SELECT date_trunc($1, c) FROM t WHERE a = $2 GROUP BY date_trunc('day', c)")
    assert grouped.sql == "SELECT date_trunc('day', c) FROM t WHERE a = $1 GROUP BY date_trunc('day', c)"
    assert grouped.params(["day", 42]) == [42]


def test_placeholder_arrays_take_the_type_postgres_names() -> None:
    sql = "SELECT 1 FROM t WHERE tags && ARRAY[$1, $2] AND x = ANY(ARRAY[$3]::int[]) AND y @> ARRAY[1, $4]"
    assert cast_placeholder_arrays(sql, "integer[]") == (
        "SELECT 1 FROM t WHERE tags && ARRAY[$1, $2]::integer[] AND x = ANY(ARRAY[$3]::int[]) AND y @> ARRAY[1, $4]"
    )


def test_more_parameters_than_postgres_binds_is_a_clear_error() -> None:
    sql = "SELECT 1 WHERE 1 IN (" + ", ".join(f"${n}" for n in range(1, MAX_PARAMETERS + 2)) + ")"
    with pytest.raises(BadInput, match="PostgreSQL binds at most 65,535"):
        plannable(sql)


def test_logged_literals_become_parameters_with_their_values() -> None:
    text, values = parametrize(
        "SELECT id, 'x' AS k FROM t WHERE c = $1 AND at > now() - interval '1 hour' AND n > -2.5 AND s::varchar(20) = E'a\\'b' GROUP BY 1 ORDER BY 2 LIMIT 0"
    )
    # every literal a parameter, the select list's too (no value in printed text); positions and typmods stay
    assert text == ("SELECT id, $2 AS k FROM t WHERE c = $1 AND at > now() - interval $3 AND n > $4 AND s::varchar(20) = $5 GROUP BY 1 ORDER BY 2 LIMIT $6")
    assert values == ["x", "1 hour", Decimal("-2.5"), "a'b", 0]
    assert parametrize("UPDATE t SET s = 'x', n = n + 1 WHERE id = 5") == ("UPDATE t SET s = $1, n = n + $2 WHERE id = $3", ["x", 1, 5])
    assert parametrize("SELEC 1") is None


def test_text_the_parser_rejects_comes_back_unchanged() -> None:
    assert plannable("SELEC x FROM t WHERE a = $1").sql == "SELEC x FROM t WHERE a = $1"
    assert plannable("SELECT 'unterminated $1").sql == "SELECT 'unterminated $1"


# --- on the real cluster -------------------------------------------------------------------------


def test_every_normalized_form_from_pg_stat_statements_prepares(norm_dsn: str) -> None:
    from qprof.conninfo import parse_target
    from qprof.plans.postgres import estimate_cost
    from qprof.targets import open_target

    fragments = [
        "now() - interval $",
        "date $",
        "timestamptz $",
        "numeric $",
        "uuid $",
        "jsonb $",
        "OFFSET $",
        "ANY (ARRAY[$",
        "TIME ZONE $",
        "extract(",
        "tags && ARRAY[$",
    ]
    with open_target(parse_target(norm_dsn)) as target:
        for fragment in fragments:
            _, text = _normalized(norm_dsn, fragment)
            assert estimate_cost(target, text) > 0, text


def test_advise_costs_and_indexes_every_normalized_statement(cli, norm_dsn: str) -> None:
    doc = cli.json("advise", "-d", norm_dsn, "--no-write")
    failed = {s["queryid"] for s in doc["skipped"] if s["not_costed"]}
    assert failed == {_normalized(norm_dsn, GONE)[0], _normalized(norm_dsn, FUNCTION_GONE)[0]}
    helped = {s["queryid"] for rec in doc["recommendations"] for s in rec["statements"]}
    shapes = {(rec["table"], rec["columns"][0]) for rec in doc["recommendations"]}
    interval_id, _ = _normalized(norm_dsn, "now() - interval $")
    assert interval_id in helped  # the statement the issue lost: now costed and indexed
    assert ("public.norm_orders", "created_at") in shapes
    for fragment, column in (("date $", "ship_date"), ("uuid $", "ref")):
        assert _normalized(norm_dsn, fragment)[0] in helped, fragment
        assert ("public.norm_orders", column) in shapes
    assert ("public.norm_orders", "customer_id") in shapes  # = ANY (ARRAY[$1, $2, $3]) among others
    assert doc["summary"]["statements"] == len(WORKLOAD) + 1  # every one of them costed, and BOUND
    assert _normalized(norm_dsn, BOUND_TEXT)[0] in helped  # $1 declared timestamptz, as the error said


@pytest.fixture(scope="module")
def advised(norm_dsn: str):
    from qprof.api.advise import advise

    return advise(norm_dsn, write=False).advice


@pytest.mark.parametrize("form", sorted(WORKLOAD))
def test_each_normalized_form_is_costed_from_pg_stat_statements(advised, norm_dsn: str, form: str) -> None:
    """Every form pg_stat_statements writes is costed by the whole advise path (not skipped)."""
    queryid, text = _normalized(norm_dsn, f"/* form={form} */")
    reasons = {skip.queryid: skip.reason for skip in advised.skipped}
    assert queryid not in reasons, f"{text}: {reasons.get(queryid)}"
    assert advised.selection.cost_before[advised.by_key[queryid].key] > 0, text


def test_skipped_statements_lead_the_output_with_their_share(cli, norm_dsn: str) -> None:
    doc = cli.json("advise", "-d", norm_dsn, "--no-write")
    summary = doc["skipped_summary"]
    assert list(doc)[:2] == ["schema_version", "skipped_summary"]  # first after the version, before the recommendations
    skips = {s["queryid"]: s for s in doc["skipped"] if s["not_costed"]}
    gone, unplannable = skips[_normalized(norm_dsn, GONE)[0]], skips[_normalized(norm_dsn, FUNCTION_GONE)[0]]
    assert summary["count"] == 2 and summary["basis"] == "time"
    assert 0 < gone["share"] and 0 < unplannable["share"] and summary["share"] == pytest.approx(gone["share"] + unplannable["share"], abs=1e-3)
    assert gone["calls"] == 5 and gone["reason"] == "table missing: norm_gone"
    assert unplannable["calls"] == 3 and unplannable["reason"] == "explain failed: PREPARE: function norm_bucket(integer) does not exist"
    assert [s["queryid"] for s in doc["skipped"]][:2] == sorted(skips, key=lambda q: -skips[q]["share"])  # largest first
    headline = r"2 of \d+ statements skipped — \d+\.\d % of the workload's time — not costed, no index advised for them; see below"
    assert re.fullmatch(headline, summary["message"])

    result = cli("advise", "-d", norm_dsn, "--no-write")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(headline, lines[0])  # the first line of the output, before the table
    block = result.stdout[result.stdout.index("skipped statements") :]
    assert f"queryid {gone['queryid']} (5 calls" in block and "table missing: norm_gone" in block
    assert f"queryid {unplannable['queryid']} (3 calls" in block
    assert f"try: qprof explain --queryid {unplannable['queryid']}, or --sql with literal values" in block


def test_explain_queryid_says_what_failed_and_what_to_try(cli, norm_dsn: str) -> None:
    queryid, _ = _normalized(norm_dsn, FUNCTION_GONE)
    result = cli("explain", "-d", norm_dsn, "--queryid", queryid)
    assert result.exit_code == 2
    assert f"queryid {queryid} could not be explained: PREPARE: function norm_bucket(integer) does not exist" in result.stderr
    assert "try it with literal values: qprof explain --sql 'SELECT count(*) FROM norm_orders WHERE norm_bucket(customer_id) = $1'" in result.stderr
    assert "Traceback" not in result.stderr
    queryid, _ = _normalized(norm_dsn, GONE)
    result = cli("explain", "-d", norm_dsn, "--queryid", queryid)
    assert result.exit_code == 2 and 'relation "norm_gone" does not exist' in result.stderr
    assert "not in this database (dropped or renamed" in result.stderr
    # the bound statement explains: a generic plan with $1 typed as the error named it
    done = cli.json("explain", "-d", norm_dsn, "--no-analyze", "--queryid", _normalized(norm_dsn, BOUND_TEXT)[0])
    assert done["statements"][0]["generic_plan"] and done["statements"][0]["sql"].endswith("> $1 - $2::interval")
    # the normalized interval entry itself now explains (generic plan)
    interval_id, _ = _normalized(norm_dsn, "now() - interval $")
    result = cli("explain", "-d", norm_dsn, "--queryid", interval_id, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "$1::interval" in json.loads(result.stdout)["statements"][0]["sql"]
    assert f"queryid {interval_id}: rewritten so PREPARE accepts it: interval $1 → $1::interval" in result.stderr


def test_a_huge_placeholder_number_plans_at_once(cli, norm_dsn: str) -> None:
    """`= $70000` once stalled explain for > 90 s (70,000 PREPARE retries of 70,000 parameters)."""
    done = cli.json("explain", "-d", norm_dsn, "--no-analyze", "--sql", "SELECT id FROM norm_orders WHERE customer_id = $70000")
    assert done["statements"][0]["sql"].endswith("customer_id = $1")
    doc = cli.json("advise", "-d", norm_dsn, "--no-write", "--sql", "SELECT id FROM norm_orders WHERE customer_id = $70000")
    assert [r["columns"] for r in doc["recommendations"]] == [["customer_id"]] and not doc["skipped"]


def test_a_workload_file_with_unspaced_in_lists(cli, norm_dsn: str, tmp_path) -> None:
    workload = tmp_path / "w.sql"
    workload.write_text(
        "-- name: by_customers\n-- params: [1, 2, 3]\nSELECT id FROM norm_orders WHERE customer_id IN ($1,$2,$3);\n"
        "-- name: by_ref\nSELECT id FROM norm_orders WHERE ref = uuid $1;\n"
    )
    doc = cli.json("advise", "-d", norm_dsn, "--no-write", "--workload", workload)
    assert not doc["skipped"]
    helped = {s["name"]: rec["columns"] for rec in doc["recommendations"] for s in rec["statements"]}
    assert helped == {"by_customers": ["customer_id"], "by_ref": ["ref"]}


def test_log_workload_keeps_the_bound_values(cli, pg_cluster, norm_dsn: str, tmp_path) -> None:
    """An application binding parameters (extended protocol): advise --log costs it with the logged values."""
    from qprof.advise.workload_source import from_logs

    pg_cluster.psql("ALTER DATABASE normalize SET log_min_duration_statement = 0")
    start = pg_cluster.logfile.stat().st_size
    try:
        with psycopg.connect(norm_dsn, autocommit=True) as conn:
            for customer in (4242, 4243):
                conn.execute("SELECT id FROM norm_orders WHERE customer_id = %s AND ship_date > date '2026-01-02'", (customer,))
    finally:
        pg_cluster.psql("ALTER DATABASE normalize RESET log_min_duration_statement")
    log = tmp_path / "server.log"
    with pg_cluster.logfile.open("rb") as handle:
        handle.seek(start)
        log.write_bytes(handle.read())
    (statement,) = [s for s in from_logs([log]) if "norm_orders" in s.sql]
    assert statement.calls == 2 and statement.mean_ms is not None
    # the bound value and the literal, both as parameters: the workload's own values, none in the text
    assert statement.sql == "SELECT id FROM norm_orders WHERE customer_id = $1 AND ship_date > date $2"
    assert statement.params == ["4242", "2026-01-02"]
    doc = cli.json("advise", "-d", norm_dsn, "--no-write", "--log", log)
    assert "customer_id" in [r["columns"][0] for r in doc["recommendations"]]


def test_unspaced_in_lists_on_sqlite_too(cli, sample_sqlite, tmp_path) -> None:
    workload = tmp_path / "w.sql"
    workload.write_text("-- name: few_customers\n-- params: [3, 5, 7]\nSELECT id FROM orders WHERE customer_id IN ($1,$2,$3);\n")
    doc = cli.json("advise", "-d", sample_sqlite, "--no-write", "--workload", workload)
    assert not doc["skipped"]
    assert [(r["columns"], [s["name"] for s in r["statements"]]) for r in doc["recommendations"]] == [(["customer_id"], ["few_customers"])]


# --- failure cases found in review ---------------------------------------------------------------


def _target(dsn: str):
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    return open_target(parse_target(dsn))


def _logged(pg_cluster, dsn: str, statements: list[str], tmp_path) -> object:
    """The server log lines the statements produce (log_min_duration_statement = 0), as a file."""
    pg_cluster.psql("ALTER DATABASE normalize SET log_min_duration_statement = 0")
    start = pg_cluster.logfile.stat().st_size
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for sql in statements:
                conn.execute(sql)
    finally:
        pg_cluster.psql("ALTER DATABASE normalize RESET log_min_duration_statement")
    log = tmp_path / "server.log"
    with pg_cluster.logfile.open("rb") as handle:
        handle.seek(start)
        log.write_bytes(handle.read())
    return log


def test_non_ascii_text_keeps_every_offset() -> None:
    assert parametrize("SELECT count(*) FROM orders WHERE status <> 'éé' AND customer_id IN (5,6)") == (
        "SELECT count(*) FROM orders WHERE status <> $1 AND customer_id IN ($2,$3)",
        ["éé", 5, 6],
    )
    assert parametrize("SELECT count(*) FROM orders WHERE status <> 'é' AND customer_id IN (5,6)")[0].endswith("customer_id IN ($2,$3)")
    text, values = parametrize("/* ctl='😀' */ SELECT \"naïve\", '🙂x' FROM t WHERE \"größe\" = 'ß' AND n IN (1,2)")
    assert text == '/* ctl=\'😀\' */ SELECT "naïve", $1 FROM t WHERE "größe" = $2 AND n IN ($3,$4)'
    assert values == ["🙂x", "ß", 1, 2]
    assert plannable(
        "/* controller='café' 😀 */ SELECT 1 FROM t WHERE \"naïve\" > now() - interval $1 "
        "AND x = ANY(ARRAY[$2,$3]) AND extract($4 FROM c) = 1 AND extract(hour FROM $5) = 2"
    ).sql == (
        "/* controller='café' 😀 */ SELECT 1 FROM t WHERE \"naïve\" > now() - $1::interval "
        "AND x IN ($2, $3) AND date_part($4 , c) = 1 AND extract(hour FROM $5::timestamptz) = 2"
    )
    assert cast_placeholder_arrays("SELECT '🙂' FROM t WHERE tags && ARRAY[$1, $2]", "integer[]") == (
        "SELECT '🙂' FROM t WHERE tags && ARRAY[$1, $2]::integer[]"
    )


def test_non_ascii_statements_plan_and_run_with_their_values(norm_dsn: str) -> None:
    from qprof.plans.postgres import estimate_cost, explain_postgres

    _, text = _normalized(norm_dsn, "controller='café'")
    assert "$1::interval" in plannable(text).sql  # was left as `interval $1` and skipped
    literal = "SELECT id FROM norm_orders WHERE status <> 'éé' AND customer_id IN (5,6)"
    sql, values = parametrize(literal)
    with _target(norm_dsn) as target:
        assert estimate_cost(target, text) > 0
        expected = target.fetch_value(f"SELECT count(*) FROM ({literal}) s")
        assert expected > 0
        assert explain_postgres(target, sql, values).root.actual_rows == expected


# A literal's meaning depends on its type as written: each logged form must run as it ran.
TYPED_LITERALS = [
    "SELECT id FROM norm_orders WHERE ship_date > date '2026-10-20' - interval '5' day",
    "SELECT id FROM norm_orders WHERE ship_date > date '2026-10-20' - interval '36:00' hour to minute",
    "SELECT id FROM norm_orders WHERE status = character 'paid'",  # not char(1): 'p'
    "SELECT id FROM norm_orders WHERE customer_id::bit(3) = bit '101'",  # not bit(1): '1'
    "SELECT id FROM norm_orders WHERE customer_id::bit(3)::bit varying = bit varying '101'",
]


@pytest.mark.parametrize("literal", TYPED_LITERALS)
def test_typed_literals_keep_their_value_when_parametrized(norm_dsn: str, literal: str) -> None:
    from qprof.plans.postgres import explain_postgres

    sql, values = parametrize(literal)
    assert "'" not in sql
    with _target(norm_dsn) as target:
        expected = target.fetch_value(f"SELECT count(*) FROM ({literal}) s")
        assert expected > 0
        assert explain_postgres(target, sql, values).root.actual_rows == expected, plannable(sql).sql


def test_explain_interval_with_fields_reads_the_value_with_them(cli, norm_dsn: str) -> None:
    sql = "SELECT count(*) FROM norm_orders WHERE created_at > now() - interval $1 minute"
    result = cli("explain", "-d", norm_dsn, "--no-analyze", "--sql", sql, "--params", '["5"]', "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["statements"][0]["sql"].endswith("now() - $1::interval minute")  # the value not in the text
    assert "'00:05:00'::interval" in result.stdout and "'00:00:00'" not in result.stdout


def test_a_comment_between_type_and_placeholder_stays_out_of_the_cast(norm_dsn: str) -> None:
    from qprof.plans.postgres import estimate_cost

    sql = "SELECT count(*) FROM norm_orders WHERE ship_date = date -- period start\n$1 AND status = $2"
    assert plannable(sql).sql == "SELECT count(*) FROM norm_orders WHERE ship_date = $1::date AND status = $2"
    with _target(norm_dsn) as target:
        assert estimate_cost(target, sql) > 0


def test_no_logged_literal_reaches_text_or_migrations(cli, pg_cluster, norm_dsn: str, tmp_path) -> None:
    """Values from the log are used as values only: the printed text and the migration headers have $n."""
    from qprof.advise.workload_source import from_logs

    pg_cluster.psql("DROP ROLE IF EXISTS norm_role; CREATE ROLE norm_role")
    log = _logged(
        pg_cluster,
        norm_dsn,
        [
            "SELECT id, md5(status || 'S3cr3tPepperKey') AS token FROM norm_orders WHERE customer_id = 4244",
            "SELECT id, 'k' AS password_hint FROM norm_orders WHERE customer_id = 4245",  # no secret: keeps its values
            "ALTER ROLE norm_role PASSWORD 'Sup3rS3cretPw'",
            "SELECT count(*) FROM norm_orders WHERE tags && ARRAY[11, 12]",  # int4[] as logged, not smallint[]
            (
                "SELECT id, 'a' AS k FROM norm_orders WHERE customer_id = 4246 UNION ALL SELECT id, 'b' FROM norm_orders WHERE customer_id = 4247"
            ),  # UNION branches' select lists
        ],
        tmp_path,
    )
    statements = {s.sql: s for s in from_logs([log])}
    for secret in ("S3cr3tPepperKey", "Sup3rS3cretPw", "u5@x"):
        assert not any(secret in sql for sql in statements), secret
    pepper = next(s for s in statements.values() if "md5(status || $1)" in s.sql)
    assert pepper.params == ["S3cr3tPepperKey", 4244]  # the value, used as a value
    assert next(s for s in statements.values() if "password_hint" in s.sql).params == ["k", 4245]
    from qprof.plans.postgres import explain_postgres

    with _target(norm_dsn) as target:  # each plans with the logged values (no smallint[], no smallint UNION)
        for fragment in ("tags && ARRAY[$1, $2]", "UNION ALL SELECT id, $"):
            logged = next(s for s in statements.values() if fragment in s.sql)
            assert explain_postgres(target, logged.sql, logged.params, analyze=False).total_cost > 0, logged.sql
    out = tmp_path / "migrations"
    result = cli("advise", "-d", norm_dsn, "--log", log, "--out", out, "--format", "json")
    assert result.exit_code == 0, result.stderr
    written = "".join(path.read_text() for path in out.rglob("*") if path.is_file())
    assert written and "md5(status || $1)" in written
    for secret in ("S3cr3tPepperKey", "Sup3rS3cretPw"):
        assert secret not in written and secret not in result.stdout and secret not in result.stderr
    doc = json.loads(result.stdout)
    not_costed = [s["statement"] for s in doc["skipped"] if s["not_costed"]]
    assert not any("tags &&" in s or "UNION" in s for s in not_costed), not_costed


def test_workload_values_that_do_not_plan_fall_back_to_a_generic_plan(cli, norm_dsn: str, tmp_path) -> None:
    workload = tmp_path / "w.sql"
    workload.write_text('-- name: odd_value\n-- params: ["abc"]\nSELECT id FROM norm_orders WHERE customer_id = $1;\n')
    doc = cli.json("advise", "-d", norm_dsn, "--no-write", "--workload", workload)
    assert not [s for s in doc["skipped"] if s["not_costed"]]
    assert [r["columns"] for r in doc["recommendations"]] == [["customer_id"]]


def test_offset_guess_only_for_the_statements_own_offset(norm_dsn: str) -> None:
    from qprof.params import DEFAULT_LIMIT, infer_parameters

    sql = "SELECT id FROM (SELECT id FROM norm_orders WHERE customer_id = $1 ORDER BY id LIMIT $2 OFFSET $3) s ORDER BY id LIMIT $4 OFFSET $5"
    with _target(norm_dsn) as target:
        inferred = infer_parameters(target, sql)
        assert inferred is not None
        assert inferred.values[2] == 0 and "in a subquery" in inferred.sources[2]
        assert inferred.values[1] == DEFAULT_LIMIT
        # the outer OFFSET: 10 % of the rows the subquery yields — at most its own LIMIT 10, not its input
        guess = re.match(r"OFFSET (\d+): 10% of the (\d+) rows estimated", inferred.sources[4])
        assert guess is not None, inferred.sources[4]
        assert 0 < int(guess[2]) <= DEFAULT_LIMIT and inferred.values[4] == int(guess[1]) == int(int(guess[2]) * 0.1)
        fetch = infer_parameters(target, "SELECT id FROM norm_orders WHERE customer_id = $1 ORDER BY id FETCH FIRST $2 ROWS ONLY")
        assert fetch is not None and fetch.values[1] == DEFAULT_LIMIT and fetch.sources[1].startswith("LIMIT default")


def test_forms_only_postgres_parses_explain_and_get_a_matching_hint(cli, norm_dsn: str) -> None:
    from qprof.pgtext import skip_hint

    for sql in (
        "SELECT count(*) FROM norm_orders WHERE now() - created_at < interval $1 second(2)",
        "SELECT count(*) FROM norm_orders WHERE customer_id::bit(3)::bit varying = bit varying $1",
    ):
        result = cli("explain", "-d", norm_dsn, "--no-analyze", "--sql", sql)
        assert result.exit_code == 0, result.stderr
        assert "qprof's SQL analyzer does not" in skip_hint(sql, "unparseable: cannot parse SQL: …", "42")
    assert skip_hint("SELECT 1 FROM t WHERE a = $1", "explain failed: …", "42") == ("qprof explain --queryid 42, or --sql with literal values")
    result = cli("explain", "-d", norm_dsn, "--sql", "ALTER ROLE norm_role PASSWORD 'x'")
    assert result.exit_code == 2 and "literal values" not in result.stderr
    with psycopg.connect(norm_dsn, autocommit=True) as conn:  # a utility statement in pg_stat_statements
        conn.execute("SET work_mem = '8MB'")
    result = cli("explain", "-d", norm_dsn, "--queryid", _normalized(norm_dsn, "SET work_mem")[0])
    assert result.exit_code == 2 and "statements are not explained" in result.stderr
    assert "literal values" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        ("SELECT id FROM norm_orders WHERE id = $0", "[]", "there is no parameter $0"),
        ("SELECT id FROM norm_orders WHERE id = $0", "[5]", "there is no parameter $0"),
        ("SELECT id FROM norm_orders WHERE id = $2", "[5]", "uses $2 but 1 value(s) were given"),
    ],
)
def test_parameter_numbers_postgres_refuses_are_refused(cli, norm_dsn: str, sql: str, params: str, message: str) -> None:
    result = cli("explain", "-d", norm_dsn, "--sql", sql, "--params", params)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_grouped_expressions_share_a_parameter_and_where_literals_do_not(norm_dsn: str) -> None:
    from qprof.plans.postgres import explain_postgres

    literal = (
        "SELECT date_trunc('day', created_at), count(*) FROM norm_orders WHERE ref::text = 'x' "
        "AND status <> 'x' AND customer_id = 77 GROUP BY date_trunc('day', created_at) ORDER BY 1"
    )
    sql, values = parametrize(literal)
    assert sql == (
        "SELECT date_trunc($1, created_at), count(*) FROM norm_orders WHERE ref::text = $2 "
        "AND status <> $3 AND customer_id = $4 GROUP BY date_trunc($1, created_at) ORDER BY 1"
    )
    with _target(norm_dsn) as target:
        assert explain_postgres(target, sql, values).root.node_type  # plans: GROUP BY matches the select list
        # numbers from --params or a workload file bind as int4, as the literal would: int[] && int[]
        plan = explain_postgres(target, "SELECT count(*) FROM norm_orders WHERE tags && ARRAY[$1, $2]", [1, 2])
        assert plan.root.actual_rows == 1


def test_timed_runs_read_interval_values_with_their_fields(cli, norm_dsn: str) -> None:
    """--runs executes the statement itself: the same value as the plan, not 5 seconds truncated to 0."""
    sql = "SELECT id FROM norm_orders WHERE ship_date > date '2026-10-20' - interval $1 day"
    doc = cli.json("explain", "-d", norm_dsn, "--sql", sql, "--params", '["5"]', "--runs", "2")
    with _target(norm_dsn) as target:
        expected = target.fetch_value("SELECT count(*) FROM norm_orders WHERE ship_date > date '2026-10-15'")
    statement = doc["statements"][0]
    assert statement["plan"]["root"]["actual_rows"] == expected, statement["plan"]["root"]
    assert statement["timing"]["runs"] == 2
    # what time_runs sends: the executed statement returns the rows the literal form returns
    from qprof.plans.postgres import bindable

    with _target(norm_dsn) as target:
        text, values = bindable(target, plannable(sql).sql, ["5"])
        assert target.execute_timed(text, values, modifying=False).rows == expected
        assert target.execute_timed(plannable(sql).sql, ["5"], modifying=False).rows != expected  # as it was
