"""Benchmark: throughput and peak memory of ``qprof nplusone --log`` on big server logs.

Generates a stderr log and a csvlog of ``--mb`` MB each (default 200) in a temporary folder,
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

    .venv/bin/python bench/logparse.py [--mb 200] [--literal-share 0.2] [--keep DIR] [--repeat N]

With ``--keep DIR`` the logs stay in DIR and a later run with the same ``--mb`` reuses them
(generating 2 × 200 MB takes longer than parsing them). ``--repeat N`` runs each file N times
and reports the fastest run (the machine is shared; the best run is the least disturbed one).
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import resource
import shutil
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
                detail = ", ".join(f"${n} = '{v}'" for n, v in enumerate(params[: sql.count('$')], start=1))
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
                detail = ", ".join(f"${n} = '{v}'" for n, v in enumerate(params[: sql.count('$')], start=1))
                for step in ("parse", "bind", "execute"):
                    message = f"duration: 0.0{rng.randrange(10, 99)} ms  {step} <unnamed>: {sql}"
                    writer.writerow([*base, message, "" if step == "parse" else f"parameters: {detail}", *tail])


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


def run(path: Path) -> tuple[float, float, str, float]:
    """(seconds, MB, command, peak summed RSS in MB of qprof and its children)."""
    command = [QPROF, "nplusone", "--log", str(path), "--min-ms", "0", "--format", "json"]
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
    return elapsed, path.stat().st_size / 1024 / 1024, " ".join(command), peak[0] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of each generated log in MB")
    parser.add_argument("--literal-share", type=float, default=0.2, help="share of statements with inlined literals")
    parser.add_argument("--keep", type=Path, help="write the logs here and keep them (and reuse them next time)")
    parser.add_argument("--repeat", type=int, default=1, help="run each file this many times, report the fastest")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="qprof-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        files = {"stderr": folder / "postgresql.log", "csvlog": folder / "postgresql.csv"}
        marker = folder / f".generated-{args.mb}mb-{args.literal_share}"
        if args.keep is not None and marker.exists() and all(p.exists() for p in files.values()):
            print(f"reusing the {args.mb} MB logs in {folder}", flush=True)
        else:
            print(f"generating {args.mb} MB stderr log and {args.mb} MB csvlog in {folder} …", flush=True)
            for old in folder.glob(".generated-*"):
                old.unlink()
            generate_stderr(files["stderr"], args.mb, args.literal_share)
            generate_csvlog(files["csvlog"], args.mb, args.literal_share)
            marker.touch()
        for name, path in files.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            runs = [run(path) for _ in range(max(1, args.repeat))]
            elapsed, size_mb, command, _ = min(runs)
            tree = max(r[3] for r in runs)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            note = "" if peak > before else " (peak of an earlier child; this one used no more)"
            print(
                f"{name:7s} {size_mb:7.1f} MB in {elapsed:6.2f} s = {size_mb / elapsed:6.1f} MB/s, "
                f"peak RSS {peak / 1024:6.1f} MB{note}, qprof + workers {tree:6.1f} MB"
            )
            print(f"        reproduce: {command}")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
