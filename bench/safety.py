"""Benchmark: what the execution gate (qprof.safety) costs per statement, next to a plain EXPLAIN.

Reproduce: .venv/bin/python bench/safety.py [--scale 0.02] [--repeat 20] [--dsn DSN]
Without --dsn it starts a private cluster (tests/pgcluster.py) and loads the sample. For each
statement of queries/shop.sql it times, interleaved in one loop, (a) ``execution_verdict`` with a
cold cache — parse with pglast, relations.sql, functions.sql — and (b) the anchor, a plain
``EXPLAIN`` of the same statement on the same session; it prints medians, p95 and the ratio.
The gate runs once per statement and command (verdicts are cached per session).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--dsn", help="an existing database with the sample loaded (default: start a private cluster)")
    args = parser.parse_args()

    from qprof.conninfo import parse_target
    from qprof.plans.postgres import explain_postgres
    from qprof.safety import execution_verdict
    from qprof.stats import percentile
    from qprof.targets import open_target
    from qprof.workload import load_workload

    cluster = None
    dsn = args.dsn
    if dsn is None:
        from pgcluster import PgCluster
        from qprof.sample_dbs import load_postgres

        cluster = PgCluster().start()
        dsn = cluster.create_database("bench_safety")
        load_postgres(dsn, scale=args.scale)
    try:
        statements = load_workload(REPO / "queries" / "shop.sql")
        gate_ms: list[float] = []
        explain_ms: list[float] = []
        refused: dict[str, str] = {}
        with open_target(parse_target(dsn)) as target:
            for _ in range(args.repeat):
                for statement in statements:
                    target.verdicts.clear()
                    started = time.perf_counter()
                    verdict = execution_verdict(target, statement.sql, statement.params)
                    gate_ms.append((time.perf_counter() - started) * 1000)
                    if not verdict.allowed:
                        refused[statement.name] = verdict.message()
                    started = time.perf_counter()
                    explain_postgres(target, statement.sql, list(statement.params) or None, analyze=False)
                    explain_ms.append((time.perf_counter() - started) * 1000)

        def p95(samples: list[float]) -> float:
            return percentile(samples, 0.95)  # qprof's one definition (nearest rank)

        print(f"{len(statements)} statements × {args.repeat} repeats, one session")
        print(f"gate (execution_verdict, cold)   median {statistics.median(gate_ms):.2f} ms  p95 {p95(gate_ms):.2f} ms")
        print(f"anchor (plain EXPLAIN)           median {statistics.median(explain_ms):.2f} ms  p95 {p95(explain_ms):.2f} ms")
        print(f"ratio of medians gate/EXPLAIN    {statistics.median(gate_ms) / statistics.median(explain_ms):.2f}")
        for name, reason in refused.items():
            print(f"not executed: {name}: {reason}")
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
