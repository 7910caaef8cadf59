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
    conn.execute(
        "CREATE TABLE tickets (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, assignee_id INTEGER, "
        "status TEXT NOT NULL, created_at TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)"
    )
    rows = []
    for i in range(1, 30001):
        assignee = 1 + rng.randrange(10) if rng.random() < 0.6 else 1 + rng.randrange(3000)  # 10 busy agents
        rows.append(
            (
                i,
                1 + rng.randrange(20),
                assignee,
                rng.choice(["open", "pending", "closed", "closed", "solved"]),
                f"2026-{1 + i * 12 // 30001:02d}-{1 + i % 28:02d} {i % 24:02d}:00:00",
                f"ticket {i}",
                "b" * rng.randrange(40, 160),
            )
        )
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
    conn.execute("CREATE TABLE w (k1 TEXT, k2 TEXT, a INTEGER, c TEXT, PRIMARY KEY (k1, k2)) WITHOUT ROWID")
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
    # a WITHOUT ROWID table's index entries end with its PRIMARY KEY: never a trailing key (the
    # index would be the same b-tree under a longer name), still a key column where it is looked up
    keyed = found("SELECT k1, k2, c FROM w WHERE a = 1")
    assert Candidate("main", "w", (Key("a"), Key("c"))) in keyed
    assert not any({"k1", "k2"} & set(c.all_columns) for c in keyed), keyed
    assert Candidate("main", "w", (Key("k2"),)) in found("SELECT k1 FROM w WHERE k2 = 'x'")


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


PARITY_WORKLOAD = """
-- name: open_count_for_assignee
-- params: [7, "closed"]
-- calls: 400
SELECT count(*) FROM tickets WHERE assignee_id = $1 AND status <> $2;

-- name: tickets_of_user_email
-- params: ["user417@example.com"]
-- calls: 200
SELECT t.id, t.title FROM tickets t JOIN users u ON u.id = t.assignee_id WHERE u.email = $1;

-- name: author_recent_comments
-- params: [321, "2026-09-01 00:00:00"]
-- calls: 150
SELECT count(*) FROM comments WHERE author_id = $1 AND created_at >= $2;

-- name: org_open_by_assignee
-- params: [3, "open"]
-- calls: 100
SELECT id, assignee_id FROM tickets WHERE org_id = $1 AND status = $2 ORDER BY assignee_id DESC, created_at LIMIT 10;
"""
PARITY_LITERAL = {
    "open_count_for_assignee": "SELECT count(*) FROM tickets WHERE assignee_id = 7 AND status <> 'closed'",
    "tickets_of_user_email": "SELECT t.id, t.title FROM tickets t JOIN users u ON u.id = t.assignee_id WHERE u.email = 'user417@example.com'",
    "author_recent_comments": "SELECT count(*) FROM comments WHERE author_id = 321 AND created_at >= '2026-09-01 00:00:00'",
    "org_open_by_assignee": "SELECT id, assignee_id FROM tickets WHERE org_id = 3 AND status = 'open' ORDER BY assignee_id DESC, created_at LIMIT 10",
}


