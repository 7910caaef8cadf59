"""Benchmark: `qprof explain queries/shop.sql --runs 5` over every statement of the sample workload.

Reproduce: .venv/bin/python bench/explain.py [--scale 0.1] [--runs 5] [--engine both]
Builds the sample at the given scale (a private PostgreSQL cluster from tests/pgcluster.py, and
a SQLite file), runs the real `qprof explain … --runs N --format json` process once per engine,
and prints per statement the median and p95 execution time (after one warm-up run), plus the
total wall time of the command (interpreter start, inference, EXPLAIN ANALYZE, N+1 runs each).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pgcluster import PgCluster  # noqa: E402

from qprof.sample_dbs import build_sqlite, load_postgres  # noqa: E402

WORKLOAD = REPO / "queries" / "shop.sql"


def run_explain(db: str, runs: int) -> tuple[dict, float]:
    started = time.perf_counter()
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "qprof"), "explain", str(WORKLOAD), "--db", db, "--runs", str(runs), "--format", "json", "--statement-timeout", "5min"],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"qprof explain failed: {result.stderr}")
    return json.loads(result.stdout), wall


def report(engine: str, doc: dict, wall: float, runs: int) -> None:
    print(f"\n{engine}: qprof explain {WORKLOAD.relative_to(REPO)} --runs {runs}")
    print(f"{'statement':<28} {'median ms':>10} {'p95 ms':>10} {'explain ms':>11}  params")
    for statement in doc["statements"]:
        timing = statement["timing"] or {}
        explain_ms = statement["plan"]["execution_ms"]
        print(
            f"{statement['name']:<28} {timing.get('median_ms', float('nan')):>10.3f} {timing.get('p95_ms', float('nan')):>10.3f} "
            f"{explain_ms if explain_ms is not None else float('nan'):>11.3f}  {statement['params_from']}"
        )
    for skipped in doc["skipped"]:
        print(f"{skipped['statement']:<28} skipped: {skipped['reason']}")
    print(f"total wall time of the command: {wall:.2f} s ({len(doc['statements'])} statements, {len(doc['skipped'])} skipped)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engine", choices=["postgresql", "sqlite", "both"], default="both")
    args = parser.parse_args()
    print(f"sample scale {args.scale}; reproduce: .venv/bin/python bench/explain.py --scale {args.scale} --runs {args.runs}")
    if args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            path = build_sqlite(Path(folder) / "bench.sqlite", scale=args.scale)
            doc, wall = run_explain(str(path), args.runs)
            report("SQLite", doc, wall, args.runs)
    if args.engine in ("postgresql", "both"):
        with PgCluster() as cluster:
            dsn = cluster.create_database("bench", extensions=())
            load_postgres(dsn, scale=args.scale)
            doc, wall = run_explain(dsn, args.runs)
            report("PostgreSQL", doc, wall, args.runs)


if __name__ == "__main__":
    main()
