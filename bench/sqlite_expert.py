"""qprof advise on SQLite vs the sqlite3 shell's ``.expert``, statement by statement (not a test).

Reproduce: .venv/bin/python bench/sqlite_expert.py [--tickets 200000] [--runs 7] [--rounds 3]
           [--against OTHER_CHECKOUT/.venv/bin/qprof] [--keep DIR]

A ticket-tracker database of our own (orgs, users, tickets, comments; deterministic) and a workload
of ten statements (the issue's two: ``assignee_id = ? AND status <> ?`` counts and an
``org_id = ? ORDER BY created_at DESC LIMIT`` lookup, plus joins, ranges, GROUP BY and an UPDATE).
Three copies of the file: untouched, with ``qprof advise --apply``'s indexes, and with every index
``.expert`` proposes for any statement (apt's ``sqlite3``). Each statement is timed on each copy
(one warm-up, median of --runs, qprof.runner's loop) and printed side by side: ms, speedup over the
untouched copy, and the index the plan used. Target: per statement qprof ≥ .expert (within the
noise of a sub-millisecond timing), with no more indexes in total. ``--rounds`` times the three
copies that many times (interleaved) and prints the median of the per-round medians with their
spread; ``--against`` runs another qprof's advise on its own copy first (its wall time is the anchor).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QPROF = str(REPO / ".venv" / "bin" / "qprof")

WORKLOAD = """
-- name: open_count_for_assignee
-- params: [17, "closed"]
-- calls: 400
SELECT count(*) FROM tickets WHERE assignee_id = $1 AND status <> $2;

-- name: org_latest
-- params: [37]
-- calls: 600
SELECT id, title, status, created_at FROM tickets WHERE org_id = $1 ORDER BY created_at DESC LIMIT 20;

-- name: ticket_comments
-- params: [12345]
-- calls: 800
SELECT id, author_id, body, created_at FROM comments WHERE ticket_id = $1 ORDER BY created_at;

-- name: org_status_counts
-- params: [37]
-- calls: 100
SELECT status, count(*) FROM tickets WHERE org_id = $1 GROUP BY status;

-- name: tickets_of_user_email
-- params: ["user417@example.com"]
-- calls: 200
SELECT t.id, t.title FROM tickets t JOIN users u ON u.id = t.assignee_id WHERE u.email = $1;

-- name: urgent_since
-- params: [4, "2026-06-01 00:00:00"]
-- calls: 150
SELECT id, title FROM tickets WHERE priority = $1 AND created_at > $2 ORDER BY created_at LIMIT 50;

-- name: author_recent_comments
-- params: [321, "2026-09-01 00:00:00"]
-- calls: 150
SELECT count(*) FROM comments WHERE author_id = $1 AND created_at >= $2;

-- name: org_open_by_priority
-- params: [37, "open"]
-- calls: 100
SELECT id, priority FROM tickets WHERE org_id = $1 AND status = $2 ORDER BY priority DESC, created_at LIMIT 10;

-- name: close_ticket
-- params: ["closed", 12345]
-- calls: 300
UPDATE tickets SET status = $1 WHERE id = $2;

-- name: busiest_assignees
-- params: [37]
-- calls: 20
SELECT assignee_id, count(*) FROM tickets WHERE org_id = $1 GROUP BY assignee_id ORDER BY count(*) DESC LIMIT 5;
"""

STATUSES = ["open", "open", "pending", "closed", "closed", "closed", "closed", "solved"]


def build(path: Path, tickets: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE orgs (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE users (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, email TEXT NOT NULL, name TEXT NOT NULL);
        CREATE TABLE tickets (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, assignee_id INTEGER, status TEXT NOT NULL,
                              priority INTEGER NOT NULL, created_at TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL);
        CREATE TABLE comments (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL, author_id INTEGER NOT NULL,
                               created_at TEXT NOT NULL, body TEXT NOT NULL);
    """)
    orgs, users = 200, 5000
    conn.executemany("INSERT INTO orgs VALUES (?, ?)", [(i, f"org {i}") for i in range(1, orgs + 1)])
    conn.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", [(i, 1 + i % orgs, f"user{i}@example.com", f"user {i}") for i in range(1, users + 1)])
    start = time.mktime((2025, 12, 1, 0, 0, 0, 0, 0, 0))

    def stamp(offset: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start + offset))

    span = 365 * 86400
    rows = []
    for i in range(1, tickets + 1):
        # 60 % of tickets go to 100 support agents (users 1-100): an agent's open-ticket count reads many rows.
        assignee = 1 + rng.randrange(100) if rng.random() < 0.6 else 1 + rng.randrange(users)
        rows.append(
            (
                i,
                1 + rng.randrange(orgs),
                assignee,
                rng.choice(STATUSES),
                rng.randrange(1, 5),
                stamp(span * i / tickets),
                f"ticket {i}",
                "x" * rng.randrange(50, 200),
            )
        )
    conn.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    comments = [
        (i, 1 + rng.randrange(tickets), 1 + rng.randrange(users), stamp(span * rng.random()), "c" * rng.randrange(20, 120)) for i in range(1, 3 * tickets + 1)
    ]
    conn.executemany("INSERT INTO comments VALUES (?, ?, ?, ?, ?)", comments)
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def literal_sql(sql: str, params: list) -> str:
    """The statement with its parameter values inlined, for the sqlite3 shell's .expert."""
    from sqlglot import exp

    from qprof import sqltext

    tree = sqltext.parse(sql, "postgresql").copy()
    for node in list(tree.find_all(exp.Parameter)):
        value = params[int(node.name) - 1]
        node.replace(exp.Literal.number(value) if isinstance(value, (int, float)) else exp.Literal.string(str(value)))
    return tree.sql("sqlite")


