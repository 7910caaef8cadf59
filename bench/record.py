"""Benchmark of ``qprof record`` (not a test).

1. Overhead on a busy server: pgbench tps on a private cluster (tests/pgcluster.py, every
   statement logged: log_min_duration_statement = 0, as a recorded window needs), in
   interleaved rounds of three arms —
     plain     pgbench alone
     record    ``qprof record -- pgbench …`` (snapshots around it, log read afterwards)
     snapshots pgbench while ``qprof snapshot`` runs every --every seconds on the same server
               (the cost of a snapshot on a busy server, taken *during* the load)
   and prints per arm the median tps and the spread (min–max), and each arm's ratio to plain
   (target: within noise, < 2 %).
2. Log-percentile throughput: a generated stderr log of --mb MB (default 1024) in PostgreSQL's
   default format, 60 statements with literal values, read and joined to their
   pg_stat_statements texts the way ``qprof record`` does (qprof.record.percentiles.measure,
   N+1 analysis included): MB/s and peak RSS.

Run:  .venv/bin/python bench/record.py [--rounds 5] [--seconds 10] [--clients 2] [--mb 1024]
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pgcluster import PgCluster

QPROF = [sys.executable, "-m", "qprof"]
TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")


def pgbench_tps(output: str) -> float:
    match = TPS.search(output)
    if not match:
        raise RuntimeError(f"no tps in pgbench output:\n{output[-2000:]}")
    return float(match.group(1))


def bench_overhead(rounds: int, seconds: int, clients: int, every: float, scale: int) -> None:
    cluster = PgCluster(settings={"log_min_duration_statement": "0", "shared_buffers": "128MB"})
    cluster.start()
    try:
        dsn = cluster.create_database("bench", extensions=("pg_stat_statements",))
        pgbench = str(cluster.bindir / "pgbench")
        subprocess.run([pgbench, "-i", "-q", "-s", str(scale), dsn], check=True, capture_output=True)
        store = Path(tempfile.mkdtemp(prefix="qprof-bench-record-")) / "history.db"
        load = [pgbench, "-n", "-c", str(clients), "-j", str(clients), "-T", str(seconds), dsn]
        subprocess.run([*QPROF, "snapshot", "-d", dsn, "--store", str(store), "-q"], check=True)  # store created

        def plain() -> float:
            return pgbench_tps(subprocess.run(load, check=True, capture_output=True, text=True).stdout)

        def record() -> float:
            done = subprocess.run(
                [*QPROF, "record", "-d", dsn, "--store", str(store), "--log", str(cluster.logfile), "--no-advisors", "-q", "-f", "json", "--", *load],
                check=False,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-2000:])
            return pgbench_tps(done.stderr)  # with --format json the command's output goes to stderr

        def snapshots() -> float:
            stop = threading.Event()
            taken = []

            def loop() -> None:
                while not stop.wait(every):
                    started = time.perf_counter()
                    subprocess.run([*QPROF, "snapshot", "-d", dsn, "--store", str(store), "-q"], check=True)
                    taken.append(time.perf_counter() - started)

            thread = threading.Thread(target=loop)
            thread.start()
            try:
                return plain()
            finally:
                stop.set()
                thread.join()
                arms_snapshots.extend(taken)

        arms_snapshots: list[float] = []
        arms = {"plain": plain, "record": record, "snapshots": snapshots}
        results: dict[str, list[float]] = {name: [] for name in arms}
        plain()  # warm-up: caches, connections
        for round_no in range(rounds):
            order = list(arms) if round_no % 2 == 0 else list(reversed(arms))  # interleaved, alternating order
            for name in order:
                results[name].append(arms[name]())
            print(f"round {round_no + 1}: " + ", ".join(f"{n} {results[n][-1]:,.0f}" for n in arms), flush=True)
        base = statistics.median(results["plain"])
        print(
            f"\npgbench -c {clients} -j {clients} -T {seconds} (scale {scale}), {rounds} interleaved rounds, "
            f"every statement logged; machine: {len(__import__('os').sched_getaffinity(0))} usable cores"
        )
        print(f"{'arm':<10} {'median tps':>11} {'min':>9} {'max':>9} {'spread':>8} {'ratio':>7}")
        for name, values in results.items():
            median = statistics.median(values)
            spread = 100.0 * (max(values) - min(values)) / median
            print(f"{name:<10} {median:>11,.1f} {min(values):>9,.1f} {max(values):>9,.1f} {spread:>7.1f}% {median / base:>7.3f}")
        if arms_snapshots:
            print(f"qprof snapshot during the load: {len(arms_snapshots)} taken, median {statistics.median(arms_snapshots):.2f} s each (every {every:g} s)")
    finally:
        cluster.stop()


STATEMENTS = [
    (
        f"SELECT id, name, total FROM orders_{i} WHERE customer_id = {{v}} AND status = 'paid' ORDER BY id LIMIT 20",
        f"SELECT id, name, total FROM orders_{i} WHERE customer_id = $1 AND status = $2 ORDER BY id LIMIT $3",
    )
    for i in range(40)
] + [
    (f"UPDATE accounts_{i} SET balance = balance + {{v}} WHERE id = {{v}}", f"UPDATE accounts_{i} SET balance = balance + $1 WHERE id = $2") for i in range(20)
]


def write_log(path: Path, megabytes: int) -> int:
    """A stderr log in the default '%m [%p] ' format; returns the number of statements."""
    rng = random.Random(7)
    target = megabytes * 1024 * 1024
    written = count = 0
    with open(path, "w", encoding="utf-8") as out:
        while written < target:
            lines = []
            for _ in range(5000):
                text, _norm = STATEMENTS[rng.randrange(len(STATEMENTS))]
                sql = text.replace("{v}", str(rng.randrange(1, 100000)))
                duration = rng.lognormvariate(-1.0, 1.2)
                pid = 1000 + rng.randrange(50)
                lines.append(f"2026-11-30 12:00:{count % 60:02d}.{count % 1000:03d} UTC [{pid}] LOG:  duration: {duration:.3f} ms  statement: {sql}\n")
                count += 1
            chunk = "".join(lines)
            out.write(chunk)
            written += len(chunk)
    return count


def bench_log(megabytes: int) -> None:
    import pandas as pd

    from qprof.record.logwindow import Segment, iter_batches
    from qprof.record.percentiles import measure

    folder = Path(tempfile.mkdtemp(prefix="qprof-bench-log-"))
    path = folder / "postgresql.log"
    started = time.perf_counter()
    count = write_log(path, megabytes)
    size = path.stat().st_size
    print(f"\ngenerated {size / 1e6:,.0f} MB, {count:,} statements in {time.perf_counter() - started:.1f} s ({path})")
    table = pd.DataFrame(
        {
            "queryid": [str(i) for i in range(len(STATEMENTS))],
            "user_name": ["app"] * len(STATEMENTS),
            "query": [norm for _text, norm in STATEMENTS],
            "calls": [count // len(STATEMENTS)] * len(STATEMENTS),
        }
    )
    started, cpu = time.perf_counter(), time.process_time()
    measured = measure(iter_batches([Segment(str(path), 0, size, str(path))]), table, database=None, threshold_ms=0.0, source="bench")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    matched = sum(v["samples"] for v in measured.statements.values()) // 1  # each fingerprint counted once per key
    print(
        f"log percentiles: {size / 1e6 / elapsed:,.1f} MB/s wall, {size / 1e6 / cpu:,.1f} MB/s of CPU time "
        f"({elapsed:.1f} s wall, {cpu:.1f} s CPU for {size / 1e6:,.0f} MB; one process), "
        f"{measured.logged:,} durations read, {measured.unmatched:,} unmatched, "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )
    assert matched == measured.logged, (matched, measured.logged)
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10, help="pgbench -T per run")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between snapshots in the 'snapshots' arm")
    parser.add_argument("--mb", type=int, default=1024, help="size of the generated log (0: skip)")
    parser.add_argument("--skip-pgbench", action="store_true")
    args = parser.parse_args()
    print("command: " + " ".join([".venv/bin/python", "bench/record.py", *sys.argv[1:]]))
    if not args.skip_pgbench:
        bench_overhead(args.rounds, args.seconds, args.clients, args.every, args.scale)
    if args.mb:
        bench_log(args.mb)


if __name__ == "__main__":
    main()
