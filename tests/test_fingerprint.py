"""PostgreSQL fingerprints: pglast (PostgreSQL's own parser) decides, and the fast lexer path is
taken only where it gives exactly the parser's text — checked here over a corpus of real
statements (the shipped workload, ORM-generated SQL, pgbench, the log benchmark) with their
constants varied in every way the two could read differently."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pytest

from qprof.fingerprint import (
    BY_VALUES,
    _way,
    fast_path,
    fingerprint,
    pg_fingerprint,
    pg_normalized,
)
from qprof.workload import split_statements

ROOT = Path(__file__).parent.parent

ISSUE_CASES = [
    ('SELECT * FROM "Sales"."BigOrders" WHERE "Id" = 5', 'select * from "Sales"."BigOrders" where "Id" = ?'),
    ("SELECT amount::numeric(10,2) FROM t WHERE id = 1", "select amount::numeric(10,2) from t where id = ?"),
    ("SELECT flags & 0x1F FROM t", "select flags & ? from t"),
    ("SELECT * FROM t WHERE id = ANY(ARRAY[1,2,3])", "select * from t where id = any(array[?])"),
    ("SELECT * FROM t WHERE id = ANY(ARRAY[4, 5])", "select * from t where id = any(array[?])"),
    ("SELECT * FROM t WHERE ok = true AND x IS NULL ORDER BY 1", "select * from t where ok = ? and x is null order by 1"),
]

EXTRA = [
    "SELECT abalance FROM pgbench_accounts WHERE aid = 52;",
    "UPDATE pgbench_accounts SET abalance = abalance + -4021 WHERE aid = 9812;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 9812, -4021, CURRENT_TIMESTAMP);",
    "SELECT orders.id, orders.customer_id FROM orders WHERE %(param_1)s = orders.customer_id",
    'SELECT "library_book"."id", "library_book"."title" FROM "library_book" WHERE "library_book"."author_id" = 7 LIMIT 21',
    "SELECT customers.id, customers.name FROM customers ORDER BY customers.id LIMIT 20 OFFSET 0",
    "SELECT * FROM t WHERE a IN (1, 2, 3) AND b = 'x' AND c = E'y\\n' AND d = $$z$$",
    "SELECT round(x, 2), substr(y, 1, 3), coalesce(z, 0) FROM t",
    "SELECT x FROM t GROUP BY x, 2 ORDER BY 1 DESC",
    "SELECT count(*) FILTER (WHERE a > 10.5e3) FROM t WHERE b BETWEEN .5 AND 7.",
    "WITH r AS (SELECT id FROM t WHERE a = 1) SELECT * FROM r JOIN u ON u.id = r.id WHERE u.b <> 'n'",
    "DELETE FROM sessions WHERE expires_at < now() - interval '1 day'",
    "SELECT data->>'k', data ? 'k' FROM docs WHERE id = 3",
    "select * from t where a=-1 and b = - 2 and c = 3-4",
    "SELECT x FROM t WHERE y = 1_000 AND z = 0o17 AND w = B'101' AND v = N'x' AND u = U&'d\\0061t'",
    "SELECT a[1], a[2:3] FROM t WHERE n = NULL",
    "SELECT CAST(x AS varchar(20)), y::timestamp(3) FROM t",
    "INSERT INTO t (a, b) VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    "SELECT * FROM t WHERE name LIKE'abc%' AND code IN('a')",
    "/* qprof */ SELECT relname FROM pg_catalog.pg_class WHERE oid = 1259",
    "SELECT 1 -- trailing comment\n FROM t /* inline */ WHERE a = 2;",
]

_NUMBER = re.compile(r"(?<![\w$.])\d+")


def _corpus(seed: int = 12) -> list[str]:
    statements = split_statements((ROOT / "queries" / "shop.sql").read_text())
    bench = (ROOT / "bench" / "logparse.py").read_text()
    statements += re.findall(r'^\s+"((?:SELECT|UPDATE|INSERT)[^"]*)",$', bench, re.MULTILINE)
    statements += EXTRA + [sql for sql, _ in ISSUE_CASES]
    rng = random.Random(seed)
    varied = []
    replacements = [
        "7",
        "-7",
        "0",
        "3.25",
        "1e3",
        ".5",
        "'x'",
        "'it''s'",
        "E'x'",
        "B'1'",
        "0x1F",
        "true",
        "NULL",
        "$1",
        "(1, 2)",
        "ARRAY[1,2]",
        "- 4",
        "$$x$$",
        "'a'::text",
        "interval '1 day'",
    ]
    for sql in statements:
        varied.append(sql)
        for _ in range(12):
            varied.append(_NUMBER.sub(lambda m: rng.choice(replacements), sql))
    return varied


def test_issue_cases() -> None:
    for sql, expected in ISSUE_CASES:
        assert pg_fingerprint(sql) == expected, sql


def test_fast_path_gives_the_parser_text_on_the_corpus() -> None:
    corpus = _corpus()
    fast = [sql for sql in corpus if fast_path(sql)]
    assert len(corpus) > 700 and len(fast) > len(corpus) // 4  # the fast path carries real traffic
    mismatches = [(sql, fingerprint(sql), pg_normalized(sql)) for sql in fast if fingerprint(sql) != pg_normalized(sql)]
    assert mismatches == []
    # and every statement, whichever way it takes, gets the parser's text — on more variations too
    for seed in range(20):
        varied = _corpus(seed)
        assert [sql for sql in varied if pg_fingerprint(sql) != pg_normalized(sql)] == []
    # pgbench's negative deltas: the parser's text, one parse per shape
    update = "UPDATE pgbench_accounts SET abalance = abalance + -{} WHERE aid = {};"
    assert _way(fingerprint(update.format(4021, 9812))) == BY_VALUES
    assert pg_fingerprint(update.format(4021, 9812)) == "update pgbench_accounts set abalance = abalance + ? where aid = ?"


@pytest.mark.parametrize("a, b", list(itertools.combinations(["IN (1)", "IN (1, 2)", "IN ($1, $2, $3)", "IN ('a','b')"], 2)))
def test_in_lists_collapse(a: str, b: str) -> None:
    assert pg_fingerprint(f"SELECT * FROM t WHERE x {a}") == pg_fingerprint(f"SELECT * FROM t WHERE x {b}")


def test_not_postgresql_text_falls_back_to_the_lexer() -> None:
    sql = "SELECT * FROM t WHERE a = ? AND b = :name"
    assert pg_fingerprint(sql) == fingerprint(sql) == "select * from t where a = ? and b = ?"
