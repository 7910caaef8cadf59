"""qprof advise on SQLite against the sqlite3 shell's ``.expert`` (real SQLite files, the real shell
when the prerequisites installed it): on an ``assignee_id = ? AND status <> ?`` count and an
``org_id = ? ORDER BY created_at DESC LIMIT`` lookup qprof's plans are at least as good — covering
where ``.expert``'s is, no sort where ``.expert``'s has none — with no more indexes. (The speedups
themselves are measured by bench/sqlite_expert.py.)"""

from __future__ import annotations

import random
import re
import shutil
import sqlite3
import subprocess

import pytest

WORKLOAD = """
-- name: open_count_for_assignee
-- params: [7, "closed"]
-- calls: 400
SELECT count(*) FROM tickets WHERE assignee_id = $1 AND status <> $2;

-- name: org_latest
-- params: [3]
-- calls: 600
SELECT id, title, status, created_at FROM tickets WHERE org_id = $1 ORDER BY created_at DESC LIMIT 20;

-- name: close_ticket
-- params: ["closed", 123]
-- calls: 300
UPDATE tickets SET status = $1 WHERE id = $2;
"""
LITERAL = {
    "open_count_for_assignee": "SELECT count(*) FROM tickets WHERE assignee_id = 7 AND status <> 'closed'",
    "org_latest": "SELECT id, title, status, created_at FROM tickets WHERE org_id = 3 ORDER BY created_at DESC LIMIT 20",
}
# What sqlite3 3.40's .expert proposes for them, for machines without the shell.
EXPECTED_EXPERT = {
    "open_count_for_assignee": ["CREATE INDEX tickets_idx_e5b7ac73 ON tickets(assignee_id, status);"],
    "org_latest": ["CREATE INDEX tickets_idx_78d7f383 ON tickets(org_id, created_at DESC);"],
}


def _build(path) -> None:
    rng = random.Random(11)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, assignee_id INTEGER, "
                 "status TEXT NOT NULL, created_at TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)")
    rows = []
    for i in range(1, 30001):
        assignee = 1 + rng.randrange(10) if rng.random() < 0.6 else 1 + rng.randrange(3000)  # 10 busy agents
        rows.append((i, 1 + rng.randrange(20), assignee, rng.choice(["open", "pending", "closed", "closed", "solved"]),
                     f"2026-{1 + i * 12 // 30001:02d}-{1 + i % 28:02d} {i % 24:02d}:00:00", f"ticket {i}", "b" * rng.randrange(40, 160)))
    conn.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def _plan(path, sql: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return "\n".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
    finally:
        conn.close()


def _expert(path, sql: str) -> list[str]:
    if shutil.which("sqlite3") is None:
        return []
    result = subprocess.run(["sqlite3", str(path)], input=f".expert\n{sql};\n", capture_output=True, text=True, check=True)
    return [line.strip() for line in result.stdout.splitlines() if line.startswith("CREATE INDEX")]


def test_plans_at_least_as_good_as_sqlite_expert_with_no_more_indexes(cli, tmp_path):
    base, ours, theirs = tmp_path / "base.sqlite", tmp_path / "qprof.sqlite", tmp_path / "expert.sqlite"
    _build(base)
    shutil.copy(base, ours)
    shutil.copy(base, theirs)
    workload = tmp_path / "w.sql"
    workload.write_text(WORKLOAD)
    doc = cli.json("advise", "-d", ours, "--workload", workload, "--apply", "--no-write")
    created = [r["ddl"] for r in doc["recommendations"]]
    assert all(entry["created"] for entry in doc["applied"])

    expert: dict[str, list[str]] = {}
    for name, sql in LITERAL.items():
        expert[name] = _expert(base, sql) or EXPECTED_EXPERT[name]
        if shutil.which("sqlite3"):  # the shell agrees with what this test expects from it
            assert [re.sub(r"_idx_\w+", "", d) for d in expert[name]] == [re.sub(r"_idx_\w+", "", d) for d in EXPECTED_EXPERT[name]]
    conn = sqlite3.connect(theirs)
    for ddl in {d for ddls in expert.values() for d in ddls}:
        conn.execute(ddl)
    conn.commit()
    conn.close()

    assert len(created) <= sum(len(d) for d in expert.values()), created
    for name, sql in LITERAL.items():
        mine, reference = _plan(ours, sql), _plan(theirs, sql)
        assert "USING" in mine and "INDEX" in mine, (name, mine)
        if "COVERING INDEX" in reference:
            assert "COVERING INDEX" in mine, (name, mine, reference)
        if "TEMP B-TREE" not in reference:
            assert "TEMP B-TREE" not in mine, (name, mine, reference)
    # The count is answered from the index alone: the status column rides along as a trailing key
    # (SQLite has no HOT: that the workload UPDATEs status costs one index entry, not every index).
    assert any('("assignee_id", "status")' in ddl for ddl in created), created


def test_sqlite_covering_candidates_carry_read_columns_as_trailing_keys_but_never_the_rowid(tmp_path):
    from qprof.advise.candidates import Analyzer, Candidate, Key, candidates_for
    from qprof.advise.catalog import load_catalog
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    path = tmp_path / "c.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c TEXT)")
    conn.close()
    with open_target(parse_target(str(path))) as target:
        catalog = load_catalog(target)
    assert catalog.relations[("main", "t")].columns["id"].rowid

    def found(sql: str) -> set[Candidate]:
        return candidates_for(catalog, Analyzer(catalog).analyze(sql))

    count = found("SELECT count(*) FROM t WHERE a = 1 AND b <> 'x'")
    assert Candidate("main", "t", (Key("a"), Key("b"))) in count
    lookup = found("SELECT id, c FROM t WHERE a = 1")
    assert Candidate("main", "t", (Key("a"), Key("c"))) in lookup
    assert not any("id" in c.all_columns for c in lookup)
    assert not any(c.include for c in lookup)  # SQLite has no INCLUDE
    assert found("SELECT * FROM t WHERE a = 1") == {Candidate("main", "t", (Key("a"),))}


