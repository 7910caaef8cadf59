"""Benchmark: what making normalized text plannable costs, and that odd placeholders stay bounded.

Reproduce: .venv/bin/python bench/normalize.py [--repeat 5]

1. ``qprof.pgtext.plannable`` per statement on pg_stat_statements-style texts: uncached (each
   text new) and cached (the advisor's what-if loop asks for the same text again and again).
2. On a private PostgreSQL cluster (tests/pgcluster.py), a generic-plan cost
   (``qprof.plans.postgres.estimate_cost``, what every what-if call does) of the same lookup
   written ``= $1`` (the anchor), ``= $70000`` (once > 90 s: 70,000 PREPARE retries of 70,000
   parameters), ``IN ($1, …, $5000)`` and ``now() - interval $1`` (once rejected by PREPARE),
   side by side in one run: median and spread of ``--repeat`` runs, and the ratio to the anchor.
3. Scaling: ``plannable`` on one statement with ``--big`` (3,000) ``= ANY (ARRAY[$i])`` terms,
   and one with as many ``EXTRACT($i FROM …)``, against the anchor revision's pgtext
   (``--anchor``, default 04d19ff, whose look-ups were quadratic: 18–19 s each), interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pgcluster import PgCluster

TEXTS = [
    "SELECT count(*), sum(amount) FROM orders WHERE created_at > now() - interval $1",
    "SELECT id, status FROM orders WHERE customer_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
    "SELECT extract($1 FROM created_at AT TIME ZONE $2) AS h, count(*) FROM orders WHERE created_at > timestamp $3 GROUP BY 1",
    "SELECT id FROM orders WHERE id = ANY (ARRAY[$1, $2, $3])",
    "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.country IN ($1,$2) AND o.created_at >= $3",
]
LOOKUPS = {
    "= $1 (anchor)": "SELECT id FROM orders WHERE customer_id = $1",
    "= $70000": "SELECT id FROM orders WHERE customer_id = $70000",
    "IN ($1..$5000)": "SELECT id FROM orders WHERE customer_id IN (" + ", ".join(f"${n}" for n in range(1, 5001)) + ")",
    "now() - interval $1": "SELECT id FROM orders WHERE created_at > now() - interval $1",
}


def rewrite_cost(repeat: int) -> None:
    from qprof import pgtext

    uncached, cached = [], []
    for run in range(repeat):
        pgtext.plannable.cache_clear()
        started = time.perf_counter()
        for i in range(200):
            for text in TEXTS:
                pgtext.plannable(f"{text} /* {run}.{i} */")
        uncached.append((time.perf_counter() - started) / (200 * len(TEXTS)) * 1e6)
        started = time.perf_counter()
        for _ in range(200):
            for text in TEXTS:
                pgtext.plannable(text)
        cached.append((time.perf_counter() - started) / (200 * len(TEXTS)) * 1e6)
    print(
        f"plannable() per statement, µs: uncached median {statistics.median(uncached):.0f} "
        f"({min(uncached):.0f}–{max(uncached):.0f}), cached median {statistics.median(cached):.1f} "
        f"({min(cached):.1f}–{max(cached):.1f})"
    )


def planning_cost(repeat: int) -> None:
    from qprof.conninfo import parse_target
    from qprof.plans.postgres import estimate_cost
    from qprof.targets import open_target

    with PgCluster() as cluster:
        dsn = cluster.create_database("bench")
        cluster.psql(
            "CREATE TABLE orders (id int PRIMARY KEY, customer_id int, created_at timestamptz);"
            "INSERT INTO orders SELECT g, g % 5000, now() - g * interval '1 minute' FROM generate_series(1, 100000) g;"
            "ANALYZE orders;",
            dbname="bench",
        )
        with open_target(parse_target(dsn)) as target:
            times: dict[str, list[float]] = {name: [] for name in LOOKUPS}
            for _ in range(repeat):  # interleaved, so machine noise hits every variant alike
                for name, sql in LOOKUPS.items():
                    started = time.perf_counter()
                    estimate_cost(target, sql)
                    times[name].append((time.perf_counter() - started) * 1000)
    anchor = statistics.median(times["= $1 (anchor)"])
    print(f"\ngeneric-plan cost of one lookup (estimate_cost), ms, {repeat} runs:")
    print(f"{'statement':<22}{'median':>10}{'min':>10}{'max':>10}{'× anchor':>10}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<22}{median:>10.2f}{min(samples):>10.2f}{max(samples):>10.2f}{median / anchor:>10.1f}")


def _anchor_module(revision: str, folder: Path) -> types.ModuleType:
    """The anchor revision's qprof/pgtext.py, imported under another name from a temporary file."""
    import importlib.util

    path = folder / "pgtext_anchor.py"
    path.write_text(subprocess.run(["git", "show", f"{revision}:qprof/pgtext.py"], cwd=REPO, check=True, capture_output=True, text=True).stdout)
    spec = importlib.util.spec_from_file_location("pgtext_anchor", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pgtext_anchor"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def scaling(repeat: int, big: int, anchor: str) -> None:
    from qprof import pgtext

    texts = {
        f"{big:,} = ANY (ARRAY[$i])": "SELECT 1 FROM t WHERE " + " OR ".join(f"a = ANY (ARRAY[${n}])" for n in range(1, big + 1)),
        f"{big:,} EXTRACT($i FROM c)": "SELECT " + ", ".join(f"extract(${n} FROM c)" for n in range(1, big + 1)) + " FROM t",
    }
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        old = _anchor_module(anchor, Path(folder))
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeat):
        for name, text in texts.items():
            for label, module in (("now", pgtext), (anchor, old)):
                module.plannable.cache_clear()
                started = time.perf_counter()
                result = module.plannable(text)
                times.setdefault((name, label), []).append(time.perf_counter() - started)
                assert result.changes, (label, name)  # both rewrote it
    print(f"\nplannable() on one big statement, s, {repeat} runs, anchor {anchor}:")
    print(f"{'statement':<28}{'version':<10}{'median':>10}{'min':>10}{'max':>10}{'anchor ×':>10}")
    for name in texts:
        anchor_median = statistics.median(times[(name, anchor)])
        for label in ("now", anchor):
            samples = times[(name, label)]
            median = statistics.median(samples)
            print(f"{name:<28}{label:<10}{median:>10.3f}{min(samples):>10.3f}{max(samples):>10.3f}{anchor_median / median:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big", type=int, default=3000, help="terms in the scaling statements")
    parser.add_argument("--anchor", default="04d19ff", help="git revision whose pgtext the scaling runs compare with")
    parser.add_argument("--only-scaling", action="store_true", help="skip the cluster runs")
    args = parser.parse_args()
    print(
        f"command: .venv/bin/python bench/normalize.py --repeat {args.repeat} --big {args.big} --anchor {args.anchor}"
        + (" --only-scaling" if args.only_scaling else "")
    )
    if not args.only_scaling:
        rewrite_cost(args.repeat)
        planning_cost(args.repeat)
    scaling(min(args.repeat, 3), args.big, args.anchor)


if __name__ == "__main__":
    main()