def _build_tracker(path) -> None:
    """Tickets as in _build, plus users and comments (the tables of the statements that fell behind)."""
    _build(path)
    rng = random.Random(13)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL)")
    conn.execute(
        "CREATE TABLE comments (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL, author_id INTEGER NOT NULL, created_at TEXT NOT NULL, body TEXT NOT NULL)"
    )
    conn.executemany("INSERT INTO users VALUES (?, ?, ?)", [(i, f"user{i}@example.com", f"user {i}") for i in range(1, 3001)])
    conn.executemany(
        "INSERT INTO comments VALUES (?, ?, ?, ?, ?)",
        [
            (
                i,
                1 + rng.randrange(30000),
                1 + rng.randrange(3000),
                f"2026-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d} 00:00:00",
                "c" * rng.randrange(20, 90),
            )
            for i in range(1, 60001)
        ],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def test_statements_that_fell_behind_expert_get_plans_at_least_as_good(cli, tmp_path):
    """The join by email (qprof kept a SCAN of users: 0.13× of .expert), the org/status lookup with
    a mixed ORDER BY (an index on status that SQLite preferred without statistics: 0.06×; here it
    must SEARCH, not SCAN) and the author/date count (0.061 vs 0.017 ms): each SEARCHes on every
    column .expert's index does, with no more indexes than .expert proposes for them."""
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 shell is not installed (apt-get install sqlite3): nothing to compare with")
    base, ours, theirs = tmp_path / "base.sqlite", tmp_path / "qprof.sqlite", tmp_path / "expert.sqlite"
    _build_tracker(base)
    shutil.copy(base, ours)
    shutil.copy(base, theirs)
    workload = tmp_path / "w.sql"
    workload.write_text(PARITY_WORKLOAD)
    doc = cli.json("advise", "-d", ours, "--workload", workload, "--apply", "--no-write")
    created = [r["ddl"] for r in doc["recommendations"]]
    expert = sorted({d for sql in PARITY_LITERAL.values() for d in _expert(base, sql)})
    conn = sqlite3.connect(theirs)
    for ddl in expert:
        conn.execute(ddl)
    conn.commit()
    conn.close()
    assert len(created) <= len(expert), (created, expert)

    def searched(plan: str) -> set[str]:  # the columns each SEARCH step constrains
        return {c.split("=")[0].split(">")[0].split("<")[0] for step in re.findall(r"\(([^)]*)\)", plan) for c in step.split(" AND ")}

    for name, sql in PARITY_LITERAL.items():
        mine, reference = _plan(ours, sql), _plan(theirs, sql)
        assert "SCAN" not in mine.replace("SCAN CONSTANT", ""), (name, mine)
        if name == "org_open_by_assignee":
            # at 30,000 rows its (org_id, status) and (org_id, assignee_id) plans differ by less than the
            # 0.05 ms a measured step must gain; bench/sqlite_expert.py compares them at 200,000
            continue
        assert searched(reference) <= searched(mine), (name, mine, reference)
        if "COVERING INDEX" in reference:
            assert "COVERING INDEX" in mine, (name, mine, reference)
    assert "u USING COVERING INDEX" in _plan(ours, PARITY_LITERAL["tickets_of_user_email"])


def test_whatif_never_plans_with_an_index_it_hid(tmp_path):
    """An index outside the configuration stays built until a plan would use it; then it is dropped,
    and the plan read afterwards must not be the connection's cached one naming it (that cached plan
    once stood for the statement's cost, and a useful index looked useless)."""
    from qprof.advise.advisor import analyze_statements
    from qprof.advise.candidates import Candidate, Key
    from qprof.advise.catalog import load_catalog
    from qprof.advise.whatif import SqliteWhatIf
    from qprof.advise.workload_source import AdviseStatement
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    path = tmp_path / "t.sqlite"
    _build_tracker(path)
    sql = "SELECT t.id, t.title FROM tickets t JOIN users u ON u.id = t.assignee_id WHERE u.email = $1"
    with open_target(parse_target(str(path))) as target:
        catalog = load_catalog(target)
        [statement] = analyze_statements(catalog, [AdviseStatement(key="q", sql=sql, params=["user417@example.com"])], [])
        by_assignee = Candidate("main", "tickets", (Key("assignee_id"),))
        by_email = Candidate("main", "users", (Key("email"),))
        with SqliteWhatIf(target.path, catalog) as whatif:
            without = whatif.cost(statement, [by_assignee])
            assert whatif.used(statement, [by_assignee]) == {by_assignee}
            assert whatif.used(statement, [by_assignee, by_email]) == {by_assignee, by_email}
            assert whatif.cost(statement, [by_assignee, by_email]) < without
            plan = whatif.plan_text(statement, frozenset([by_assignee]))
            assert "SCAN u" in plan and "COVERING" not in plan, plan
            # sizes come from column bytes, not builds: within 25 % of the built index's pages
            whatif.plan_text(statement, frozenset([by_assignee, by_email]))
            name = whatif._live[by_email]
            built = whatif.conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = ?", (name,)).fetchone()[0]
            assert abs(whatif.size(by_email) - built) <= 0.25 * built + 4096, (whatif.size(by_email), built)


def _events(path, rows: int = 100_000, kinds: int = 4) -> None:
    rng = random.Random(5)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, created_at TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)")
    conn.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
        (
            (i, 1 + rng.randrange(kinds), f"2026-{1 + i * 12 // (rows + 1):02d}-{1 + i % 28:02d} {i % 24:02d}:00", f"event {i}", "e" * rng.randrange(40, 160))
            for i in range(1, rows + 1)
        ),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


