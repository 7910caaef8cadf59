"""Benchmark: what a `qprof snapshot` + `qprof top` loop costs the application's throughput.

Reproduce: .venv/bin/python bench/load.py [--scale 10] [--rounds 5] [--seconds 20] [--clients 4] [--pause 0]

Starts a private PostgreSQL cluster (tests/pgcluster.py), runs `pgbench -i -s SCALE`, then for
each round runs pgbench (TPC-B-like, CLIENTS clients) once alone and once while a loop runs
`qprof snapshot` and `qprof top` back to back against the same database; the two runs of a round
alternate in order (ABBA) so drift of a shared machine hits both sides alike. Prints the tps of
every run, the median and spread of each side, the ratio of the medians, how many qprof
commands ran, where their cost goes (client CPU of the qprof processes vs server time of
qprof's queries in pg_stat_statements), and the machine's cores. ``--pause`` spaces the loop's
iterations (0, the default, runs them back to back: the worst case).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pgcluster import PgCluster

QPROF = str(REPO / ".venv" / "bin" / "qprof")
_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)


class QprofLoop:
    """`qprof snapshot` then `qprof top`, again and again, until stopped."""

    def __init__(self, dsn: str, store: Path, pause: float = 0.0) -> None:
        self.dsn, self.store, self.pause = dsn, store, pause
        self.commands = 0
        self.cpu_seconds = 0.0
        self.seconds: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        argv = [
            [QPROF, "snapshot", "--db", self.dsn, "--store", str(self.store), "--quiet"],
            [QPROF, "top", "--db", self.dsn, "--format", "json", "--limit", "20"],
        ]
        while not self._stop.is_set():
            for command in argv:
                started = time.perf_counter()
                child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                errors = child.stderr.read() if child.stderr else ""
                _, status, usage = os.wait4(child.pid, 0)  # the child's own CPU time, not pgbench's
                child.returncode = os.waitstatus_to_exitcode(status)
                self.seconds.append(time.perf_counter() - started)
                self.cpu_seconds += usage.ru_utime + usage.ru_stime
                self.commands += 1
                if child.returncode != 0:
                    self.failures.append(errors.strip()[:200])
            self._stop.wait(self.pause)

    def __enter__(self) -> Self:
        self._thread.start()
        time.sleep(0.5)  # the loop is running before pgbench starts
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def pgbench(cluster: PgCluster, args: list[str]) -> str:
    argv = [str(cluster.bindir / "pgbench"), "-h", cluster.host, "-p", str(cluster.port), "-U", cluster.superuser, *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"pgbench failed: {result.stderr[-2000:]}")
    return result.stdout


def qprof_server_ms(cluster: PgCluster) -> float:
    """Server time of qprof's own (``/* qprof */``-tagged) queries so far, from pg_stat_statements."""
    with cluster.connect("bench") as conn:
        row = conn.execute("SELECT coalesce(sum(total_exec_time + total_plan_time), 0) FROM pg_stat_statements WHERE query LIKE '/* qprof */%'").fetchone()
    return float(row[0]) if row else 0.0


def run_tps(cluster: PgCluster, seconds: int, clients: int) -> float:
    out = pgbench(cluster, ["-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)), "-T", str(seconds), "-n", "bench"])
    match = _TPS.search(out)
    if not match:
        raise SystemExit(f"no tps in pgbench output:\n{out}")
    return float(match.group(1))


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):,.1f}  min {min(values):,.1f}  max {max(values):,.1f}  " + (
        f"stdev {statistics.stdev(values):,.1f} ({statistics.stdev(values) / statistics.mean(values):.1%})" if len(values) > 1 else ""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10, help="pgbench -i scale (10 = 1M accounts)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of (alone, with qprof) runs")
    parser.add_argument("--seconds", type=int, default=20, help="length of each pgbench run")
    parser.add_argument("--clients", type=int, default=4, help="pgbench clients")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between snapshot+top pairs (0: back to back, the worst case)")
    args = parser.parse_args()

    with PgCluster(settings={"shared_buffers": "256MB"}) as cluster, tempfile.TemporaryDirectory() as tmp:
        dsn = cluster.create_database("bench")  # with pg_stat_statements: snapshot and top need it
        print(f"pgbench -i -s {args.scale} …", flush=True)
        pgbench(cluster, ["-i", "-s", str(args.scale), "-q", "bench"])
        run_tps(cluster, 5, args.clients)  # warm the cache: the first run would read from disk
        alone: list[float] = []
        loaded: list[float] = []
        commands, durations, failures, client_cpu, server_ms, loaded_seconds = 0, [], [], 0.0, 0.0, 0.0
        for number in range(args.rounds):
            order = ("alone", "loaded") if number % 2 == 0 else ("loaded", "alone")
            for side in order:
                if side == "alone":
                    tps = run_tps(cluster, args.seconds, args.clients)
                    alone.append(tps)
                else:
                    before = qprof_server_ms(cluster)
                    started = time.perf_counter()
                    with QprofLoop(dsn, Path(tmp) / "history.db", args.pause) as loop:
                        tps = run_tps(cluster, args.seconds, args.clients)
                    loaded_seconds += time.perf_counter() - started
                    server_ms += qprof_server_ms(cluster) - before
                    client_cpu += loop.cpu_seconds
                    loaded.append(tps)
                    commands += loop.commands
                    durations += loop.seconds
                    failures += loop.failures
                print(f"round {number + 1} {side:>6}: {tps:,.1f} tps", flush=True)

    ratio = statistics.median(loaded) / statistics.median(alone)
    print()
    print(
        f"machine: {os.cpu_count()} cores; pgbench -s {args.scale}, {args.clients} clients, {args.seconds} s per run, "
        f"{args.rounds} rounds; qprof loop pause {args.pause:g} s"
    )
    print(f"pgbench alone       : {spread(alone)}")
    print(f"with qprof loop     : {spread(loaded)}")
    print(f"ratio (with/alone)  : {ratio:.3f}  (throughput cost {1 - ratio:.1%})")
    if durations:
        print(f"qprof commands run  : {commands} (snapshot and top alternating), median {statistics.median(durations):.2f} s each")
        print(
            f"where it goes       : the qprof processes used {client_cpu / loaded_seconds:.2f} CPU cores (Python start-up, "
            f"imports, rendering) and the server {server_ms / 1000 / loaded_seconds:.3f} cores for qprof's own queries "
            f"({server_ms / max(commands, 1):.0f} ms per command)"
        )
    if failures:
        print(f"qprof failures      : {len(failures)}, e.g. {failures[0]}")
    print(
        f"reproduce: .venv/bin/python bench/load.py --scale {args.scale} --rounds {args.rounds} "
        f"--seconds {args.seconds} --clients {args.clients} --pause {args.pause:g}"
    )


if __name__ == "__main__":
    main()
