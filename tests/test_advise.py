"""qprof advise: behaviour on the sample schema with real PostgreSQL (HypoPG what-if)."""

from __future__ import annotations

import pytest

from qprof.advise.generator import index_name
from qprof.advise.candidates import Candidate, Key

pytestmark = pytest.mark.postgres

EXTRA_DDL = """
CREATE TABLE pairs (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL, doc json, filler text);
INSERT INTO pairs SELECT i, i % 500, (i / 500) % 400, '{}'::json, repeat('x', 40) FROM generate_series(1, 100000) AS i;
CREATE VIEW v_orders AS SELECT id, customer_id AS cust, status FROM orders;
CREATE SCHEMA "Sales";
CREATE TABLE "Sales"."BigOrders" ("Id" int PRIMARY KEY, "CustomerId" int NOT NULL, "Note" text);
INSERT INTO "Sales"."BigOrders" SELECT i, i % 3000, 'n' FROM generate_series(1, 60000) AS i;
CREATE TABLE events (id int NOT NULL, kind int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2024a PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
CREATE TABLE events_2024b PARTITION OF events FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');
INSERT INTO events SELECT i, i % 2000, date '2024-01-01' + (i % 360) FROM generate_series(1, 80000) AS i;
ANALYZE;
"""


@pytest.fixture(scope="module")
def adv_dsn(pg_cluster) -> str:
    """The sample at test scale plus tables for the shapes the sample lacks; this module's own database."""
    from qprof.sample_dbs import load_postgres

    dsn = pg_cluster.create_database("advbeh", extensions=("pg_stat_statements", "hypopg"))
    load_postgres(dsn, scale=0.02)
    pg_cluster.psql(EXTRA_DDL, dbname="advbeh")
    return dsn


def advise(cli, dsn: str, *sqls: str, extra: tuple[str, ...] = ()) -> dict:
    args = ["advise", "-d", dsn, "--no-write", *extra]
    for sql in sqls:
        args += ["--sql", sql]
    return cli.json(*args)


def shapes(document: dict) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((r["table"], tuple(r["columns"])) for r in document["recommendations"])


def test_equality_lookup_gets_a_single_column_index(cli, adv_dsn):
    doc = advise(cli, adv_dsn, "SELECT id, status FROM orders WHERE customer_id = 42")
    assert shapes(doc) == [("public.orders", ("customer_id",))]
    rec = doc["recommendations"][0]
    assert rec["ddl"] == 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_customer_id_idx" ON "public"."orders" ("customer_id");'
    assert rec["drop_ddl"] == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_customer_id_idx";'
    statement = rec["statements"][0]
    assert statement["cost_after"] < statement["cost_before"]
    assert set(doc["summary"]) >= {"statements", "whatif_calls", "cache_hits", "workload_cost_before", "workload_cost_after", "seconds"}
    assert doc["summary"]["whatif_calls"] > 0


def test_two_anded_equalities_get_one_two_column_index(cli, adv_dsn):
    doc = advise(cli, adv_dsn, "SELECT * FROM pairs WHERE a = 7 AND b = 3")
    assert len(doc["recommendations"]) == 1
    assert set(doc["recommendations"][0]["columns"]) == {"a", "b"}


def test_equality_plus_order_by_limit_gets_eq_then_sort_column(cli, adv_dsn):
    # The minimal form: a B-tree is scanned backwards for ORDER BY b DESC, so no DESC key is needed.
    doc = advise(cli, adv_dsn, "SELECT * FROM pairs WHERE a = 7 ORDER BY b DESC LIMIT 5")
    assert shapes(doc) == [("public.pairs", ("a", "b"))]
    assert '("a", "b")' in doc["recommendations"][0]["ddl"]


