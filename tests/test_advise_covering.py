"""qprof advise: covering (INCLUDE) candidates, --verify regression detection, --log workloads (real PostgreSQL)."""

from __future__ import annotations

import pytest

from qprof.advise.candidates import Candidate, Key

pytestmark = pytest.mark.postgres

SETUP = """
CREATE TABLE facts (id int PRIMARY KEY, k int NOT NULL, v int NOT NULL, pad text NOT NULL);
INSERT INTO facts SELECT i, (i * 7919) % 100, i % 977, repeat('p', 80) FROM generate_series(1, 200000) AS i;
-- skew: statistics frozen while x = 5 is rare and spread out; afterwards x = 5 only sits at the
-- far end of created's order, so an index on created makes the LIMIT 1 below walk all of it.
CREATE TABLE skew (id int NOT NULL, x int NOT NULL, created int NOT NULL, pad text NOT NULL) WITH (autovacuum_enabled = false);
INSERT INTO skew SELECT i, i % 1000, (i::bigint * 7919) % 300000, repeat('s', 60) FROM generate_series(1, 300000) AS i;
ANALYZE skew;
UPDATE skew SET x = CASE WHEN created >= 299700 THEN 5 ELSE 6 + id % 999 END;
ANALYZE facts;
"""


def vacuum_until_all_visible(pg_cluster, db: str, table: str) -> None:
    """Index-only scans (and HypoPG's estimates of them) need the visibility map set. Right after
    a bulk load a concurrent autovacuum ANALYZE snapshot can keep the first VACUUM from setting it."""
    import time

    for _ in range(20):
        pg_cluster.psql(f"VACUUM {table}", dbname=db)
        if pg_cluster.psql(f"SELECT relallvisible * 2 > relpages FROM pg_class WHERE relname = '{table}'", dbname=db).strip() == "t":
            return
        time.sleep(1)
    raise AssertionError(f"VACUUM never marked {table} all-visible")


@pytest.fixture(scope="module")
def cov_dsn(pg_cluster) -> str:
    from qprof.sample_dbs import load_postgres

    dsn = pg_cluster.create_database("advcov", extensions=("pg_stat_statements", "hypopg"))
    load_postgres(dsn, scale=0.02)
    pg_cluster.psql(SETUP, dbname="advcov")
    vacuum_until_all_visible(pg_cluster, "advcov", "facts")
    return dsn


def test_aggregate_over_many_rows_gets_a_covering_index(cli, cov_dsn):
    doc = cli.json("advise", "-d", cov_dsn, "--no-write", "--sql", "SELECT count(*), sum(v) FROM facts WHERE k = 7")
    (rec,) = doc["recommendations"]
    assert (rec["table"], rec["columns"], rec["include"]) == ("public.facts", ["k"], ["v"])
    assert rec["ddl"] == 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "facts_k_incl_v_idx" ON "public"."facts" ("k") INCLUDE ("v");'
    statement = rec["statements"][0]
    assert statement["cost_after"] < statement["cost_before"]


def test_a_point_lookup_is_not_widened_into_a_covering_index(cli, cov_dsn):
    doc = cli.json("advise", "-d", cov_dsn, "--no-write", "--sql", "SELECT id, status FROM orders WHERE customer_id = 42")
    assert [(r["columns"], r["include"]) for r in doc["recommendations"]] == [(["customer_id"], [])]


def test_star_and_writes_get_no_covering_candidates(cov_dsn):
    from qprof.advise.candidates import Analyzer, candidates_for
    from qprof.advise.catalog import load_catalog
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    with open_target(parse_target(cov_dsn)) as target:
        catalog = load_catalog(target)
    assert catalog.include_ok

    def found(sql: str) -> set[Candidate]:
        return candidates_for(catalog, Analyzer(catalog).analyze(sql))

    assert Candidate("public", "facts", (Key("k"),), ("v",)) in found("SELECT sum(v) FROM facts WHERE k = 1")
    assert Candidate("public", "facts", (Key("k"),), ("id", "v")) in found("SELECT f.id, f.v FROM facts f WHERE f.k = 1")
    for sql in ("SELECT * FROM facts WHERE k = 1", "SELECT f.* FROM facts f WHERE f.k = 1", "UPDATE facts SET v = 1 WHERE k = 1"):
        assert not any(c.include for c in found(sql)), sql
    # A join probe: the inner side's join key first, the columns it returns as INCLUDE.
    joined = found("SELECT c.name, sum(o.total_cents) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.country = 'PL' GROUP BY c.name")
    assert Candidate("public", "orders", (Key("customer_id"),), ("total_cents",)) in joined


