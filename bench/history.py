"""Benchmark of the history store (not a test): report over 30 days, snapshot of 5,000 statements.

1. A SQLite store with 30 days of hourly snapshots × 1,000 statements (721 snapshots, ~720k
   statement rows, plus tables and indexes) is generated directly, then
   ``qprof report --since 30d --format html --out …`` is timed as a user runs it (target < 10 s).
2. A private PostgreSQL cluster (tests/pgcluster.py, pg_stat_statements.max = 10000) runs 5,000
   distinct statements, then ``qprof snapshot`` is timed (target < 2 s).

Run:  .venv/bin/python bench/history.py      (or: make bench)
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

DAYS, STATEMENTS, TABLES = 30, 1000, 20


def build_store(path: Path) -> tuple[int, int]:
    """Fill a store with hourly snapshots whose counters grow like a busy application's."""
    from qprof.history.store import Store

    with Store(str(path)) as store:
        store.ensure_schema()
    rng = random.Random(42)
    now = datetime.utcnow().replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    hours = DAYS * 24 + 1
    rate = [rng.randint(1, 2000) for _ in range(STATEMENTS)]
    cost = [rng.lognormvariate(0, 1.5) for _ in range(STATEMENTS)]
    calls = [0] * STATEMENTS
    total = [0.0] * STATEMENTS
    seq = [0] * TABLES
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(
        "INSERT INTO qprof_targets (identity, name, database, description, created_at) VALUES (?, ?, ?, ?, ?)",
        ("bench/shop", "shop", "shop", "postgresql host=bench dbname=shop", start),
    )
    conn.executemany(
        "INSERT INTO qprof_statements (id, target_id, queryid, user_name, query, first_snapshot_id) VALUES (?, 1, ?, 'app', ?, 1)",
        [(i + 1, str(10**12 + i), f"SELECT * FROM t{i % TABLES} WHERE c{i} = $1") for i in range(STATEMENTS)],
    )
    for hour in range(hours):
        snapshot_id = hour + 1
        conn.execute(
            "INSERT INTO qprof_snapshots (id, target_id, taken_at, statement_count, settings) VALUES (?, 1, ?, ?, '{}')",
            (snapshot_id, start + timedelta(hours=hour), STATEMENTS),
        )
        rows = []
        for i in range(STATEMENTS):
            n = rng.randint(0, rate[i])
            slow = 1.5 if hour > hours * 0.8 and i % 50 == 0 else 1.0  # a few regress late in the month
            calls[i] += n
            total[i] += n * cost[i] * slow * rng.uniform(0.8, 1.2)
            mean = total[i] / calls[i] if calls[i] else 0.0
            rows.append((snapshot_id, i + 1, calls[i], total[i], mean, mean * 0.3, mean * 5, calls[i], calls[i] * 3, calls[i] // 10, 0, 0.0))
        conn.executemany("INSERT INTO qprof_statement_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        tables, indexes = [], []
        for t in range(TABLES):
            seq[t] += rng.randint(0, 50)
            tables.append(
                (
                    snapshot_id,
                    "public",
                    f"t{t}",
                    10**7,
                    8 * 10**6,
                    10**5,
                    rng.randint(0, 5000),
                    seq[t],
                    seq[t] * 10**4,
                    hour * 100,
                    hour,
                    hour,
                    hour,
                    None,
                    None,
                )
            )
            indexes.append(
                (snapshot_id, "public", f"t{t}_pkey", f"t{t}", hour * 100, 10**6, True, True, True, f"CREATE UNIQUE INDEX t{t}_pkey ON public.t{t} (id)")
            )
            indexes.append((snapshot_id, "public", f"t{t}_idle", f"t{t}", 0, 10**6, False, False, True, f"CREATE INDEX t{t}_idle ON public.t{t} (c)"))
        conn.executemany("INSERT INTO qprof_table_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", tables)
        conn.executemany("INSERT INTO qprof_index_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", indexes)
    conn.commit()
    conn.close()
    return hours, hours * STATEMENTS


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr}")
    return elapsed


def bench_report(work: Path) -> None:
    store = work / "history.db"
    started = time.perf_counter()
    snapshots, rows = build_store(store)
    print(
        f"store: {snapshots} hourly snapshots × {STATEMENTS} statements = {rows:,} statement rows "
        f"({store.stat().st_size / 2**20:.0f} MB) generated in {time.perf_counter() - started:.1f} s"
    )
    qprof = [sys.executable, "-m", "qprof"]
    html = timed([*qprof, "report", "--since", "30d", "--store", str(store), "--format", "html", "--out", str(work / "out"), "-q"])
    js = timed([*qprof, "report", "--since", "30d", "--store", str(store), "--format", "json", "--no-charts"])
    print(f"qprof report --since 30d --format html --out …: {html:.2f} s (target < 10 s)")
    print(f"qprof report --since 30d --format json --no-charts: {js:.2f} s")


def bench_snapshot(work: Path) -> None:
    import psycopg
    from pgcluster import PgCluster

    cluster = PgCluster(settings={"pg_stat_statements.max": "10000"})
    cluster.start()
    try:
        dsn = cluster.create_database("shop", extensions=("pg_stat_statements",))
        with psycopg.connect(dsn, autocommit=True) as conn:
            for t in range(100):
                conn.execute(f"CREATE TABLE t{t} (id int PRIMARY KEY, c int)")
            with conn.pipeline():
                for t in range(100):
                    for k in range(1, 51):  # an IN list of k items: a distinct normalized statement
                        conn.execute(f"SELECT count(*) FROM t{t} WHERE id IN ({', '.join(str(v) for v in range(k))})")
            count = conn.execute("SELECT count(*) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'shop'").fetchone()[0]
        store = work / "snap.db"
        qprof = [sys.executable, "-m", "qprof", "snapshot", "--db", dsn, "--store", str(store), "-q"]
        first = timed(qprof)
        second = timed(qprof)
        print(f"pg_stat_statements entries in the database: {count:,}")
        print(f"qprof snapshot of {count:,} statements: first {first:.2f} s, second {second:.2f} s (target < 2 s; includes Python start-up)")
    finally:
        cluster.stop()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="qprof-bench-") as tmp:
        work = Path(tmp)
        bench_report(work)
        bench_snapshot(work)
    print("reproduce: .venv/bin/python bench/history.py")


if __name__ == "__main__":
    main()
