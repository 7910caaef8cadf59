"""Workload files: named statements, sample parameters, weights and rule silencing."""

from __future__ import annotations

from pathlib import Path

import pytest

from qprof.errors import BadInput
from qprof.workload import load_workload, parse_workload_text

REPO = Path(__file__).resolve().parents[1]

TEXT = """\
-- a header comment
-- name: by_customer
-- params: [42, "paid"]
-- calls: 120
-- qprof: ignore QP101, QP105
SELECT * FROM orders WHERE customer_id = $1 AND status = $2;

-- name: two_in_one
SELECT 1; SELECT ';' AS semi;
"""


def test_markers_are_read() -> None:
    first, second, third = parse_workload_text(TEXT, "w.sql")
    assert (first.name, first.params, first.calls, first.ignore) == ("by_customer", [42, "paid"], 120, {"QP101", "QP105"})
    assert first.sql.endswith("status = $2")
    assert first.source == "w.sql:6"  # the statement's own line, where code scanning points
    assert (second.name, second.sql, second.source) == ("two_in_one", "SELECT 1", "w.sql:9")
    assert third.source == "w.sql:9"
    assert (third.name, third.sql) == ("two_in_one_2", "SELECT ';' AS semi")


def test_files_without_markers_are_split_and_numbered() -> None:
    statements = parse_workload_text("SELECT 1;\n-- comment only\nSELECT 2;\n", "plain.sql")
    assert [(s.name, s.sql) for s in statements] == [("plain_1", "SELECT 1"), ("plain_2", "SELECT 2")]
    assert [s.source for s in statements] == ["plain.sql:1", "plain.sql:3"]  # not the whole file's line 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- name: a\n-- params: [1,\nSELECT 1;", "not a JSON array"),
        ('-- name: a\n-- params: {"x": 1}\nSELECT 1;', "must be a JSON array"),
        ("-- name: a\n-- calls: many\nSELECT 1;", "whole number"),
        ("-- name: a\n-- calls: \u00b2\nSELECT 1;", "whole number"),  # isdigit() but not int(): no traceback
        ("-- name: a\n-- calls: \u0661\u0662\nSELECT 1;", "whole number"),  # Arabic-Indic digits
        ("-- name: a\n-- calls: " + "9" * 5000 + "\nSELECT 1;", "whole number"),
        ("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;", "used twice"),
    ],
)
def test_bad_markers_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_workload_text(text, "bad.sql")


def test_markers_above_a_name_belong_to_the_named_statement() -> None:
    text = "-- calls: 5\n-- name: b\nSELECT 2;\n-- name: upd\n-- calls: 1000\nUPDATE t SET c = 1;\n-- calls: 2\n-- name: sel\nSELECT 3;\n"
    statements = parse_workload_text(text, "w.sql")
    assert [(s.name, s.calls) for s in statements] == [("b", 5), ("upd", 1000), ("sel", 2)]


def test_sample_workload_and_named_selection() -> None:
    statements = load_workload(REPO / "queries" / "shop.sql")
    assert len(statements) >= 15
    assert len({s.name for s in statements}) == len(statements)
    (chosen,) = load_workload(f"{REPO / 'queries' / 'shop.sql'}:orders_by_customer")
    assert "customer_id = $1" in chosen.sql and chosen.params


def test_unknown_name_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no statement named"):
        load_workload(f"{REPO / 'queries' / 'shop.sql'}:nope")
    with pytest.raises(BadInput, match="does not exist"):
        load_workload(tmp_path / "missing.sql")
    (tmp_path / "empty.sql").write_text("-- nothing here\n")
    with pytest.raises(BadInput, match="no SQL statements"):
        load_workload(tmp_path / "empty.sql")


def test_unspaced_in_lists_do_not_reject_the_file() -> None:
    """sqlglot's tokenizer rejects `$1,$2`; pg_stat_statements spaces them, hand-written files may not."""
    text = "-- name: a\nSELECT * FROM t WHERE x IN ($1,$2,$3);\n-- name: b\nSELECT '$1,$2' FROM t WHERE y = $1;\n"
    statements = parse_workload_text(text, "w.sql")
    assert [s.sql for s in statements] == ["SELECT * FROM t WHERE x IN ($1, $2, $3)", "SELECT '$1,$2' FROM t WHERE y = $1"]