def test_regressed_needs_a_real_margin():
    from qprof.advise.verify import regressed

    assert regressed(10.0, 12.0)
    assert not regressed(10.0, 10.9)  # under 10 %
    assert not regressed(0.2, 0.9)  # under 1 ms
    assert not regressed(50.0, 20.0)


def test_verify_flags_a_regression_and_never_keeps_an_index_with_a_negative_net_effect(pg_cluster, cov_dsn):
    from qprof.advise.advisor import analyze_statements
    from qprof.advise.catalog import load_catalog
    from qprof.advise.generator import Recommendation, StatementEvidence, create_ddl, drop_ddl, index_name
    from qprof.advise.verify import verify
    from qprof.advise.workload_source import from_sql_texts
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    sql = "SELECT id FROM skew WHERE x = 5 ORDER BY created LIMIT 1"
    candidate = Candidate("public", "skew", (Key("created"),))
    name = index_name(candidate)
    with open_target(parse_target(cov_dsn)) as target:
        statements = analyze_statements(load_catalog(target), from_sql_texts([sql]), [])
        (statement,) = statements
        statement.calls = 10
        rec = Recommendation(
            candidate=candidate,
            name=name,
            ddl=create_ddl(candidate, name, "postgresql"),
            drop_ddl=drop_ddl("public", name, "postgresql"),
            size_bytes=0,
            size_source="test",
            write_overhead=0.0,
            statements=[StatementEvidence(key=statement.key, text=sql, calls=10, name=statement.name)],
        )
        notes = verify(target, [rec], {statement.key: statement}, runs=3, keep=True)
    (ev,) = rec.statements
    assert ev.ms_after > ev.ms_before and ev.regressed is True
    assert rec.rejected and "net effect is negative" in rec.rejected and rec.net_ms_saved < 0
    assert any("not recommended" in n for n in notes)
    assert rec.applied is None  # keep=True (--apply) does not keep it
    assert name not in pg_cluster.psql("SELECT indexname FROM pg_indexes WHERE tablename = 'skew'", dbname="advcov")
    assert rec.to_dict()["statements"][0]["regressed"] is True


def test_log_workload_from_server_logs(cli, cov_dsn, tmp_path):
    """A stderr log in PostgreSQL's default '%m [%p] ' format, as log_min_duration_statement = 0 writes it."""
    lines = []
    for pid, customer in ((4101, 42), (4101, 7), (4102, 1001)):
        lines.append(
            f"2026-11-21 10:00:0{pid % 10}.{customer:03d} UTC [{pid}] LOG:  duration: 4.250 ms  statement: "
            f"SELECT id, status FROM orders WHERE customer_id = {customer}"
        )
    lines.append("2026-11-21 10:00:05.000 UTC [4103] LOG:  duration: 0.900 ms  statement: SELECT id FROM audio_generations\n\tWHERE task_id = 'abc'")
    lines.append("2026-11-21 10:00:06.000 UTC [4103] LOG:  connection received: host=127.0.0.1 port=5000")
    log = tmp_path / "postgresql.log"
    log.write_text("\n".join(lines) + "\n")
    doc = cli.json("advise", "-d", cov_dsn, "--log", log, "--no-write")
    assert doc["source"] == "workload"
    by_table = {r["table"]: r for r in doc["recommendations"]}
    assert by_table["public.orders"]["columns"] == ["customer_id"]
    assert by_table["public.audio_generations"]["columns"] == ["task_id"]
    (orders_statement,) = by_table["public.orders"]["statements"]
    assert orders_statement["calls"] == 3  # three executions, one normalized statement
    assert "$1" in orders_statement["text"]
