"""Benchmark: throughput and peak memory of ``qprof nplusone --log`` on big server logs.

Generates a stderr log, a csvlog and a pgbench log of ``--mb`` MB each (default 200) in a temporary folder,
runs ``qprof nplusone --log FILE --format json`` on each as a subprocess, and prints MB/s and
the peak RSS: the largest process's (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and, sampled
from /proc every 20 ms, the peak sum over qprof and its worker processes (big logs are parsed
in byte ranges by workers on every core while qprof stitches and analyzes). The files are
deleted afterwards. Targets: ≥ 50 MB/s and
< 200 MB peak RSS.

The generated traffic looks like a web service on a connection pool: requests of a few
statements, one in five with an N+1 burst; ``--literal-share`` of the statements use the simple
protocol with literals inlined (every text distinct: the fingerprint cache cannot help), the
rest the extended protocol (parse/bind/execute + DETAIL parameters, as psycopg 3 or JDBC send).

The pgbench log is what ``pgbench -c 10`` (tpcb-like, simple protocol) makes the server write
with the default ``log_line_prefix = '%m [%p] '``: ten sessions that never go idle, no
transaction ids — the case where per-session state used to grow with the session.

``--against OTHER_QPROF`` runs another build (e.g. main's ``OTHER_CHECKOUT/.venv/bin/qprof``) on
the same files, alternating with this one, and prints both with the ratio (medians of
``--repeat`` runs and their spread). ``--pgbadger`` also times ``pgbadger`` on the stderr logs
when it is installed.

    .venv/bin/python bench/logparse.py [--mb 200] [--literal-share 0.2] [--keep DIR] [--repeat N]
                                       [--against OTHER_CHECKOUT/.venv/bin/qprof] [--only stderr,pgbench] [--pgbadger]

With ``--keep DIR`` the logs stay in DIR and a later run with the same ``--mb`` reuses them
(generating 2 × 200 MB takes longer than parsing them). ``--repeat N`` runs each file N times
and reports the fastest run (the machine is shared; the best run is the least disturbed one).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

QPROF = str(Path(sys.executable).with_name("qprof"))
STATEMENTS = [
    "SELECT customers.id, customers.name, customers.email FROM customers WHERE customers.country = $1 ORDER BY customers.id LIMIT 20",
    "SELECT orders.id, orders.status, orders.total_cents FROM orders WHERE $1 = orders.customer_id ORDER BY orders.id",
    "UPDATE case_bank SET usage_count = usage_count + 1, updated_at = now() WHERE id = $1",
    "SELECT contents.id, contents.title FROM contents WHERE contents.client_id = $1 AND contents.status = $2",
    "INSERT INTO execution_log (case_id, outcome, duration_ms, executed_at) VALUES ($1, $2, $3, now())",
]


def _requests(rng: random.Random, literal_share: float):
    """Yield (session, vxid, [(sql, params)]) per request, forever."""
    txn = 0
    while True:
        session = rng.randrange(1, 60)
        txn += 1
        work = [(STATEMENTS[0], [rng.choice(["NL", "DE", "FR"])])]
        if rng.random() < 0.2:  # the N+1
            work += [(STATEMENTS[1], [str(rng.randrange(1, 100_000))]) for _ in range(rng.randrange(5, 25))]
        work += [(STATEMENTS[rng.randrange(2, 5)], [str(rng.randrange(1, 9999)), "ok", "12"]) for _ in range(rng.randrange(1, 4))]
        yield session, f"{session}/{txn}", [(sql, params, rng.random() < literal_share) for sql, params in work]


def _inline(sql: str, params: list[str]) -> str:
    for n, value in reversed(list(enumerate(params, start=1))):
        sql = sql.replace(f"${n}", value if value.isdigit() else f"'{value}'")
    return sql


def generate_stderr(path: Path, megabytes: int, literal_share: float) -> None:
    rng, target, second = random.Random(1), megabytes * 1024 * 1024, 0
    with open(path, "w") as out:
        for i, (session, _vxid, work) in enumerate(_requests(rng, literal_share)):
            if out.tell() >= target:
                return
            second += 1 if i % 50 == 0 else 0
            ts = f"2024-05-01 {second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{i % 1000:03d} UTC"
            head = f"{ts} [{1000 + session}] app@shop "
            lines = []
            for sql, params, literal in work:
                if literal:
                    lines.append(f"{head}LOG:  duration: 0.{rng.randrange(100, 999)} ms  statement: {_inline(sql, params)}")
                    continue
                detail = ", ".join(f"${n} = '{v}'" for n, v in enumerate(params[: sql.count("$")], start=1))
                for step in ("parse", "bind", "execute"):
                    lines.append(f"{head}LOG:  duration: 0.0{rng.randrange(10, 99)} ms  {step} <unnamed>: {sql}")
                    if step != "parse" and detail:
                        lines.append(f"{head}DETAIL:  parameters: {detail}")
            out.write("\n".join(lines) + "\n")


def generate_csvlog(path: Path, megabytes: int, literal_share: float) -> None:
    rng, target, second = random.Random(2), megabytes * 1024 * 1024, 0
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        for i, (session, vxid, work) in enumerate(_requests(rng, literal_share)):
            if out.tell() >= target:
                return
            second += 1 if i % 50 == 0 else 0
            ts = f"2024-05-01 {second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{i % 1000:03d} UTC"
            sid = f"6630a1b2.{session:x}"
            for sql, params, literal in work:
                base = [ts, "app", "shop", str(1000 + session), "10.0.0.1:5000", sid, str(i), "SELECT", ts, vxid, "0", "LOG", "00000"]
                tail = ["", "", "", "", "", "", "", "app", "client backend", "", "0"]
                if literal:
                    writer.writerow([*base, f"duration: 0.{rng.randrange(100, 999)} ms  statement: {_inline(sql, params)}", "", *tail])
                    continue
                detail = ", ".join(f"${n} = '{v}'" for n, v in enumerate(params[: sql.count("$")], start=1))
                for step in ("parse", "bind", "execute"):
                    message = f"duration: 0.0{rng.randrange(10, 99)} ms  {step} <unnamed>: {sql}"
                    writer.writerow([*base, message, "" if step == "parse" else f"parameters: {detail}", *tail])


PGBENCH = [
    "BEGIN;",
    "UPDATE pgbench_accounts SET abalance = abalance + {delta} WHERE aid = {aid};",
    "SELECT abalance FROM pgbench_accounts WHERE aid = {aid};",
    "UPDATE pgbench_tellers SET tbalance = tbalance + {delta} WHERE tid = {tid};",
    "UPDATE pgbench_branches SET bbalance = bbalance + {delta} WHERE bid = {bid};",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ({tid}, {bid}, {aid}, {delta}, CURRENT_TIMESTAMP);",
    "END;",
]


def generate_pgbench(path: Path, megabytes: int, clients: int = 10) -> None:
    """pgbench -c 10 tpcb-like, simple protocol, default prefix: sessions interleave per statement."""
    rng, target, tick = random.Random(3), megabytes * 1024 * 1024, 0
    steps = [0] * clients
    with open(path, "w") as out:
        while out.tell() < target:
            lines = []
            for _ in range(2000):
                client = rng.randrange(clients)
                step = steps[client]
                if step == 0:
                    values = {
                        "aid": rng.randrange(1, 1_000_001),
                        "tid": rng.randrange(1, 101),
                        "bid": rng.randrange(1, 11),
                        "delta": rng.randrange(-5000, 5001),
                    }
                    steps_values[client] = values
                sql = PGBENCH[step].format(**steps_values[client])
                steps[client] = (step + 1) % len(PGBENCH)
                tick += 1
                ts = f"2024-05-01 {tick // 3_600_000 % 24:02d}:{tick // 60_000 % 60:02d}:{tick // 1000 % 60:02d}.{tick % 1000:03d} UTC"
                lines.append(f"{ts} [{2000 + client}] LOG:  duration: 0.{rng.randrange(10, 999):03d} ms  statement: {sql}")
            out.write("\n".join(lines) + "\n")


steps_values: dict[int, dict[str, int]] = {}


def _tree_rss_kb(pid: int) -> int:
    """RSS of a process and its children (Linux /proc), 0 when gone."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, ValueError):
        return total
    return total + sum(_tree_rss_kb(int(child)) for child in children)


