"""`qprof advise` at scale on a TPC-DS star schema (not a test). Prints its figures and the command.

Reproduce: .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/tpcds.py [--sf 0.1] [--statements 90] [--compare 10,50]

TPC-DS at scale factor --sf from duckdb's tpcds extension (``CALL dsdgen``; 24 tables: 7 fact
tables, 17 dimensions), loaded WITHOUT keys into a private PostgreSQL cluster. The workload is
the first --statements of duckdb's 99 ``tpcds_queries()`` (transpiled to PostgreSQL) that
PostgreSQL can EXPLAIN, written as a folder of .sql files; among them q39 and q75, CTEs over
nested subqueries/UNIONs joined to themselves. Then, as a user would run it:

    qprof advise --workload DIR --db DSN --format json --no-write --debug

Target: under 120 s on a 2-core machine. Printed: wall time, statements advised/skipped (with
reasons), what-if calls and cache hits, indexes, and the --debug line saying where the time went.
With --compare BUDGETS, also qprof vs the Extend baseline per budget (as bench/tpch.py does).
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
sys.path.insert(0, str(REPO / "bench"))

from pgcluster import PgCluster
from tpch import compare, duckdb_with, load_into_postgres

QPROF = str(REPO / ".venv" / "bin" / "qprof")


def workload(duck, dsn: str, folder: Path, count: int) -> list:
    """The first ``count`` TPC-DS queries PostgreSQL can plan, as q<N>.sql files and AdviseStatements."""
    import psycopg
    import sqlglot

    from qprof.advise.workload_source import AdviseStatement

    statements = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for number, text in duck.execute("SELECT query_nr, query FROM tpcds_queries() ORDER BY 1").fetchall():
            if len(statements) >= count:
                break
            try:
                sql = sqlglot.transpile(text, read="duckdb", write="postgres")[0]
                conn.execute("EXPLAIN " + sql)
            except Exception as exc:  # noqa: BLE001 - a query PostgreSQL cannot plan is left out, and said so
                print(f"  left out q{number}: {str(exc).splitlines()[0][:100]}")
                continue
            (folder / f"q{number:02d}.sql").write_text(sql + ";\n")
            statements.append(AdviseStatement(key=f"q{number}", sql=sql, name=f"q{number}", source="tpcds"))
    return statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=0.1, help="TPC-DS scale factor")
    parser.add_argument("--statements", type=int, default=90, help="workload size (first N plannable queries)")
    parser.add_argument("--compare", default="", help="budgets in MB for a qprof vs Extend comparison (slow)")
    parser.add_argument(
        "--every-row", action="store_true", help="ANALYZE every row (as bench/tpch.py): the same statistics, so call counts reproduce between runs"
    )
    args = parser.parse_args()
    print(
        f"reproduce: .venv/bin/python bench/tpcds.py --sf {args.sf:g} --statements {args.statements}"
        + (f" --compare {args.compare}" if args.compare else "")
        + (" --every-row" if args.every_row else "")
    )
    started = time.perf_counter()
    duck = duckdb_with("tpcds")
    duck.execute(f"CALL dsdgen(sf={args.sf})")
    tables = [row[0] for row in duck.execute("SHOW TABLES").fetchall()]
    with (
        PgCluster(settings={"shared_buffers": "256MB", "maintenance_work_mem": "256MB"}) as cluster,
        tempfile.TemporaryDirectory(prefix="qprof-tpcds-") as scratch,
    ):
        dsn = cluster.create_database("tpcds", extensions=("hypopg",))
        load_into_postgres(duck, dsn, tables, Path(scratch), every_row=args.every_row)  # default: sampled statistics, a realistic planner
        folder = Path(scratch) / "workload"
        folder.mkdir()
        statements = workload(duck, dsn, folder, args.statements)
        print(
            f"generated and loaded TPC-DS SF{args.sf:g} ({len(tables)} tables, no keys) and {len(statements)} "
            f"statements in {time.perf_counter() - started:.1f} s"
        )
        command = [QPROF, "advise", "--workload", str(folder), "--db", dsn, "--format", "json", "--no-write", "--debug"]
        print("  $ qprof advise --workload DIR --db DSN --format json --no-write --debug")
        began = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - began
        if result.returncode not in (0, 1):
            raise SystemExit(f"qprof failed ({result.returncode}): {result.stderr[-2000:]}")
        doc = json.loads(result.stdout)
        summary = doc["summary"]
        print(
            f"\nwall {wall:.1f} s (target < 120 s); advised {summary['statements']} statements, skipped {len(doc['skipped'])}; "
            f"{summary['whatif_calls']} what-if calls, {summary['cache_hits']} cache hits; {summary['indexes']} indexes, "
            f"{summary['total_size_bytes'] / 1e6:.1f} MB; workload cost {summary['workload_cost_before']:,.0f} → "
            f"{summary['workload_cost_after']:,.0f}"
        )
        for skip in doc["skipped"]:
            print(f"  skipped: {skip['reason']}")
        for line in result.stderr.splitlines():
            if line.startswith("debug:") or "debug:" in line[:20]:
                print("  " + line.strip())
        if args.compare:
            from qprof.conninfo import parse_target
            from qprof.targets import open_target

            with open_target(parse_target(dsn), statement_timeout=300) as target:
                compare(target, statements, [float(b) for b in args.compare.split(",")], 2, label="TPC-DS")


if __name__ == "__main__":
    main()
