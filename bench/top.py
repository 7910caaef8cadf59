"""Benchmark: `qprof top` and `qprof --help` as whole processes, beside psql reading the same rows.

Reproduce: .venv/bin/python bench/top.py [--statements 5000] [--repeat 9] [--anchor DIR]
Starts a private PostgreSQL cluster (tests/pgcluster.py), fills pg_stat_statements with 5,000
distinct statements, then times, interleaved round by round so machine load hits all alike:
psql printing every pg_stat_statements row (the floor: a process start, a connection, the rows),
`qprof --help`, and `qprof top --format json --limit 20` (interpreter start, imports, connect,
query, ranking, JSON). Prints median, min-max spread, ratio to psql and the peak RSS.
--anchor DIR runs a second qprof source tree (e.g. `git archive main | tar -x -C DIR`) with the
same interpreter beside this one, for a before/after in one run.
Targets on the 2-core dev machine: `qprof top` <= 0.4 s, `qprof --help` <= 0.2 s (median).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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


PSQL_QUERY = "SELECT * FROM pg_stat_statements"


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str] | None = None, check: Callable[[str], None] | None = None) -> tuple[float, float]:
    """Wall time and the CPU time (user + system) of the client process; the server's is not in it."""
    cpu, started = _child_cpu(), time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - started, _child_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed ({result.returncode}): {result.stderr}")
    if check:
        check(result.stdout)
    return wall, cpu


def twenty_statements(stdout: str) -> None:
    assert len(json.loads(stdout)["statements"]) == 20


def lists_commands(stdout: str) -> None:
    assert "top" in stdout and "advise" in stdout


def qprof_runs(tree: Path) -> tuple[list[str], dict[str, str]]:
    """argv prefix and environment that run the qprof package found in `tree` with this venv's Python."""
    # .pyc files as an installed qprof has them (pip compiles a wheel's modules): a shell with
    # PYTHONDONTWRITEBYTECODE set, as this dev machine's is, would recompile every module each run
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(tree)
    # -P keeps the working directory off sys.path; PYTHONPATH wins over the editable install's finder
    return [str(REPO / ".venv" / "bin" / "python"), "-P", "-m", "qprof"], env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--anchor", type=Path, help="another qprof source tree to time beside this one")
    args = parser.parse_args()
    trees = {"this tree": REPO}
    if args.anchor:
        trees["anchor " + str(args.anchor)] = args.anchor.resolve()
    with PgCluster(settings={"pg_stat_statements.max": str(max(args.statements + 500, 10000))}) as cluster:
        dsn = cluster.create_database("bench")
        entries = fill(cluster, dsn, args.statements)
        psql = [str(cluster.bindir / "psql"), "-X", "-A", "-d", dsn, "-c", PSQL_QUERY]
        cases: dict[str, tuple[list[str], dict[str, str] | None, Callable[[str], None] | None]] = {"psql (all rows)": (psql, None, None)}
        for label, tree in trees.items():
            prefix, env = qprof_runs(tree)
            cases[f"qprof --help [{label}]"] = ([*prefix, "--help"], env, lists_commands)
            cases[f"qprof top [{label}]"] = (
                [*prefix, "top", "--db", dsn, "--format", "json", "--limit", "20"],
                env,
                twenty_statements,
            )
        walls: dict[str, list[float]] = {name: [] for name in cases}
        cpus: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(2):  # warm the OS file cache and .pyc files; not counted
            for argv, env, check in cases.values():
                timed(argv, env, check)
        for _ in range(args.repeat):
            for name, (argv, env, check) in cases.items():
                wall, cpu = timed(argv, env, check)
                walls[name].append(wall)
                cpus[name].append(cpu)
    floor = statistics.median(walls["psql (all rows)"])
    print(f"pg_stat_statements entries: {entries}; {args.repeat} interleaved rounds")
    print("wall time (what a user waits), then client CPU time (user+sys; steadier on a busy machine)")
    width = max(map(len, walls))
    for name, times in walls.items():
        median, cpu = statistics.median(times), statistics.median(cpus[name])
        anchor_name = next((a for a in walls if a != name and a.split(" [")[0] == name.split(" [")[0]), None)
        versus = ""
        if args.anchor and name.endswith("[this tree]") and anchor_name:
            versus = f"  x{median / statistics.median(walls[anchor_name]):.2f} anchor"
        print(
            f"{name:<{width}}  median {median:.3f} s  spread {min(times):.3f}-{max(times):.3f} s  x{median / floor:.1f} psql{versus}  |  cpu median {cpu:.3f} s"
        )
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak RSS of any child process: {peak_kb / 1024:.1f} MB")
    anchor = " --anchor DIR" if args.anchor else ""
    print(f"reproduce: .venv/bin/python bench/top.py --statements {args.statements} --repeat {args.repeat}{anchor}")


if __name__ == "__main__":
    main()
