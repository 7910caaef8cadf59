"""A ``LIMIT $n`` without a known value: the guess never makes the statement look cheaper than what
ran (pg_stat_statements' rows per call bound the LIMIT from below), and the choice is stated
(real PostgreSQL)."""

from __future__ import annotations

import psycopg
import pytest

SETUP = """
CREATE TABLE lim_events (id int PRIMARY KEY, account int NOT NULL, created int NOT NULL, pad text NOT NULL);
INSERT INTO lim_events SELECT i, i % 50, i, repeat('x', 40) FROM generate_series(1, 100000) AS i;
ANALYZE lim_events;
"""
PAGE = "SELECT id, created FROM lim_events WHERE account = $1 ORDER BY created DESC LIMIT $2"


@pytest.fixture(scope="module")
def lim_dsn(pg_cluster) -> str:
    dsn = pg_cluster.create_database("advlimit", extensions=("pg_stat_statements", "hypopg"))
    pg_cluster.psql(SETUP, dbname="advlimit")
    return dsn


def _target(dsn: str):
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    return open_target(parse_target(dsn))


@pytest.mark.postgres
def test_limit_guess_is_at_least_the_rows_each_call_returned_and_says_so(lim_dsn: str) -> None:
    from qprof.params import DEFAULT_LIMIT, infer_parameters
    from qprof.plans.postgres import explain_postgres

    with _target(lim_dsn) as target:
        unknown = infer_parameters(target, PAGE)
        assert unknown is not None and unknown.values[1] == DEFAULT_LIMIT
        assert "no observed value" in unknown.sources[1] and "may understate" in unknown.sources[1]
        observed = infer_parameters(target, PAGE, rows_per_call=120.0)
        assert observed is not None and observed.values[1] == 120
        assert "120.0 rows per call" in observed.sources[1]
        # fewer rows per call than the default: the default stands (it is the least guess)
        assert infer_parameters(target, PAGE, rows_per_call=3.0).values[1] == DEFAULT_LIMIT
        # the point: the guessed LIMIT never costs less than the one that ran (120 rows per call)
        ran = explain_postgres(target, PAGE, [observed.values[0], 120], analyze=False).total_cost
        guessed = explain_postgres(target, PAGE, observed.values, analyze=False).total_cost
        default = explain_postgres(target, PAGE, unknown.values, analyze=False).total_cost
        assert guessed >= ran > default


@pytest.mark.postgres
def test_verify_times_a_pg_stat_statements_page_with_its_observed_limit(lim_dsn: str) -> None:
    from qprof.advise.verify import statement_params
    from qprof.advise.workload_source import AdviseStatement

    with psycopg.connect(lim_dsn, autocommit=True) as conn:
        for account in (1, 2, 3):
            conn.execute("SELECT id, created FROM lim_events WHERE account = %s ORDER BY created DESC LIMIT 40", (account,))
    statement = AdviseStatement(key="page", sql=PAGE, calls=3, rows=120)  # as pg_stat_statements counts them
    with _target(lim_dsn) as target:
        params = statement_params(target, statement)
    assert params is not None and params[1] == 40