def run(path: Path, qprof: str = QPROF) -> tuple[float, float, str, float]:
    """(seconds, MB, command, peak summed RSS in MB of qprof and its children)."""
    command = [qprof, "nplusone", "--log", str(path), "--min-ms", "0", "--format", "json"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kb(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"qprof failed ({process.returncode}): {stderr}")
    found = len(json.loads(stdout)["findings"])
    return elapsed, path.stat().st_size / 1024 / 1024, " ".join(command), peak[0] / 1024, found


def run_pgbadger(path: Path) -> float:
    # pgbadger writes its report through a temporary file it renames onto -o: as root, `-o /dev/null`
    # replaced the device with a regular file, so the report goes to a scratch folder instead.
    with tempfile.TemporaryDirectory(prefix="qprof-pgbadger-") as scratch:
        started = time.perf_counter()
        subprocess.run(
            [
                "pgbadger",
                "-q",
                "-j",
                str(os.cpu_count() or 1),
                "-o",
                str(Path(scratch) / "report.html"),
                "-f",
                "stderr",
                "--prefix",
                "%m [%p] " if path.name.startswith("pgbench") else "%m [%p] %q%u@%d ",
                str(path),
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def _summary(label: str, runs: list[tuple], size_mb: float) -> str:
    times = sorted(r[0] for r in runs)
    median = statistics.median(times)
    rss = max(r[3] for r in runs)
    return (
        f"{label:9s} median {median:6.2f} s = {size_mb / median:6.1f} MB/s (runs {times[0]:.2f}–{times[-1]:.2f} s), "
        f"peak RSS qprof + workers {rss:6.1f} MB, {runs[0][4]} finding(s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of each generated log in MB")
    parser.add_argument("--literal-share", type=float, default=0.2, help="share of statements with inlined literals")
    parser.add_argument("--keep", type=Path, help="write the logs here and keep them (and reuse them next time)")
    parser.add_argument("--repeat", type=int, default=1, help="run each file this many times (median and spread reported)")
    parser.add_argument("--against", help="another qprof executable to compare with, run alternately on the same files")
    parser.add_argument("--only", help="comma-separated subset of stderr,csvlog,pgbench")
    parser.add_argument("--pgbadger", action="store_true", help="also time pgbadger on the stderr-format logs")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="qprof-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        files = {"stderr": folder / "postgresql.log", "csvlog": folder / "postgresql.csv", "pgbench": folder / "pgbench.log"}
        if args.only:
            files = {name: path for name, path in files.items() if name in args.only.split(",")}
        generators = {
            "stderr": lambda p: generate_stderr(p, args.mb, args.literal_share),
            "csvlog": lambda p: generate_csvlog(p, args.mb, args.literal_share),
            "pgbench": lambda p: generate_pgbench(p, args.mb),
        }
        for name, path in files.items():
            marker = folder / f".generated-{name}-{args.mb}mb-{args.literal_share}"
            if args.keep is not None and marker.exists() and path.exists():
                print(f"reusing the {args.mb} MB {name} log in {folder}", flush=True)
                continue
            print(f"generating a {args.mb} MB {name} log in {folder} …", flush=True)
            for old in folder.glob(f".generated-{name}-*"):
                old.unlink()
            generators[name](path)
            marker.touch()
        for name, path in files.items():
            builds = {"this": QPROF, **({"against": args.against} if args.against else {})}
            runs: dict[str, list[tuple]] = {label: [] for label in builds}
            for _ in range(max(1, args.repeat)):
                for label, qprof in builds.items():  # alternate, so both see the same machine load
                    runs[label].append(run(path, qprof))
            size_mb = runs["this"][0][1]
            print(f"{name} ({size_mb:.1f} MB):")
            for label in builds:
                print("  " + _summary(label, runs[label], size_mb))
                print(f"            reproduce: {runs[label][0][2]}")
            if args.against:
                this = statistics.median(r[0] for r in runs["this"])
                other = statistics.median(r[0] for r in runs["against"])
                rss_this, rss_other = max(r[3] for r in runs["this"]), max(r[3] for r in runs["against"])
                print(f"  time this/against = {this / other:.2f}, peak RSS this/against = {rss_this / rss_other:.2f}")
            if args.pgbadger and name != "csvlog" and shutil.which("pgbadger"):
                seconds = run_pgbadger(path)
                print(
                    f"  pgbadger  {seconds:6.2f} s = {size_mb / seconds:6.1f} MB/s "
                    f"({seconds / statistics.median(r[0] for r in runs['this']):.1f}× qprof's time)"
                )
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
