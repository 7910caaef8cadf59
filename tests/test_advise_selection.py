"""Index selection as a set, on real PostgreSQL with HypoPG: redundancy, leave-one-out, minimal forms,
partition-direct advice, statements too deep to analyze, and honest what-if counting."""

from __future__ import annotations

import pytest

from qprof.advise.advisor import analyze_statements
from qprof.advise.candidates import Candidate, Key
from qprof.advise.catalog import load_catalog
from qprof.advise.selection import Selector, write_loads
from qprof.advise.whatif import make_whatif
from qprof.advise.workload_source import from_sql_texts
from qprof.conninfo import parse_target
from qprof.targets import open_target

pytestmark = pytest.mark.postgres

DDL = """
CREATE TABLE ev (id int NOT NULL, kind int NOT NULL, customer_id int NOT NULL, created_at timestamptz NOT NULL, note text);
INSERT INTO ev SELECT i, i % 12, i % 20000, timestamptz '2024-01-01' + i * interval '1 minute', repeat('n', 30)
  FROM generate_series(1, 200000) AS i;
CREATE TABLE other (id int NOT NULL, ref int NOT NULL);
INSERT INTO other SELECT i, i % 1000 FROM generate_series(1, 50000) AS i;
CREATE TABLE m (id int NOT NULL, kind int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE m_2024a PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
CREATE TABLE m_2024b PARTITION OF m FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');
INSERT INTO m SELECT i, i % 2000, date '2024-01-01' + (i % 360) FROM generate_series(1, 80000) AS i;
ANALYZE;
"""
REDUNDANT = "SELECT id FROM ev WHERE kind = 3 AND customer_id = 42 ORDER BY created_at DESC LIMIT 10"


@pytest.fixture(scope="module")
def sel_dsn(pg_cluster) -> str:
    dsn = pg_cluster.create_database("advsel", extensions=("hypopg",))
    pg_cluster.psql(DDL, dbname="advsel")
    return dsn


@pytest.fixture
def prepared(sel_dsn):
    """(target, catalog, whatif, analyze) on this module's database; the evaluator is closed afterwards."""
    with open_target(parse_target(sel_dsn)) as target:
        catalog = load_catalog(target)
        whatif = make_whatif(target, catalog, "hypopg")

        def analyze(*sqls: str):
            skipped: list = []
            statements = analyze_statements(catalog, from_sql_texts(list(sqls)), skipped)
            assert not skipped
            return statements

        try:
            yield target, catalog, whatif, analyze
        finally:
            whatif.close()


def ev(*keys: str) -> Candidate:
    return Candidate("public", "ev", tuple(Key(k) for k in keys))


def selector(statements, whatif, catalog) -> Selector:
    return Selector(statements, whatif, catalog, write_loads(statements, catalog, from_server=False))


def test_a_redundant_pair_ships_one_index(prepared):
    """events(kind, customer_id) beside events(customer_id, created_at) for one statement: one goes, with the reason."""
    _, catalog, whatif, analyze = prepared
    statements = analyze(REDUNDANT)
    chooser = selector(statements, whatif, catalog)
    for statement in statements:
        whatif.cost(statement, ())
    kept = chooser._leave_one_out([ev("kind", "customer_id"), ev("customer_id", "created_at")])
    assert len(kept) == 1
    ((dropped, reason),) = chooser.dropped.items()
    assert dropped not in kept and "< 1%" in reason and str(kept[0]) in reason


def test_leave_one_out_keeps_an_index_that_matters_and_drops_one_that_does_not(prepared):
    _, catalog, whatif, analyze = prepared
    statements = analyze("SELECT id FROM ev WHERE customer_id = 42", "SELECT id FROM other WHERE ref = 7 AND id > 10")
    chooser = selector(statements, whatif, catalog)
    useless = Candidate("public", "other", (Key("id"),))  # id > 10 keeps nearly every row: a seq scan stays cheaper
    kept = chooser._leave_one_out([ev("customer_id"), useless])
    assert kept == [ev("customer_id")]
    assert "< 1%" in chooser.dropped[useless]