@pytest.mark.postgres
def test_postgres_candidates_keep_include_not_trailing_keys(pg_cluster):
    """The SQLite trailing-key variant stays SQLite's: PostgreSQL covers with INCLUDE."""
    from qprof.advise.candidates import Analyzer, Candidate, Key, candidates_for
    from qprof.advise.catalog import load_catalog
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    dsn = pg_cluster.create_database("advexp")
    pg_cluster.psql("CREATE TABLE t (id int PRIMARY KEY, a int, b text)", dbname="advexp")
    with open_target(parse_target(dsn)) as target:
        catalog = load_catalog(target)
    found = candidates_for(catalog, Analyzer(catalog).analyze("SELECT count(*) FROM t WHERE a = 1 AND b <> 'x'"))
    assert Candidate("public", "t", (Key("a"),), ("b",)) in found
    assert Candidate("public", "t", (Key("a"), Key("b"))) not in found


def test_sqlite_write_overhead_has_no_hot_penalty(tmp_path):
    """SQLite has no HOT: an UPDATE of an indexed column costs that index one entry, nothing more."""
    from qprof.advise.advisor import analyze_statements
    from qprof.advise.candidates import Candidate, Key
    from qprof.advise.catalog import load_catalog
    from qprof.advise.selection import Selector, write_loads
    from qprof.advise.workload_source import from_sql_texts
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    path = tmp_path / "w.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, status TEXT)")
    conn.close()
    with open_target(parse_target(str(path))) as target:
        catalog = load_catalog(target)
    statements = analyze_statements(catalog, from_sql_texts(["UPDATE t SET status = 'x' WHERE id = 1"]), [])
    statements[0].calls = 300
    selector = Selector([], None, catalog, write_loads(statements, catalog, from_server=False), entry_cost=0.01)
    untouched, hot = selector.overhead(Candidate("main", "t", (Key("a"),)))
    assert untouched == 0.0 and hot == []  # the UPDATE never touches an index on a
    touched, hot = selector.overhead(Candidate("main", "t", (Key("a"), Key("status"))))
    assert hot == [] and 0 < touched < 300 * 0.01 * 2
