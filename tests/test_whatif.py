"""What-if costing (qprof.advise.whatif) on real databases: HypoPG's hypothetical indexes and a
real build rolled back on the private PostgreSQL cluster, and the scratch copy of a real SQLite
file. Each evaluator must say an index helps the statement it serves, leave nothing behind, and
never touch what the application sees."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from qprof.advise.advisor import analyze_statements
from qprof.advise.candidates import Candidate, Key
from qprof.advise.catalog import load_catalog
from qprof.advise.workload_source import AdviseStatement, from_sql_texts
from qprof.conninfo import parse_target
from qprof.targets import open_target

SCHEMA = """
CREATE TABLE w_orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, filler text);
INSERT INTO w_orders SELECT i, i % 5000, CASE WHEN i % 10 = 0 THEN 'open' ELSE 'done' END, repeat('x', 60)
  FROM generate_series(1, 100000) AS i;
CREATE TABLE w_notes (id int PRIMARY KEY, body text);
INSERT INTO w_notes SELECT i, 'n' || i FROM generate_series(1, 1000) AS i;
ANALYZE;
"""
LOOKUP = "SELECT id, status FROM w_orders WHERE customer_id = 42"
BY_CUSTOMER = Candidate("public", "w_orders", (Key("customer_id"),))
ELSEWHERE = Candidate("public", "w_notes", (Key("body"),))


@pytest.fixture(scope="module")
def whatif_dsn(pg_cluster) -> str:
    dsn = pg_cluster.create_database("whatif", extensions=("hypopg",))
    pg_cluster.psql(SCHEMA, dbname="whatif")
    return dsn


def _analyzed(catalog, *sqls: str) -> list[AdviseStatement]:
    statements = analyze_statements(catalog, from_sql_texts(list(sqls)), [])
    assert len(statements) == len(sqls)
    return statements


def _index_names(target) -> list[str]:
    rows = target.fetch_all("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
    return [row["indexname"] for row in rows]


def test_hypopg_prices_the_index_that_serves_the_statement(whatif_dsn: str) -> None:
    from qprof.advise.whatif import HypoPGWhatIf

    with open_target(parse_target(whatif_dsn)) as target:
        catalog = load_catalog(target)
        [statement] = _analyzed(catalog, LOOKUP)
        assert BY_CUSTOMER in statement.candidates
        real_before = _index_names(target)
        with HypoPGWhatIf(target, catalog) as whatif:
            without = whatif.cost(statement, ())
            with_index = whatif.cost(statement, [BY_CUSTOMER])
            assert with_index * 10 < without  # a seq scan of 100,000 rows against an index lookup
            assert whatif.used(statement, [BY_CUSTOMER]) == frozenset({BY_CUSTOMER})
            # an index on another table cannot change this plan: same cache entry, no planner call
            calls = whatif.calls
            assert whatif.cost(statement, [BY_CUSTOMER, ELSEWHERE]) == with_index
            assert (whatif.calls, whatif.cache_hits) == (calls, 1)
            size = whatif.size(BY_CUSTOMER)
            assert 100_000 * 8 < size < 100_000 * 64  # HypoPG's estimate for 100,000 int4 keys
            # hypothetical: nothing built, and invisible to every other session (the application's)
            assert _index_names(target) == real_before
            with open_target(parse_target(whatif_dsn)) as other:
                assert other.fetch_value("SELECT count(*) FROM hypopg_list_indexes") == 0
                assert other.fetch_value("SELECT count(*) FROM pg_class WHERE relname LIKE '%%customer_id%%'") == 0
        assert target.fetch_value("SELECT count(*) FROM hypopg_list_indexes") == 0


def test_hypopg_costs_a_placeholder_statement_with_a_generic_plan(whatif_dsn: str) -> None:
    from qprof.advise.whatif import HypoPGWhatIf

    with open_target(parse_target(whatif_dsn)) as target:
        catalog = load_catalog(target)
        [statement] = _analyzed(catalog, "SELECT id FROM w_orders WHERE customer_id = $1 AND status = $2")
        assert statement.params is None  # values unknown: a generic plan, nothing executed
        with HypoPGWhatIf(target, catalog) as whatif:
            assert whatif.cost(statement, [BY_CUSTOMER]) * 10 < whatif.cost(statement, ())


def test_hypothetical_indexes_are_recycled_in_batches_and_gone_after_close(whatif_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from qprof.advise.whatif import hypopg

    monkeypatch.setattr(hypopg, "HYPOPG_BATCH", 4)  # HypoPG's fake OIDs are finite: reset every 4 here
    with open_target(parse_target(whatif_dsn)) as target:
        catalog = load_catalog(target)
        statements = _analyzed(catalog, *(f"SELECT id FROM w_orders WHERE customer_id = {n} AND status = 'open'" for n in range(12)))
        shapes = [
            BY_CUSTOMER,
            Candidate("public", "w_orders", (Key("customer_id"), Key("status"))),
            Candidate("public", "w_orders", (Key("status"),)),
            Candidate("public", "w_orders", (Key("status"), Key("customer_id"))),
        ]
        with hypopg.HypoPGWhatIf(target, catalog) as whatif:
            for number, statement in enumerate(statements):
                whatif.cost(statement, [shapes[number % len(shapes)]])
                live = target.fetch_value("SELECT count(*) FROM hypopg_list_indexes")
                assert live <= 1  # only the configuration being costed exists
            assert whatif.calls == len(statements)
        assert target.fetch_value("SELECT count(*) FROM hypopg_list_indexes") == 0


def test_a_real_build_is_rolled_back_and_leaves_no_index(whatif_dsn: str) -> None:
    from qprof.advise.whatif import BuildWhatIf

    with open_target(parse_target(whatif_dsn)) as target:
        catalog = load_catalog(target)
        [statement] = _analyzed(catalog, LOOKUP)
        before = _index_names(target)
        with BuildWhatIf(target, catalog) as whatif:
            assert whatif.cost(statement, [BY_CUSTOMER]) * 10 < whatif.cost(statement, ())
            size = whatif.size(BY_CUSTOMER)  # pg_relation_size of the real build: whole pages
            assert size % 8192 == 0 and size > 50 * 8192
        assert _index_names(target) == before
        assert target.fetch_value("SELECT count(*) FROM pg_class WHERE relname LIKE 'qprof%%'") == 0
        assert target.fetch_value("SELECT current_setting('transaction_read_only')") == "on"  # the session is read-only again


def _sqlite_file(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, status TEXT NOT NULL, filler TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", ((i, i % 2000, "open" if i % 10 == 0 else "done", "x" * 60) for i in range(1, 60_001)))
        conn.execute("ANALYZE")
    conn.close()
    return path


def test_sqlite_whatif_measures_on_a_scratch_copy_and_never_touches_the_file(tmp_path: Path) -> None:
    from qprof.advise.whatif import SqliteWhatIf

    path = _sqlite_file(tmp_path / "shop.sqlite")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    candidate = Candidate("main", "orders", (Key("customer_id"),))
    with open_target(parse_target(str(path))) as target:
        catalog = load_catalog(target)
        [statement] = _analyzed(catalog, "SELECT id, status FROM orders WHERE customer_id = ?")
        statement.params = [42]
        assert candidate in statement.candidates
        whatif = SqliteWhatIf(path, catalog, statement_timeout=30.0)
        scratch = whatif.scratch
        try:
            assert scratch.is_file() and scratch != path
            without = whatif.cost(statement, ())
            with_index = whatif.cost(statement, [candidate])
            assert with_index * 3 < without  # measured milliseconds: a full scan against a lookup
            assert "USING INDEX qprof_whatif_" in whatif.plan_text(statement, frozenset({candidate}))
            assert "SCAN orders" in whatif.plan_text(statement, frozenset())
            assert whatif.size(candidate) > 0
        finally:
            whatif.close()
        assert not scratch.exists() and not scratch.parent.exists()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index'").fetchone()[0] == 0
    conn.close()


def test_a_plain_statement_reports_the_indexes_its_plan_uses_across_hypopg_resets(whatif_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement without parameters is costed in one round trip (drop, create, EXPLAIN); on the
    calls where HypoPG must be reset first it takes the other path, which must still read the plan:
    an unknown "used" set makes the greedy cost more configurations (TPC-DS: 1.8x the calls)."""
    from qprof.advise.whatif import hypopg

    monkeypatch.setattr(hypopg, "HYPOPG_BATCH", 2)
    with open_target(parse_target(whatif_dsn)) as target:
        catalog = load_catalog(target)
        [statement] = _analyzed(catalog, LOOKUP)
        shapes = [
            Candidate("public", "w_orders", tuple(Key(c) for c in columns))
            for columns in (
                ("customer_id",),
                ("customer_id", "status"),
                ("customer_id", "id"),
                ("customer_id", "status", "id"),
                ("customer_id", "id", "status"),
            )
        ]
        with hypopg.HypoPGWhatIf(target, catalog) as whatif:
            without = whatif.cost(statement, ())  # the first call learns that it plans as it is
            resets = 0
            for shape in shapes:
                created = whatif._created
                assert whatif.cost(statement, [shape]) * 10 < without
                resets += whatif._created <= created  # the counter restarts at a reset
                assert whatif.used(statement, [shape]) == frozenset({shape})
                assert target.fetch_value("SELECT count(*) FROM hypopg_list_indexes") == 1
            assert resets >= 1  # both paths were taken
            assert whatif.calls == len(shapes) + 1
        assert target.fetch_value("SELECT count(*) FROM hypopg_list_indexes") == 0
