"""Benchmarks for `qprof advise` (not tests). Each prints its figures and the commands it ran.

Reproduce: .venv/bin/python bench/advise.py [--only 1,2,3,4] [--scale 1.0] [--sqlite-scale 0.2]

1. Sample PostgreSQL workload at --scale (default 1.0 = full): workload time Σ calls × mean ms
   (measured, 5 runs after a warm-up) before and after applying the recommendations (target ≥ 10×),
   number of indexes, total real size, advisor wall time, what-if calls.
2. Scale: 500 distinct statements over 50 tables: advisor wall time (target < 60 s).
3. Optimality on small workloads (≤ 10 candidates): the greedy configuration's workload cost vs the
   best one found by exhaustive enumeration under the same budget (ratio, 1.00 = optimal).
4. SQLite sample workload: qprof's indexes vs the sqlite3 shell's `.expert` recommendations —
   measured speedup per statement for both, and the number of indexes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pgcluster import PgCluster  # noqa: E402

QPROF = str(REPO / ".venv" / "bin" / "qprof")
SHOP = REPO / "queries" / "shop.sql"


def qprof(*args: str) -> tuple[dict, float]:
    command = [QPROF, *args]
    print("  $ qprof " + " ".join(f"'{a}'" if " " in a else a for a in args))
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"qprof failed ({result.returncode}): {result.stderr}")
    return json.loads(result.stdout), wall


def workload_ms(dsn: str, runs: int = 5) -> tuple[float, dict[str, float]]:
    """Σ calls × mean ms of the shop workload, measured (one warm-up, then ``runs``)."""
    from qprof.conninfo import parse_target
    from qprof.runner import time_statement
    from qprof.targets import open_target
    from qprof.workload import load_workload

    per: dict[str, float] = {}
    total = 0.0
    with open_target(parse_target(dsn), statement_timeout=300) as target:
        for statement in load_workload(SHOP):
            timings = time_statement(target, statement, runs, warmup=1)
            mean = statistics.fmean(t.ms for t in timings)
            per[statement.name] = mean
            total += statement.calls * mean
    return total, per


def bench_full_workload(cluster: PgCluster, scale: float) -> None:
    from qprof.sample_dbs import load_postgres

    print(f"\n== 1. sample workload at scale {scale}: before/after the recommendations")
    dsn = cluster.create_database("bench_full", extensions=("pg_stat_statements", "hypopg"))
    started = time.perf_counter()
    load_postgres(dsn, scale=scale)
    print(f"  loaded in {time.perf_counter() - started:.1f} s")
    # The steady state autovacuum reaches by itself a minute after a bulk load: the visibility map
    # set (index-only scans depend on it). Done explicitly so that runs do not depend on timing.
    with cluster.connect("bench_full") as conn:
        for attempt in range(10):  # noqa: B007 - read after the loop: how many VACUUMs it took
            conn.execute("VACUUM (ANALYZE)")
            visible = conn.execute(
                "SELECT sum(relallvisible)::float8 / greatest(sum(relpages), 1) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
            ).fetchone()[0]
            if visible >= 0.95:
                break
            time.sleep(5)  # a concurrent (auto)analyze snapshot can keep VACUUM from marking pages all-visible
    print(
        f"  VACUUM (ANALYZE) after the load, as autovacuum does on its own: {visible:.0%} of heap pages all-visible "
        f"(index-only scans need it; {attempt + 1} attempt(s))"
    )
    before, per_before = workload_ms(dsn)
    out = Path(tempfile.mkdtemp(prefix="qprof-bench-"))
    doc, wall = qprof(
        "advise", "--db", dsn, "--workload", str(SHOP), "--apply", "--format", "json", "--out", str(out), "--statement-timeout", "5min", "--lock-timeout", "30s"
    )
    after, per_after = workload_ms(dsn)
    applied = doc["applied"] or []
    size = sum(a.get("size_bytes") or 0 for a in applied if a.get("created"))
    shapes = ", ".join(
        r["table"] + "(" + ", ".join(r["columns"]) + ")" + (" INCLUDE (" + ", ".join(r["include"]) + ")" if r.get("include") else "")
        for r in doc["recommendations"]
    )
    print(f"  indexes: {len(doc['recommendations'])} ({shapes})")
    print(
        f"  total real size: {size / 1024 / 1024:.1f} MB   advisor: {doc['summary']['seconds']:.2f} s inside, {wall:.2f} s wall "
        f"(incl. building the indexes)   what-if calls: {doc['summary']['whatif_calls']} (cache hits {doc['summary']['cache_hits']})"
    )
    print(f"  workload time Σ calls × mean ms: before {before:,.1f} ms, after {after:,.1f} ms  → {before / after:.1f}× faster")
    from qprof.workload import load_workload

    calls = {s.name: s.calls for s in load_workload(SHOP)}
    print(f"    {'statement':<26}{'calls':>6}{'before ms':>11}{'after ms':>10}{'×':>7}{'calls×after':>13}")
    for name in sorted(per_before, key=lambda n: -calls[n] * per_after[n]):
        print(
            f"    {name:<26}{calls[name]:6d}{per_before[name]:11.3f}{per_after[name]:10.3f}"
            f"{per_before[name] / max(per_after[name], 1e-9):7.1f}{calls[name] * per_after[name]:13.1f}"
        )
    shutil.rmtree(out, ignore_errors=True)


def bench_scale(cluster: PgCluster, statements: int = 500, tables: int = 50) -> None:
    print(f"\n== 2. scale: {statements} distinct statements over {tables} tables")
    dsn = cluster.create_database("bench_scale", extensions=("pg_stat_statements", "hypopg"))
    rng = random.Random(7)
    with cluster.connect("bench_scale") as conn:
        for t in range(tables):
            conn.execute(f"CREATE TABLE t{t} (id int PRIMARY KEY, " + ", ".join(f"c{c} int" for c in range(10)) + ")")
            values = ", ".join(f"(i * {7 + c}) % {10 ** (1 + c % 5)}" for c in range(10))
            conn.execute(f"INSERT INTO t{t} SELECT i, {values} FROM generate_series(1, 20000) AS i")
        conn.execute("ANALYZE")
    lines, seen = [], set()
    while len(lines) < statements:
        t, a, b, s, x = rng.randrange(tables), rng.randrange(10), rng.randrange(10), rng.randrange(10), rng.randrange(10)
        shape = rng.randrange(4)
        if shape == 0:
            sql = f"SELECT c{x} FROM t{t} WHERE c{a} = {rng.randrange(100)}"
        elif shape == 1:
            sql = f"SELECT c{x} FROM t{t} WHERE c{a} = {rng.randrange(100)} AND c{b} > {rng.randrange(100)}"
        elif shape == 2:
            sql = f"SELECT c{x} FROM t{t} WHERE c{a} = {rng.randrange(100)} ORDER BY c{s} DESC LIMIT 10"
        else:
            sql = f"UPDATE t{t} SET c{x} = c{x} + 1 WHERE c{a} = {rng.randrange(100)}"
        key = (t, a, b, s, x, shape)
        if key in seen:
            continue
        seen.add(key)
        lines.append(f"-- name: s{len(lines)}\n-- calls: {rng.randrange(1, 1000)}\n{sql};\n")
    folder = Path(tempfile.mkdtemp(prefix="qprof-bench-"))
    workload = folder / "w.sql"
    workload.write_text("\n".join(lines))
    doc, wall = qprof("advise", "--db", dsn, "--workload", str(workload), "--format", "json", "--no-write")
    s = doc["summary"]
    print(
        f"  statements {s['statements']}, candidates {s['candidates']}, indexes {s['indexes']}, what-if calls {s['whatif_calls']}, cache hits {s['cache_hits']}"
    )
    print(f"  advisor wall time: {wall:.1f} s (in-process {s['seconds']:.1f} s); target < 60 s")
    shutil.rmtree(folder, ignore_errors=True)


SMALL_WORKLOADS = {
    "orders+cases": ["orders_by_customer", "orders_day_revenue", "case_history", "purge_case_errors", "top_cases"],
    "audio+contents": ["audio_by_task", "audio_by_content", "finish_audio_task", "contents_by_client", "audio_status_summary"],
    "mixed": ["orders_by_customer", "audio_by_task", "case_history", "weak_cases", "script_for_content"],
}


def bench_optimality(cluster: PgCluster) -> None:
    from qprof.advise.advisor import analyze_statements
    from qprof.advise.catalog import load_catalog
    from qprof.advise.selection import Selector, write_loads
    from qprof.advise.whatif import HypoPGWhatIf
    from qprof.advise.workload_source import from_workload_paths
    from qprof.conninfo import parse_target
    from qprof.sample_dbs import load_postgres
    from qprof.targets import open_target

    print("\n== 3. optimality vs exhaustive enumeration (same budget, read cost Σ calls × planner cost)")
    dsn = cluster.create_database("bench_opt", extensions=("hypopg",))
    load_postgres(dsn, scale=0.1)
    for label, names in SMALL_WORKLOADS.items():
        with open_target(parse_target(dsn)) as target:
            catalog = load_catalog(target)
            statements = [s for s in from_workload_paths([SHOP]) if s.name in names]
            statements = analyze_statements(catalog, statements, [])
            whatif = HypoPGWhatIf(target, catalog)
            try:
                selector = Selector(statements, whatif, catalog, write_loads(statements, catalog, from_server=False))
                universe = sorted(selector.universe)[:10]
                selector.universe = set(universe)
                selector._index_universe()
                chosen = selector.run().chosen
                budget = sum(whatif.size(c) for c in chosen)

                def workload_cost(config, whatif=whatif, statements=statements) -> float:
                    return sum(s.weight * whatif.cost(s, config) for s in statements)

                greedy = workload_cost(chosen)
                best, best_config, tried = float("inf"), (), 0
                for size in range(len(universe) + 1):
                    for config in itertools.combinations(universe, size):
                        if sum(whatif.size(c) for c in config) > budget:
                            continue
                        tried += 1
                        cost = workload_cost(config)
                        if cost < best - 1e-9:
                            best, best_config = cost, config
            finally:
                whatif.close()
        print(
            f"  {label:<15} candidates {len(universe):2d}  configs tried {tried:4d}  greedy {greedy:12,.1f} "
            f"({len(chosen)} idx)  exhaustive {best:12,.1f} ({len(best_config)} idx)  ratio {greedy / best:.3f}"
        )


def bench_sqlite(scale: float) -> None:
    from qprof.sample_dbs import build_sqlite
    from qprof.workload import load_workload

    print(f"\n== 4. SQLite (scale {scale}): qprof vs sqlite3 .expert")
    if shutil.which("sqlite3") is None:
        print("  sqlite3 shell not installed (apt-get install -y sqlite3): skipped")
        return
    folder = Path(tempfile.mkdtemp(prefix="qprof-bench-sqlite-"))
    base = build_sqlite(folder / "base.sqlite", scale=scale)
    ours, expert = folder / "qprof.sqlite", folder / "expert.sqlite"
    shutil.copy(base, ours)
    shutil.copy(base, expert)
    doc, wall = qprof("advise", "--db", str(ours), "--workload", str(SHOP), "--apply", "--format", "json", "--no-write")
    statements = load_workload(SHOP)
    expert_ddl: list[str] = []
    for statement in statements:
        text = _literal_sql(statement.sql, statement.params)
        result = subprocess.run(["sqlite3", str(base)], input=f".expert\n{text};\n", capture_output=True, text=True)
        for line in result.stdout.splitlines():
            if line.startswith("CREATE INDEX") and line not in expert_ddl:
                expert_ddl.append(line)
    for ddl in expert_ddl:
        subprocess.run(["sqlite3", str(expert)], input=ddl + "\n", check=True, capture_output=True, text=True)
    print(f"  qprof: {len(doc['recommendations'])} indexes (advisor {wall:.1f} s wall); .expert: {len(expert_ddl)} indexes")
    timings = {label: _sqlite_times(path, statements) for label, path in (("base", base), ("qprof", ours), ("expert", expert))}
    print(f"  {'statement':<26}{'base ms':>10}{'qprof ms':>10}{'×':>7}{'expert ms':>11}{'×':>7}")
    totals = {label: 0.0 for label in timings}
    for statement in statements:
        b, q, e = (timings[label][statement.name] for label in ("base", "qprof", "expert"))
        for label, value in (("base", b), ("qprof", q), ("expert", e)):
            totals[label] += statement.calls * value
        print(f"  {statement.name:<26}{b:10.3f}{q:10.3f}{b / q:7.1f}{e:11.3f}{b / e:7.1f}")
    print(
        f"  workload Σ calls × median ms: base {totals['base']:,.1f}  qprof {totals['qprof']:,.1f} "
        f"({totals['base'] / totals['qprof']:.1f}×)  expert {totals['expert']:,.1f} ({totals['base'] / totals['expert']:.1f}×)"
    )
    shutil.rmtree(folder, ignore_errors=True)


def _literal_sql(sql: str, params: list) -> str:
    from sqlglot import exp

    from qprof import sqltext

    tree = sqltext.parse(sql, "postgresql").copy()
    for node in list(tree.find_all(exp.Parameter)):
        index = int(node.name) - 1
        value = params[index]
        node.replace(exp.Literal.number(value) if isinstance(value, (int, float)) else exp.Literal.string(str(value)))
    return tree.sql("sqlite")


def _sqlite_times(path: Path, statements, runs: int = 5) -> dict[str, float]:
    import sqlite3

    from qprof import sqltext

    conn = sqlite3.connect(path, isolation_level=None)
    result = {}
    for statement in statements:
        sql = sqltext.to_sqlite(statement.sql)
        modifying = sqltext.is_data_modifying(sqltext.parse(statement.sql, "sqlite"))
        samples = []
        for attempt in range(runs + 1):
            if modifying:
                conn.execute("BEGIN")
            started = time.perf_counter()
            conn.execute(sql, statement.params).fetchall()
            elapsed = (time.perf_counter() - started) * 1000
            if modifying:
                conn.execute("ROLLBACK")
            if attempt:
                samples.append(elapsed)
        result[statement.name] = statistics.median(samples)
    conn.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="1,2,3,4", help="which benchmarks, e.g. 2,3")
    parser.add_argument("--scale", type=float, default=1.0, help="sample scale for benchmark 1")
    parser.add_argument("--sqlite-scale", type=float, default=0.2, help="sample scale for benchmark 4")
    args = parser.parse_args()
    only = {int(x) for x in args.only.split(",")}
    print(f"reproduce: .venv/bin/python bench/advise.py --only {args.only} --scale {args.scale} --sqlite-scale {args.sqlite_scale}")
    needs_pg = only & {1, 2, 3}
    cluster = PgCluster(settings={"shared_buffers": "256MB", "maintenance_work_mem": "256MB"}) if needs_pg else None
    try:
        if cluster:
            cluster.start()
        if 1 in only:
            bench_full_workload(cluster, args.scale)
        if 2 in only:
            bench_scale(cluster)
        if 3 in only:
            bench_optimality(cluster)
        if 4 in only:
            bench_sqlite(args.sqlite_scale)
    finally:
        if cluster:
            cluster.stop()


if __name__ == "__main__":
    main()