RECENT_OF_KIND = "SELECT id, title FROM events WHERE kind = $1 AND created_at > $2 ORDER BY created_at LIMIT 50"


def test_a_pick_is_swapped_for_the_statements_own_shape_led_by_another_equality_column(tmp_path):
    """``kind = ? AND created_at > ? ORDER BY created_at LIMIT 50``: (created_at) is a few bytes smaller
    than (kind, created_at) and nearly as fast (it reads ~4× the rows for its 50), so the greedy's
    per-byte rank takes it, and the faster shape then saves too few milliseconds to be added beside it
    (.expert's choice was 1.2–1.4× faster). The swap puts (kind, created_at) in its place, confirmed by
    alternating timings; nothing is swapped when the pick is already that shape."""
    from qprof.advise.advisor import analyze_statements
    from qprof.advise.candidates import Candidate, Key
    from qprof.advise.catalog import load_catalog
    from qprof.advise.selection import Selector
    from qprof.advise.whatif import SqliteWhatIf
    from qprof.advise.workload_source import AdviseStatement
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    path = tmp_path / "events.sqlite"
    _events(path, kinds=16)  # (created_at) reads ~16× the rows it returns: a gain well above the noise of a loaded machine
    by_time = Candidate("main", "events", (Key("created_at"),))
    by_kind_time = Candidate("main", "events", (Key("kind"), Key("created_at")))
    with open_target(parse_target(str(path))) as target:
        catalog = load_catalog(target)
        [statement] = analyze_statements(catalog, [AdviseStatement(key="q", sql=RECENT_OF_KIND, params=[3, "2026-06-01 00:00:00"], calls=150)], [])
        assert {by_time, by_kind_time} <= statement.candidates
        with SqliteWhatIf(target.path, catalog) as whatif:
            selector = Selector([statement], whatif, catalog, {}, entry_cost=0.01, min_abs_gain=0.05)
            current = {statement.key: whatif.cost(statement, [by_time])}
            assert selector._swap([by_time], current) == [by_kind_time]
            assert "swapped for main.events(kind, created_at)" in selector.dropped[by_time]
            assert current[statement.key] == whatif.cost(statement, [by_kind_time])
            timed = whatif.measurements
            assert selector._swap([by_kind_time], current) == [by_kind_time]
            assert whatif.measurements - timed <= 1  # no option to confirm: nothing timed again


def test_advise_gives_the_equality_and_range_lookup_the_index_expert_gives_it(cli, tmp_path):
    """One index that SEARCHes on kind and created_at, as .expert's does: (kind, created_at), or the
    same covering title when the timings say so — never (created_at) alone, which reads ~4× the rows."""
    base, ours = tmp_path / "base.sqlite", tmp_path / "qprof.sqlite"
    _events(base)
    shutil.copy(base, ours)
    workload = tmp_path / "w.sql"
    workload.write_text(f'-- name: recent_of_kind\n-- params: [3, "2026-06-01 00:00:00"]\n-- calls: 150\n{RECENT_OF_KIND};\n')
    doc = cli.json("advise", "-d", ours, "--workload", workload, "--apply", "--no-write")
    [ddl] = [r["ddl"] for r in doc["recommendations"]]
    assert ddl.endswith('ON "events" ("kind", "created_at");') or ddl.endswith('ON "events" ("kind", "created_at", "title");'), ddl
    literal = "SELECT id, title FROM events WHERE kind = 3 AND created_at > '2026-06-01 00:00:00' ORDER BY created_at LIMIT 50"
    if shutil.which("sqlite3"):
        assert [re.sub(r"_idx_\w+", "", d) for d in _expert(base, literal)] == ["CREATE INDEX events ON events(kind, created_at);"]
    assert "(kind=? AND created_at>?)" in _plan(ours, literal)