def test_join_inner_side_filtered_by_foreign_key(cli, adv_dsn):
    doc = advise(
        cli,
        adv_dsn,
        "SELECT o.id, o.total_cents FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.email = 'customer42@example.com'",
    )
    assert shapes(doc) == [("public.orders", ("customer_id",))]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("UPDATE audio_generations SET status = 'done' WHERE task_id = 'abc'", ("public.audio_generations", ("task_id",))),
        ("DELETE FROM execution_log WHERE case_id = 7", ("public.execution_log", ("case_id",))),
    ],
)
def test_update_and_delete_get_their_filter_column(cli, adv_dsn, sql, expected):
    assert shapes(advise(cli, adv_dsn, sql)) == [expected]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM v_orders WHERE cust = 42",
        "WITH x AS (SELECT * FROM orders) SELECT id FROM x WHERE customer_id = 42",
        "WITH x AS NOT MATERIALIZED (SELECT id, customer_id AS c FROM orders) SELECT id FROM x WHERE c = 42",
        "SELECT id FROM (SELECT id, customer_id FROM orders) AS sub WHERE sub.customer_id = 42",
    ],
)
def test_view_cte_and_subquery_resolve_to_the_base_table(cli, adv_dsn, sql):
    assert shapes(advise(cli, adv_dsn, sql)) == [("public.orders", ("customer_id",))]


def test_materialized_cte_fences_the_outer_filter(cli, adv_dsn):
    doc = advise(cli, adv_dsn, "WITH x AS MATERIALIZED (SELECT * FROM orders) SELECT id FROM x WHERE customer_id = 42")
    assert doc["recommendations"] == []


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, name FROM customers WHERE email = 'customer42@example.com'",  # customers_email_key
        "SELECT * FROM orders",  # no predicate
        "SELECT count(*) FROM orders",
    ],
)
def test_nothing_to_recommend(cli, adv_dsn, sql):
    assert advise(cli, adv_dsn, sql)["recommendations"] == []


def test_placeholder_statement_gets_the_same_advice_as_its_literal_twin(cli, adv_dsn):
    literal = advise(cli, adv_dsn, "SELECT id FROM audio_generations WHERE content_id = 12 ORDER BY created_at DESC")
    placeholder = advise(cli, adv_dsn, "SELECT id FROM audio_generations WHERE content_id = $1 ORDER BY created_at DESC")
    assert shapes(literal) == shapes(placeholder) != []


def test_mixed_case_quoted_schema_and_table(cli, adv_dsn, pg_cluster):
    doc = advise(cli, adv_dsn, 'SELECT "Note" FROM "Sales"."BigOrders" WHERE "CustomerId" = 5')
    assert shapes(doc) == [("Sales.BigOrders", ("CustomerId",))]
    rec = doc["recommendations"][0]
    assert 'ON "Sales"."BigOrders" ("CustomerId")' in rec["ddl"]
    # The DDL runs as written, and its down step removes the index again.
    pg_cluster.psql(rec["ddl"] + "\n" + rec["drop_ddl"], dbname="advbeh")


def test_partitioned_table_is_advised_on_the_parent(cli, adv_dsn):
    doc = advise(cli, adv_dsn, "SELECT id FROM events WHERE kind = 3")
    assert shapes(doc) == [("public.events", ("kind",))]


def test_statements_sharing_columns_share_indexes(cli, adv_dsn):
    sqls = [
        "SELECT id FROM orders WHERE customer_id = 1",
        "SELECT count(*) FROM orders WHERE customer_id = 2",
        "SELECT total_cents FROM orders WHERE customer_id = 3 AND total_cents > 0",
        "SELECT id, status FROM audio_generations WHERE task_id = 'x'",
        "UPDATE audio_generations SET duration_ms = 1 WHERE task_id = 'y'",
        "SELECT count(*) FROM audio_generations WHERE task_id = 'z'",
    ]
    doc = advise(cli, adv_dsn, *sqls)
    recs = doc["recommendations"]
    assert 0 < len(recs) < len(sqls)
    assert all(len(r["statements"]) >= 2 for r in recs)
    assert {r["table"] for r in recs} == {"public.orders", "public.audio_generations"}