def test_the_whole_run_reports_no_index_twice(prepared, cli, sel_dsn):
    doc = cli.json("advise", "-d", sel_dsn, "--no-write", "--sql", REDUNDANT)
    on_ev = [r for r in doc["recommendations"] if r["table"] == "public.ev"]
    assert len(on_ev) == 1
    # the summary's cost after is that of the recommended set alone
    assert doc["summary"]["workload_cost_after"] == pytest.approx(on_ev[0]["statements"][0]["cost_after"], rel=1e-6)
    assert isinstance(doc["dropped"], list)


def test_minimal_forms_single_column_desc_and_mixed_directions(cli, sel_dsn):
    one = cli.json("advise", "-d", sel_dsn, "--no-write", "--sql", "SELECT id FROM ev ORDER BY created_at DESC LIMIT 5")
    assert [r["columns"] for r in one["recommendations"]] == [["created_at"]]
    assert "DESC" not in one["recommendations"][0]["ddl"]
    mixed = cli.json("advise", "-d", sel_dsn, "--no-write", "--sql", "SELECT id FROM ev WHERE kind = 3 ORDER BY customer_id DESC, created_at LIMIT 5")
    columns = [r["columns"] for r in mixed["recommendations"]]
    assert ["kind", "customer_id", "created_at DESC"] in columns


def test_order_by_ordinal_with_star_sorts_by_the_first_column(prepared):
    _, _, _, analyze = prepared
    (statement,) = analyze("SELECT * FROM ev ORDER BY 1 DESC LIMIT 3")
    (use,) = statement.analysis.uses
    assert [k.column for k in use.sort] == ["id"]
    assert Candidate("public", "ev", (Key("id"),)) in statement.candidates


def test_a_statement_on_one_partition_gets_its_index_on_that_partition(cli, sel_dsn):
    direct = cli.json("advise", "-d", sel_dsn, "--no-write", "--sql", "SELECT id FROM m_2024a WHERE kind = 3")
    assert [(r["table"], r["columns"]) for r in direct["recommendations"]] == [("public.m_2024a", ["kind"])]
    assert "CONCURRENTLY" in direct["recommendations"][0]["ddl"]
    parent = cli.json("advise", "-d", sel_dsn, "--no-write", "--sql", "SELECT id FROM m WHERE kind = 3")
    assert [(r["table"], r["columns"]) for r in parent["recommendations"]] == [("public.m", ["kind"])]


def test_or_chain_is_advised_and_deep_parentheses_are_skipped_not_crashed(cli, sel_dsn):
    or_chain = "SELECT id FROM ev WHERE " + " OR ".join(f"customer_id = {i}" for i in range(1200))
    parens = "SELECT id FROM ev WHERE " + "(" * 3000 + "kind = 1" + ")" * 3000
    result = cli("advise", "-d", sel_dsn, "--no-write", "--format", "json", "--sql", or_chain, "--sql", parens)
    assert result.exit_code == 0, result.stderr
    import json

    doc = json.loads(result.stdout)
    assert [r["columns"] for r in doc["recommendations"]] == [["customer_id"]]
    (skip,) = doc["skipped"]
    assert "nests too deeply" in skip["reason"]
    assert "Traceback" not in result.stderr


def test_whatif_counts_distinct_planner_calls_and_cache_hits_apart(prepared):
    _, _, whatif, analyze = prepared
    (statement,) = analyze("SELECT id FROM ev WHERE customer_id = 42")
    index = ev("customer_id")
    elsewhere = Candidate("public", "other", (Key("ref"),))
    calls, hits = whatif.calls, whatif.cache_hits
    base = whatif.cost(statement, ())
    with_index = whatif.cost(statement, [index])
    assert with_index < base
    assert (whatif.calls - calls, whatif.cache_hits - hits) == (2, 0)
    assert whatif.cost(statement, [index, elsewhere]) == with_index  # an index on another table: same plan
    assert whatif.cost(statement, []) == base
    assert (whatif.calls - calls, whatif.cache_hits - hits) == (2, 2)
    # the plan is read too: which hypothetical index the planner used
    assert whatif.used(statement, [index]) == frozenset({index})
    assert whatif.used(statement, ()) == frozenset()
    assert whatif.calls - calls == 2


