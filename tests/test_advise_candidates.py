"""Candidate extraction (sqlglot): resolution through aliases, ordinals, directions, both dialects."""

from __future__ import annotations

import pytest

from qprof.advise.candidates import Analyzer, candidates_for
from qprof.advise.catalog import load_catalog
from qprof.conninfo import parse_target
from qprof.targets import open_target


@pytest.fixture(scope="module")
def sqlite_catalog(sample_sqlite):
    with open_target(parse_target(str(sample_sqlite))) as target:
        return load_catalog(target)


def shapes(catalog, sql: str) -> set[tuple[str, tuple[str, ...]]]:
    analysis = Analyzer(catalog).analyze(sql)
    return {(c.table, tuple(c.columns)) for c in candidates_for(catalog, analysis)}


def uses(catalog, sql: str) -> dict[str, dict]:
    analysis = Analyzer(catalog).analyze(sql)
    return {
        u.relation.name: {"eq": u.equality, "range": u.ranges, "join": u.joins, "sort": [k.label() for k in u.sort], "group": u.group} for u in analysis.uses
    }


def test_order_by_ordinal_alias_and_mixed_directions(sqlite_catalog):
    found = uses(sqlite_catalog, "SELECT status AS s, created_at FROM orders o WHERE o.customer_id = 1 ORDER BY 1 DESC, created_at")
    assert found["orders"]["sort"] == ["status DESC", "created_at"]
    # minimal form: mixed directions kept relative to the first sort key (a B-tree scans both ways)
    assert ("orders", ("customer_id", "status", "created_at DESC")) in shapes(
        sqlite_catalog, "SELECT status AS s, created_at FROM orders o WHERE o.customer_id = 1 ORDER BY s DESC, created_at"
    )


def test_ranges_in_lists_group_by_and_join_keys(sqlite_catalog):
    found = uses(
        sqlite_catalog,
        "SELECT c.country, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id "
        "WHERE o.status IN ('a', 'b') AND o.created_at BETWEEN '2024-01-01' AND '2024-02-01' GROUP BY c.country",
    )
    assert found["orders"] == {"eq": ["status"], "range": ["created_at"], "join": ["customer_id"], "sort": [], "group": []}
    assert found["customers"]["join"] == ["id"] and found["customers"]["group"] == ["country"]
    assert ("orders", ("status", "customer_id", "created_at")) in shapes(
        sqlite_catalog,
        "SELECT 1 FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.status IN ('a', 'b') AND o.created_at > '2024-01-01'",
    )


def test_at_most_three_columns_equality_first(sqlite_catalog):
    found = shapes(sqlite_catalog, "SELECT 1 FROM orders WHERE customer_id = 1 AND status = 'x' AND total_cents = 3 AND created_at > '2024'")
    assert all(len(columns) <= 3 for _, columns in found)
    for _, columns in found:
        if "created_at" in columns:
            assert columns.index("created_at") == len(columns) - 1


def test_functions_on_columns_and_same_row_comparisons_are_not_indexable(sqlite_catalog):
    assert uses(sqlite_catalog, "SELECT 1 FROM orders WHERE lower(status) = 'x' AND total_cents = id") == {}


def test_correlated_subquery_and_exists(sqlite_catalog):
    found = uses(
        sqlite_catalog,
        "SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.status = 'x')",
    )
    assert found["orders"]["join"] == ["customer_id"] and found["orders"]["eq"] == ["status"]


def test_sqlite_names_are_case_insensitive(sqlite_catalog):
    assert ("orders", ("customer_id",)) in shapes(sqlite_catalog, "SELECT ID FROM ORDERS WHERE Customer_Id = 3")


def test_insert_values_has_no_candidates_but_counts_as_a_write(sqlite_catalog):
    analysis = Analyzer(sqlite_catalog).analyze("INSERT INTO execution_log (case_id, outcome, duration_ms, executed_at) VALUES (1, 'x', 2, 'y')")
    assert analysis.uses == [] and analysis.inserts_into == {("main", "execution_log")}


def test_update_records_the_columns_it_sets(sqlite_catalog):
    analysis = Analyzer(sqlite_catalog).analyze("UPDATE case_bank SET usage_count = usage_count + 1 WHERE id = 7")
    assert analysis.updated_columns == {("main", "case_bank"): {"usage_count"}}


def test_locking_clause_names_an_alias_not_a_table(app_dsn):
    """PostgreSQL's foreign-key checks run `… FROM ONLY t x WHERE … FOR KEY SHARE OF x` (track = all)."""
    with open_target(parse_target(app_dsn)) as target:
        catalog = load_catalog(target)
    found = uses(catalog, 'SELECT 1 FROM ONLY "public"."case_bank" x WHERE "id" = $1 AND "status" = $2 FOR KEY SHARE OF x')
    assert found["case_bank"]["eq"] == ["id", "status"]


def test_minimal_directions_single_desc_needs_none(sqlite_catalog):
    found = shapes(sqlite_catalog, "SELECT id FROM orders WHERE customer_id = 1 ORDER BY created_at DESC")
    assert ("orders", ("customer_id", "created_at")) in found
    assert not any(" DESC" in column for _, columns in found for column in columns)


def test_self_joined_cte_with_nested_bodies_resolves_each_scope_once(sqlite_catalog):
    """TPC-DS q39/q75 shape: a CTE over nested subqueries and UNIONs, joined to itself. Without
    memoized resolution this took exponential time in the nesting."""
    body = "SELECT customer_id, status, created_at FROM orders WHERE status = 'x'"
    for _ in range(8):
        body = f"SELECT customer_id, status, created_at FROM ({body} UNION ALL {body}) AS u WHERE customer_id > 0"
    sql = (
        f"WITH c AS ({body}) SELECT a.customer_id FROM c a JOIN c b ON a.customer_id = b.customer_id "
        "JOIN c d ON d.customer_id = b.customer_id WHERE a.status = 'y' ORDER BY a.created_at"
    )
    analyzer = Analyzer(sqlite_catalog)
    analysis = analyzer.analyze(sql)
    assert any(u.relation.name == "orders" and u.equality == ["status"] for u in analysis.uses)
    assert analyzer.work < 20_000


def test_a_condition_every_or_branch_has_is_pulled_out_as_postgres_does(sqlite_catalog):
    """TPC-H q19's shape: the join key sits in each branch of an OR; PostgreSQL plans it as a join
    (find_duplicate_ors), so the join column needs its candidate like any other join key."""
    sql = (
        "SELECT sum(o.total_cents) FROM orders o, customers c WHERE "
        "(c.id = o.customer_id AND c.country = 'a' AND o.status = 'x') OR "
        "(c.id = o.customer_id AND c.country = 'b' AND o.status = 'y')"
    )
    found = uses(sqlite_catalog, sql)
    assert found["orders"]["join"] == ["customer_id"] and found["customers"]["join"] == ["id"]
    assert ("orders", ("customer_id",)) in shapes(sqlite_catalog, sql)
    # not common to every branch: nothing is pulled out
    partial = uses(sqlite_catalog, "SELECT 1 FROM orders o, customers c WHERE (c.id = o.customer_id AND o.status = 'x') OR (o.status = 'y')")
    assert not partial.get("orders", {}).get("join")
