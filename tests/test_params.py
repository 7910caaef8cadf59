"""Parameter inference: each `$n` traced to its column and given a value that exists in the data."""

from __future__ import annotations

from pathlib import Path

import pytest

from qprof.conninfo import parse_target
from qprof.errors import BadInput
from qprof.params import infer_parameters
from qprof.targets import open_target
from qprof.workload import load_workload

WORKLOAD = Path(__file__).resolve().parents[1] / "queries" / "shop.sql"


@pytest.fixture(params=["postgresql", "sqlite"])
def target(request, app_dsn: str, sample_sqlite: Path):
    spec = parse_target(app_dsn if request.param == "postgresql" else str(sample_sqlite))
    with open_target(spec) as opened:
        yield opened


def _count(target, sql_pg: str, value) -> int:
    if target.engine == "sqlite":
        return target.fetch_value(sql_pg.replace("%s", "?"), (value,))
    return target.fetch_value(sql_pg, (value,))


def test_every_sample_statement_gets_values(target) -> None:
    for statement in load_workload(WORKLOAD):
        inferred = infer_parameters(target, statement.sql)
        assert inferred is not None, statement.name
        assert len(inferred.values) == len(statement.params), statement.name
        assert len(inferred.sources) == len(inferred.values)


def test_equality_value_is_drawn_from_the_column(target) -> None:
    inferred = infer_parameters(target, "SELECT id FROM orders WHERE customer_id = $1")
    assert inferred is not None
    assert "orders.customer_id" in inferred.sources[0]
    assert _count(target, "SELECT count(*) FROM orders WHERE customer_id = %s", inferred.values[0]) > 0
    if target.engine == "postgresql":
        assert "pg_stats" in inferred.sources[0]


def test_aliases_reversed_comparisons_in_between_and_limit(target) -> None:
    sql = (
        "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE c.country IN ($1, $2) AND $3 <= o.created_at AND o.total_cents BETWEEN $4 AND $5 "
        "ORDER BY o.id LIMIT $6 OFFSET $7"
    )
    inferred = infer_parameters(target, sql)
    assert inferred is not None
    country_1, _country_2, _since, low, high, limit, offset = inferred.values
    assert [s.split(" ")[0] for s in inferred.sources[:5]] == [
        "customers.country",
        "customers.country",
        "orders.created_at",
        "orders.total_cents",
        "orders.total_cents",
    ]
    assert _count(target, "SELECT count(*) FROM customers WHERE country = %s", country_1) > 0
    assert float(low) <= float(high)  # BETWEEN bounds keep their order
    assert limit == 10
    if target.engine == "sqlite":
        assert offset == 0 and "OFFSET default 0" in inferred.sources[6]
    else:  # 10 % of the planner's row estimate without LIMIT/OFFSET, never a flattering 0
        assert offset > 0 and "10% of the" in inferred.sources[6]


@pytest.fixture
def pg_target(app_dsn: str):
    with open_target(parse_target(app_dsn)) as opened:
        yield opened


def test_offset_guess_does_not_understate_deep_pages(pg_target) -> None:
    """OFFSET 0 once made a pagination query look 33× cheaper than it ran."""
    target = pg_target
    inferred = infer_parameters(target, "SELECT id FROM orders ORDER BY created_at LIMIT $1 OFFSET $2")
    assert inferred is not None
    rows = target.fetch_value("SELECT reltuples::bigint FROM pg_class WHERE oid = 'orders'::regclass")
    limit, offset = inferred.values
    assert limit == 10 and offset == int(rows * 0.10)
    assert inferred.sources[1].startswith(f"OFFSET {offset:,}: 10% of the {rows:,} rows estimated")


def test_normalized_typed_literals_are_traced_through_their_casts(pg_target) -> None:
    inferred = infer_parameters(pg_target, "SELECT id FROM orders WHERE created_at > timestamptz $1 AND customer_id = $2")
    assert inferred is not None and inferred.sources[0].startswith("orders.created_at")


def test_range_pair_keeps_lower_below_upper(target) -> None:
    inferred = infer_parameters(target, "SELECT count(*) FROM orders WHERE created_at >= $1 AND created_at < $2")
    assert inferred is not None
    assert str(inferred.values[0]) < str(inferred.values[1])


def test_insert_and_update_columns(target) -> None:
    inferred = infer_parameters(target, "UPDATE case_bank SET usage_count = $2 WHERE id = $1")
    assert inferred is not None and isinstance(inferred.values[1], int)
    inferred = infer_parameters(target, "INSERT INTO execution_log (case_id, outcome, duration_ms, executed_at) VALUES ($1, $2, $3, $4)")
    assert inferred is not None and inferred.sources[1].startswith("execution_log.outcome")


def test_untraceable_parameters_give_none(target) -> None:
    assert infer_parameters(target, "SELECT id FROM orders WHERE lower(status) = $1") is None
    assert infer_parameters(target, "SELECT $1::int AS x") is None
    assert infer_parameters(target, "SELECT id FROM no_such_table WHERE id = $1") is None
    assert infer_parameters(target, "SELECT id FROM orders WHERE no_such_column = $1") is None


def test_normalized_constants_in_arithmetic(target) -> None:
    """pg_stat_statements writes `usage_count + 1` as `usage_count + $2`."""
    inferred = infer_parameters(target, "UPDATE case_bank SET usage_count = usage_count + $2 WHERE id = $1")
    assert inferred is not None and inferred.sources[1].startswith("case_bank.usage_count")
    inferred = infer_parameters(target, "SELECT id FROM orders WHERE id = $1 + 1")
    assert inferred is not None and inferred.sources[0].startswith("orders.id")


def test_no_placeholders_and_bad_sql(target) -> None:
    inferred = infer_parameters(target, "SELECT count(*) FROM orders")
    assert inferred is not None and inferred.values == []
    with pytest.raises(BadInput):
        infer_parameters(target, "SELEC id FROM orders WHERE id = $1")