def test_selection_prunes_to_the_indexes_the_planner_uses(prepared):
    _, catalog, whatif, analyze = prepared
    statements = analyze(REDUNDANT, "SELECT id FROM other WHERE ref = 7")
    chooser = selector(statements, whatif, catalog)
    result = chooser.run()
    assert result.pool < result.candidates  # not every shape was stepped through
    tables = sorted(c.table for c in result.chosen)
    assert tables == ["ev", "other"]


def test_debug_says_where_the_time_went(cli, sel_dsn):
    result = cli("advise", "-d", sel_dsn, "--no-write", "--debug", "--sql", "SELECT id FROM ev WHERE customer_id = 42")
    assert result.exit_code == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if "debug:" in line)
    assert "candidate analysis" in line and "what-if calls" in line and "cache hits" in line
    phases = dict(part.rsplit(" ", 1) for part in line.split("what-if calls by phase: ")[1].split(", "))
    assert int(phases["ideal"]) == 1 and int(phases["greedy"]) >= 1  # one ideal configuration costed; the greedy tried a step


def test_an_index_worth_its_share_of_the_workload_is_taken_below_min_gain(prepared):
    """A step qualifies when some statement gains --min-gain, or when the WORKLOAD gets ≥ 0.3 % cheaper:
    other(id) saves the statement below only part of its cost (< 50 %), but that is most of this workload;
    beside a statement that outweighs it a thousandfold, the same saving is noise and nothing is chosen."""
    _, catalog, whatif, analyze = prepared
    both = "SELECT (SELECT count(*) FROM ev WHERE note LIKE '%x%') + (SELECT count(*) FROM other WHERE id = 5)"
    heavy = "SELECT count(*) FROM ev WHERE note LIKE '%zz%'"
    by_id = Candidate("public", "other", (Key("id"),))
    statements = analyze(both)
    before = whatif.cost(statements[0], ())
    gain = (before - whatif.cost(statements[0], [by_id])) / before
    assert 0.003 < gain < 0.5
    chosen = Selector(statements, whatif, catalog, write_loads(statements, catalog, from_server=False), min_gain=0.5).run().chosen
    assert by_id in chosen
    statements = analyze(both, heavy)
    statements[1].calls = 1000  # weight = calls
    chosen = Selector(statements, whatif, catalog, write_loads(statements, catalog, from_server=False), min_gain=0.5).run().chosen
    assert chosen == []


STAR = """
CREATE TABLE dim (d_id int NOT NULL, name text NOT NULL, region int NOT NULL);
INSERT INTO dim SELECT i, 'n' || i, i % 5 FROM generate_series(1, 1000) AS i;
CREATE TABLE cust (c_id int NOT NULL, region int NOT NULL, name text NOT NULL);
INSERT INTO cust SELECT i, i % 50, 'c' || i FROM generate_series(1, 20000) AS i;
CREATE TABLE fact (id int NOT NULL, d_id int NOT NULL, c_id int NOT NULL, amount int NOT NULL, at date NOT NULL);
INSERT INTO fact SELECT i, 1 + i % 1000, 1 + i % 20000, i % 1000, date '2024-01-01' + (i % 365) FROM generate_series(1, 300000) AS i;
ANALYZE;
"""
# A fact table joined to a 1,000-row dimension: every shape on the dimension gets a huge optimistic
# bound per byte (its index is a few pages) from what the statements' ideal plans save, yet all of
# them together save the statements next to nothing.
STAR_WORKLOAD = [
    "SELECT d.name, sum(f.amount) FROM fact f JOIN dim d ON d.d_id = f.d_id WHERE f.at >= '2024-03-01' AND f.at < '2024-03-08' GROUP BY d.name",
    "SELECT c.name, sum(f.amount) FROM fact f JOIN cust c ON c.c_id = f.c_id JOIN dim d ON d.d_id = f.d_id WHERE d.region = 3 AND c.region = 5 GROUP BY c.name",
    "SELECT f.id FROM fact f JOIN dim d ON d.d_id = f.d_id WHERE f.c_id = 42 AND d.name = 'n7'",
    "SELECT count(*) FROM fact f JOIN dim d USING (d_id) WHERE d.region = 2 AND f.amount > 990",
    "SELECT f.amount FROM fact f JOIN cust c ON c.c_id = f.c_id WHERE c.name = 'c77' ORDER BY f.at DESC LIMIT 5",
]


