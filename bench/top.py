"""Benchmark: `qprof top --format json` end to end with 5,000 distinct statements in pg_stat_statements.

Reproduce: .venv/bin/python bench/top.py [--statements 5000] [--repeat 7]
Starts a private PostgreSQL cluster (tests/pgcluster.py), fills pg_stat_statements, then times
the whole `qprof top` process (interpreter start, imports, connect, query, ranking, JSON) and
reports the median wall time and the peak RSS of the child process. Target: < 1.5 s median.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pgcluster import PgCluster  # noqa: E402

TABLES, COLUMNS = 50, 10


def fill(cluster: PgCluster, dsn: str, wanted: int) -> int:
    """Run `wanted` structurally distinct statements so each gets its own queryid."""
    with cluster.connect("bench") as conn:
        for t in range(TABLES):
            columns = ", ".join(f"c{c} int" for c in range(COLUMNS))
            conn.execute(f"CREATE TABLE t{t} ({columns})")
        conn.execute("SELECT pg_stat_statements_reset()")
        ran = 0
        for t in range(TABLES):
            for a in range(COLUMNS):
                for b in range(COLUMNS):
                    if ran == wanted:
                        break
                    conn.execute(f"SELECT c{a} FROM t{t} WHERE c{b} = 1")
                    ran += 1
        return conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()[0]


def run_once(dsn: str) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "qprof"), "top", "--db", dsn, "--format", "json", "--limit", "20"],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"qprof top failed: {result.stderr}")
    assert len(json.loads(result.stdout)["statements"]) == 20
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with PgCluster(settings={"pg_stat_statements.max": str(max(args.statements + 500, 10000))}) as cluster:
        dsn = cluster.create_database("bench")
        entries = fill(cluster, dsn, args.statements)
        run_once(dsn)  # warm the OS file cache; not counted
        walls = []
        for _ in range(args.repeat):
            wall, peak_kb = run_once(dsn)
            walls.append(wall)
    print(f"pg_stat_statements entries: {entries}")
    print(f"qprof top --format json: median {statistics.median(walls):.3f} s, "
          f"min {min(walls):.3f} s, max {max(walls):.3f} s over {args.repeat} runs")
    print(f"peak RSS of a qprof process: {peak_kb / 1024:.1f} MB")
    print("reproduce: .venv/bin/python bench/top.py --statements 5000 --repeat 7")


if __name__ == "__main__":
    main()