def expert_indexes(db: Path, sql: str) -> list[str]:
    result = subprocess.run(["sqlite3", str(db)], input=f".expert\n{sql};\n", capture_output=True, text=True, check=False)
    return [line.strip() for line in result.stdout.splitlines() if line.startswith("CREATE INDEX")]


def index_used(db: Path, statement) -> str:
    """The index names in the statement's EXPLAIN QUERY PLAN (or SCAN when none)."""
    import re

    from qprof import sqltext

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("EXPLAIN QUERY PLAN " + sqltext.to_sqlite(statement.sql), statement.params).fetchall()
    finally:
        conn.close()
    names = []
    for row in rows:
        detail = str(row[-1])
        found = re.search(r"USING (?:COVERING )?INDEX (\S+)", detail)
        names.append(("cov:" if "COVERING" in detail else "") + found.group(1) if found else detail.split(" ")[0])
    return ",".join(dict.fromkeys(names))


def work(stderr: str) -> str:
    """The scratch copy's builds, hides and timed plans from ``advise --debug`` (a qprof that prints them)."""
    import re

    found = re.search(r"scratch copy: [^;\n]*", stderr)
    return f" ({found.group(0)})" if found else ""


def time_all(db: Path, statements, runs: int) -> dict[str, float]:
    from qprof.conninfo import parse_target
    from qprof.runner import time_statement
    from qprof.targets import open_target

    with open_target(parse_target(str(db)), statement_timeout=300) as target:
        return {s.name: statistics.median(t.ms for t in time_statement(target, s, runs, warmup=1)) for s in statements}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="time the three copies this many times (spread)")
    parser.add_argument("--against", help="another qprof executable whose advise wall time to print beside this one's")
    parser.add_argument("--keep", type=Path, help="keep the three database files in this folder")
    args = parser.parse_args()
    print(
        f"reproduce: .venv/bin/python bench/sqlite_expert.py --tickets {args.tickets} --runs {args.runs} --rounds {args.rounds}"
        + (f" --against {args.against}" if args.against else "")
    )
    if shutil.which("sqlite3") is None:
        raise SystemExit("the sqlite3 shell is not installed: apt-get install -y sqlite3")
    version = subprocess.run(["sqlite3", "--version"], capture_output=True, text=True, check=True).stdout.split()[0]
    sys.path.insert(0, str(REPO))
    from qprof.workload import parse_workload_text

    folder = args.keep or Path(tempfile.mkdtemp(prefix="qprof-bench-expert-"))
    folder.mkdir(parents=True, exist_ok=True)
    base, ours, expert = folder / "base.sqlite", folder / "qprof.sqlite", folder / "expert.sqlite"
    for path in (base, ours, expert):
        path.unlink(missing_ok=True)
    started = time.perf_counter()
    build(base, args.tickets)
    print(f"  built {base} ({args.tickets:,} tickets, {3 * args.tickets:,} comments) in {time.perf_counter() - started:.1f} s")
    shutil.copy(base, ours)
    shutil.copy(base, expert)
    workload = folder / "workload.sql"
    workload.write_text(WORKLOAD.lstrip())
    statements = parse_workload_text(WORKLOAD, "workload")

    if args.against:
        anchor = folder / "anchor.sqlite"
        shutil.copy(base, anchor)
        started = time.perf_counter()
        other = subprocess.run(
            [args.against, "advise", "--db", str(anchor), "--workload", str(workload), "--format", "json", "--no-write", "--debug"],
            capture_output=True,
            text=True,
            check=False,
        )
        anchor_wall = time.perf_counter() - started
        anchor.unlink(missing_ok=True)
        if other.returncode == 0:
            other_doc = json.loads(other.stdout)
            print(
                f"  anchor {args.against}: advisor {other_doc['summary']['seconds']:.1f} s ({anchor_wall:.1f} s wall), "
                f"{len(other_doc['recommendations'])} index(es), "
                f"{other_doc['summary']['whatif_calls']} what-if calls{work(other.stderr)}"
            )
        else:
            print(f"  anchor {args.against} failed ({other.returncode}) after {anchor_wall:.1f} s: {other.stderr.strip()[:200]}")
    command = [QPROF, "advise", "--db", str(ours), "--workload", str(workload), "--apply", "--format", "json", "--no-write", "--debug"]
    print("  $ qprof " + " ".join(command[1:]))
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"qprof failed ({result.returncode}): {result.stderr}")
    doc = json.loads(result.stdout)
    qprof_ddl = [r["ddl"] for r in doc["recommendations"]]

    per_statement: dict[str, list[str]] = {}
    expert_ddl: list[str] = []
    started = time.perf_counter()
    for statement in statements:
        per_statement[statement.name] = expert_indexes(base, literal_sql(statement.sql, statement.params))
        expert_ddl += [ddl for ddl in per_statement[statement.name] if ddl not in expert_ddl]
    expert_wall = time.perf_counter() - started
    conn = sqlite3.connect(expert)
    for ddl in expert_ddl:
        conn.execute(ddl.rstrip(";"))
    conn.commit()
    conn.close()

    print(
        f"  sqlite3 {version}; qprof: {len(qprof_ddl)} index(es), advisor {doc['summary']['seconds']:.1f} s ({wall:.1f} s wall with --apply), "
        f"{doc['summary']['whatif_calls']} what-if calls{work(result.stderr)}; "
        f".expert: {len(expert_ddl)} index(es), {expert_wall:.1f} s wall (one shell per statement)"
    )
    for ddl in qprof_ddl:
        print(f"    qprof   {ddl}")
    for ddl in expert_ddl:
        print(f"    .expert {ddl}")
    copies = (("base", base), ("qprof", ours), ("expert", expert))
    rounds: dict[str, dict[str, list[float]]] = {label: {s.name: [] for s in statements} for label, _ in copies}
    for _ in range(args.rounds):  # interleaved: a slow moment of the machine hits all three copies
        for label, path in copies:
            for name, ms in time_all(path, statements, args.runs).items():
                rounds[label][name].append(ms)
    timings = {label: {name: statistics.median(values) for name, values in per.items()} for label, per in rounds.items()}
    print(f"\n  median ms of {args.runs} runs after 1 warm-up, median of {args.rounds} interleaved rounds; × = speedup over the untouched copy")
    print(f"  {'statement':<24}{'base':>9}{'qprof':>9}{'×':>7}{'expert':>9}{'×':>7}  {'q/e':>5} {'q/e range':>11}  qprof plan | .expert plan")
    totals = dict.fromkeys(timings, 0.0)
    behind = []
    for statement in statements:
        b, q, e = (timings[label][statement.name] for label in ("base", "qprof", "expert"))
        for label, value in (("base", b), ("qprof", q), ("expert", e)):
            totals[label] += statement.calls * value
        ratio = e / q if q else float("inf")
        if ratio < 0.9:  # slower than .expert by > 10 %
            behind.append(f"{statement.name} (+{q - e:.3f} ms)")
        per_round = [x / y for x, y in zip(rounds["expert"][statement.name], rounds["qprof"][statement.name], strict=True) if y]
        spread = f"{min(per_round):.2f}–{max(per_round):.2f}" if per_round else "-"
        print(
            f"  {statement.name:<24}{b:9.3f}{q:9.3f}{b / q:7.1f}{e:9.3f}{b / e:7.1f}  {ratio:5.2f} {spread:>11}  "
            f"{index_used(ours, statement)} | {index_used(expert, statement)}"
        )
    print(
        f"\n  workload Σ calls × median ms: base {totals['base']:,.1f}  qprof {totals['qprof']:,.1f} "
        f"({totals['base'] / totals['qprof']:.1f}×, {len(qprof_ddl)} indexes)  .expert {totals['expert']:,.1f} "
        f"({totals['base'] / totals['expert']:.1f}×, {len(expert_ddl)} indexes)"
    )
    print("  statements where qprof is > 10 % behind .expert: " + (", ".join(behind) or "none"))
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