@pytest.fixture(scope="module")
def star(pg_cluster):
    dsn = pg_cluster.create_database("advstar", extensions=("hypopg",))
    pg_cluster.psql(STAR, dbname="advstar")
    with open_target(parse_target(dsn)) as target:
        catalog = load_catalog(target)
        skipped: list = []
        statements = analyze_statements(catalog, from_sql_texts(STAR_WORKLOAD), skipped)
        assert not skipped
        yield target, catalog, statements


def _planned(whatif, table: str) -> list:
    """Record every planner call (cache miss) whose configuration holds an index on ``table``."""
    calls = []
    inner = whatif._cost

    def counting(statement, config):
        if any(c.table == table for c in config):
            calls.append((statement.key, config))
        return inner(statement, config)

    whatif._cost = counting
    return calls


def test_a_tables_bound_is_an_upper_bound_on_each_of_its_steps(star):
    """What all of a table's steps save a statement together bounds what each saves alone, and on the
    dimension it is far below the ideal's optimistic bound (so its steps need not be costed)."""
    target, catalog, statements = star
    with make_whatif(target, catalog, "hypopg") as whatif:
        chooser = selector(statements, whatif, catalog)
        before = {s.key: whatif.cost(s, ()) for s in statements}
        chooser._restrict(chooser._pool(before))
        chooser._mark()
        checked = {}
        for table, steps in chooser._by_table.items():
            chooser._cost_tables(steps[0], [], before, set(steps))
            for step in steps:
                for statement in chooser.affected(step):
                    bound = chooser._table_gain(statement, table, [], before)
                    if bound is None:
                        continue  # fewer than two of the table's steps touch it: its own call is the bound
                    gain = before[statement.key] - whatif.cost(statement, [step])
                    assert gain <= bound + 1e-6, (str(step), statement.sql, gain, bound)
                    checked[table] = checked.get(table, 0) + 1
                    if table == ("public", "dim"):
                        assert bound < 0.05 * (before[statement.key] - chooser._ideal[statement.key]), (str(step), bound)
        assert checked.get(("public", "dim"), 0) >= 3 and sum(checked.values()) >= 6, checked


def test_a_tiny_tables_steps_are_not_costed_round_after_round(star):
    """The greedy plans the dimension's indexes once per statement for its ideal and once for the
    table's bound, not once per shape and round, and takes none of them; fact indexes are still found."""
    target, catalog, statements = star
    with make_whatif(target, catalog, "hypopg") as whatif:
        on_dim = _planned(whatif, "dim")
        chooser = selector(statements, whatif, catalog)
        for statement in statements:
            whatif.cost(statement, ())
        result = chooser.run()
        shapes = {c for _, config in on_dim for c in config if c.table == "dim"}
    dim_statements = [s for s in statements if ("public", "dim") in s.tables]
    assert len(shapes) >= 3  # several shapes on the dimension were candidates
    assert len(on_dim) <= 2 * len(dim_statements), [(k, sorted(map(str, c))) for k, c in on_dim]
    assert not any(c.table == "dim" for c in result.chosen)
    assert any(c.table == "fact" for c in result.chosen)