def test_unusable_statements_are_skipped_with_a_reason_and_the_run_goes_on(cli, adv_dsn):
    doc = advise(
        cli,
        adv_dsn,
        "SELEC nonsense FROM",
        "SELECT * FROM no_such_table WHERE x = 1",
        "SELECT relname FROM pg_catalog.pg_class WHERE relname = 'x'",
        "SELECT 1",
        "SELECT id FROM orders WHERE customer_id = 42",
    )
    reasons = [s["reason"] for s in doc["skipped"]]
    assert len(reasons) == 4
    assert reasons[0].startswith("unparseable")
    assert reasons[1].startswith("table missing")
    assert reasons[2] == "only catalog tables"
    assert reasons[3] == "no tables"
    assert shapes(doc) == [("public.orders", ("customer_id",))]


def test_budget_and_max_indexes_limit_the_selection(cli, adv_dsn):
    sqls = ["SELECT id FROM orders WHERE customer_id = 1", "SELECT id FROM audio_generations WHERE task_id = 'x'", "SELECT id FROM pairs WHERE a = 3"]
    assert len(advise(cli, adv_dsn, *sqls)["recommendations"]) == 3
    assert len(advise(cli, adv_dsn, *sqls, extra=("--max-indexes", "1"))["recommendations"]) == 1
    assert advise(cli, adv_dsn, *sqls, extra=("--budget", "8kB"))["recommendations"] == []


def test_workload_from_pg_stat_statements_uses_queryids_and_calls(cli, app_dsn):
    doc = cli.json("advise", "-d", app_dsn, "--no-write", "--min-calls", "2")
    assert doc["source"] == "pg_stat_statements"
    tables = {r["table"] for r in doc["recommendations"]}
    assert "public.orders" in tables and "public.audio_generations" in tables
    for rec in doc["recommendations"]:
        for statement in rec["statements"]:
            assert statement["queryid"] and statement["calls"] >= 2


def test_hypothetical_indexes_are_reset_even_after_an_error(adv_dsn):
    from qprof.advise.advisor import analyze_statements
    from qprof.advise.catalog import load_catalog
    from qprof.advise.whatif import HypoPGWhatIf
    from qprof.advise.workload_source import from_sql_texts
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    with open_target(parse_target(adv_dsn)) as target:
        catalog = load_catalog(target)
        statements = analyze_statements(catalog, from_sql_texts(["SELECT id FROM orders WHERE customer_id = 1"]), [])
        statement = statements[0]
        candidate = Candidate("public", "orders", (Key("customer_id"),))
        whatif = HypoPGWhatIf(target, catalog)
        with pytest.raises(RuntimeError):
            with whatif:
                before = whatif.cost(statement, ())
                after = whatif.cost(statement, [candidate])
                assert after < before
                assert whatif.cost(statement, [candidate]) == after
                assert (whatif.calls, whatif.cache_hits) == (2, 1)
                assert target.fetch_value("SELECT count(*) FROM hypopg_list_indexes") == 1
                raise RuntimeError("boom")
        assert target.fetch_value("SELECT count(*) FROM hypopg_list_indexes") == 0


def test_index_names_are_readable_deterministic_and_short():
    plain = Candidate("public", "orders", (Key("customer_id"), Key("created_at", True)))
    assert index_name(plain) == "orders_customer_id_created_at_desc_idx"
    long = Candidate("public", "a_really_long_table_name_for_testing", (Key("first_long_column_name"), Key("second_long_column_name"), Key("third")))
    name = index_name(long)
    assert len(name.encode()) <= 63 and name == index_name(long) and name.endswith("_idx")
    assert index_name(plain, {"orders_customer_id_created_at_desc_idx"}) != "orders_customer_id_created_at_desc_idx"


def test_types_without_a_btree_opclass_are_skipped(adv_dsn):
    from qprof.advise.candidates import Analyzer, candidates_for
    from qprof.advise.catalog import load_catalog
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    with open_target(parse_target(adv_dsn)) as target:
        catalog = load_catalog(target)
    assert catalog.relations[("public", "pairs")].columns["doc"].btree_ok is False
    assert catalog.relations[("public", "pairs")].columns["filler"].btree_ok is True
    analysis = Analyzer(catalog).analyze("SELECT id FROM pairs WHERE doc IS NULL AND a = 1")
    found = {tuple(c.columns) for c in candidates_for(catalog, analysis)}
    assert ("a",) in found and not any("doc" in columns for columns in found)
