"""SQL text handling and the human quantities users type."""

from __future__ import annotations

import pytest

from qprof import redact, sqltext
from qprof.errors import BadInput
from qprof.units import format_bytes, parse_duration, parse_percent, parse_size


def test_placeholders_outside_literals_and_comments_only() -> None:
    sql = "SELECT '$1 %' FROM t WHERE a = $1 AND b IN ($2, $10) -- $3"
    assert [p.number for p in sqltext.find_placeholders(sql)] == [1, 2, 10]
    assert sqltext.placeholder_count(sql) == 10


def test_to_psycopg_doubles_percent_and_names_parameters() -> None:
    sql = "SELECT * FROM t WHERE name LIKE 'a%' AND id = $1 AND $1 > 0"
    assert sqltext.to_psycopg(sql) == "SELECT * FROM t WHERE name LIKE 'a%%' AND id = %(p1)s AND %(p1)s > 0"
    assert sqltext.psycopg_params([5, "x"]) == {"p1": 5, "p2": "x"}


def test_to_sqlite_uses_numbered_parameters() -> None:
    assert sqltext.to_sqlite("SELECT $2, '$1' WHERE a = $1") == "SELECT ?2, '$1' WHERE a = ?1"


@pytest.mark.parametrize(
    ("sql", "kind", "modifying"),
    [
        ("SELECT 1", "select", False),
        ("UPDATE t SET a = 1 WHERE id = 2", "update", True),
        ("DELETE FROM t WHERE id = 2", "delete", True),
        ("INSERT INTO t (a) VALUES (1)", "insert", True),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "select", True),
        ("CREATE INDEX i ON t (a)", "ddl", False),
        ("VACUUM t", "utility", False),
        ('SAVEPOINT "_pg3_2"', "utility", False),
        ('RELEASE "_pg3_2"', "utility", False),
    ],
)
def test_statement_kinds(sql: str, kind: str, modifying: bool) -> None:
    tree = sqltext.parse(sql)
    assert sqltext.statement_kind(tree) == kind
    assert sqltext.is_data_modifying(tree) is modifying


@pytest.mark.parametrize("sql", ["SELEC * FRM t", "selec x", "SELECT FROM WHERE ("])
def test_unparseable_sql_is_bad_input(sql: str) -> None:
    with pytest.raises(BadInput, match="cannot parse SQL"):
        sqltext.parse(sql)


@pytest.mark.parametrize(
    ("sql", "hidden"),
    [
        ("ALTER ROLE bob WITH ENCRYPTED PASSWORD 'Top''Secret'", "ALTER ROLE bob WITH ENCRYPTED PASSWORD '***'"),
        (
            "CREATE USER MAPPING FOR bob SERVER s OPTIONS (user 'bob', password 'pw1')",
            "CREATE USER MAPPING FOR bob SERVER s OPTIONS (user 'bob', password '***')",
        ),
        (
            "CREATE SUBSCRIPTION s CONNECTION 'host=x password=pw2 dbname=y' PUBLICATION p",
            "CREATE SUBSCRIPTION s CONNECTION 'host=x password=*** dbname=y' PUBLICATION p",
        ),
        ("ALTER USER x PASSWORD 'cut-off-in-a-log", "ALTER USER x PASSWORD '***'"),
        ("SELECT 'password' AS label, $1", "SELECT 'password' AS label, $1"),
    ],
)
def test_passwords_are_redacted(sql: str, hidden: str) -> None:
    assert redact.statement(sql) == hidden


def test_one_line_collapses_and_cuts() -> None:
    assert sqltext.one_line("SELECT\n  a,\n  b FROM t", 12) == "SELECT a, b…"


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("5min", 300), ("2h", 7200), ("7d", 604800), ("15", 15)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "size"), [("500MB", 500 * 1024**2), ("2GB", 2 * 1024**3), ("64kB", 65536), ("10", 10)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_percentages_and_bytes() -> None:
    assert parse_percent("20%") == pytest.approx(0.2)
    # a number is always a percentage: 1 is 1 %, never 100 %
    assert parse_percent("20") == pytest.approx(0.2)
    assert parse_percent("1") == pytest.approx(0.01)
    assert parse_percent("0.5") == pytest.approx(0.005)
    assert parse_percent("0.5%") == pytest.approx(0.005)
    assert parse_percent("150%") == pytest.approx(1.5)
    for bad in ("-5", "nan", "inf", "ten", "%"):
        with pytest.raises(BadInput, match="invalid percentage"):
            parse_percent(bad)
    assert format_bytes(1536) == "1.5 kB"
    with pytest.raises(BadInput):
        parse_duration("soon")
