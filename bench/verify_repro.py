"""Do ``qprof advise --verify`` decisions reproduce? TPC-H side by side (not a test).

Reproduce: .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/verify_repro.py [--sf 0.1] [--runs 5] [--budget 50MB]

TPC-H at scale factor --sf is generated and loaded without keys exactly as bench/tpch.py does
(duckdb's tpch extension, every-row ANALYZE, the 19 queries without Q2/Q17/Q20 as a workload
file). Then ``qprof advise --workload … --verify --runs N --no-write --format json`` runs as a
user would run it, three times on the same data: twice on a quiet machine, once while a busy loop
holds one core (``--busy`` runs; 0 leaves it out). Each index is printed per run — kept, kept
unconfirmed or rejected, its median marginal gain and the rule's interval where the output
gives it — then each statement's median ms before/after per run, then which decisions differed.
``--keep DIR`` saves each run's JSON there (``--from DIR`` prints saved runs without measuring).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from pgcluster import PgCluster
from tpch import duckdb_with, load_into_postgres, tpch_statements

QPROF = str(Path(sys.executable).with_name("qprof"))
_INTERVAL = re.compile(r"interval (-?[\d,.]+) to (-?[\d,.]+) ms")


def write_workload(statements: list, path: Path) -> Path:
    """The TPC-H queries as a qprof workload file, one named block each."""
    path.write_text("".join(f"-- name: {s.name}\n{s.sql};\n\n" for s in statements))
    return path


def advise_verify(dsn: str, workload: Path, runs: int, budget: str | None, busy: bool) -> tuple[dict, float]:
    """One ``qprof advise --verify`` run as a subprocess (a busy loop on one core beside it when ``busy``)."""
    command = [QPROF, "advise", "-d", dsn, "--workload", str(workload), "--verify", "--runs", str(runs), "--no-write", "--format", "json"]
    if budget:
        command += ["--budget", budget]
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        if loop is not None:
            loop.kill()
            loop.wait()
    if done.returncode not in (0, 1):
        raise SystemExit(f"qprof advise failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout), time.perf_counter() - started


def decisions(doc: dict) -> dict[str, dict]:
    """Index name → verdict, median marginal gain, the interval (when the output states it), reason, statements."""
    unconfirmed = {note.split(":", 1)[0]: note for note in doc.get("notes") or [] if "not confirmed" in note}
    found = {}
    for rec, rejected in [(r, False) for r in doc["recommendations"]] + [(r, True) for r in doc.get("rejected") or []]:
        reason = rec.get("reason") or unconfirmed.get(rec["name"], "")
        interval = _INTERVAL.search(reason)
        verdict = "rejected" if rejected else ("kept, unconfirmed" if rec["name"] in unconfirmed else "kept")
        found[rec["name"]] = {
            "verdict": verdict,
            "gain_ms": rec.get("net_ms_saved"),
            "interval": tuple(float(x.replace(",", "")) for x in interval.groups()) if interval else None,
            "reason": reason,
            "statements": {s["name"]: (s.get("ms_before"), s.get("ms_after"), s.get("p95_before"), s.get("p95_after")) for s in rec["statements"]},
            # a rejected index: without it → with it (the rest of the set in place), every statement timed
            "evidence": [
                f"{s['name']} {s['ms_before']:,.1f} → {s['ms_after']:,.1f} ms" + (" (slower)" if s.get("regressed") else "")
                for s in (*rec["statements"], *(rec.get("other_statements") or []))
                if s.get("ms_before") is not None and s.get("ms_after") is not None
            ],
        }
    return found


def show(labels: list[str], docs: list[dict], seconds: list[float]) -> None:
    runs = [decisions(doc) for doc in docs]
    names = sorted({name for run in runs for name in run})
    width = max((len(n) for n in names), default=10)
    print(f"\n{'index':<{width}}  " + "  ".join(f"{label:<44}" for label in labels))
    for name in names:
        cells = []
        for run in runs:
            entry = run.get(name)
            if entry is None:
                cells.append(f"{'(not advised)':<44}")
                continue
            gain = f"{entry['gain_ms']:,.1f}" if entry["gain_ms"] is not None else "–"
            interval = f" [{entry['interval'][0]:,.1f}, {entry['interval'][1]:,.1f}]" if entry["interval"] else ""
            cells.append(f"{entry['verdict'][:17]:<17} {gain + interval:<26}")
        print(f"{name:<{width}}  " + "  ".join(cells))
    print("\n(gain: median per-run marginal gain, Σ calls × ms; [interval] where the output states it)")
    print(f"\n{'statement':<10}" + "".join(f"  {label + ' ms before→after (p95 after)':<44}" for label in labels))
    statements = sorted({s for run in runs for entry in run.values() for s in entry["statements"]}, key=lambda s: int(s[1:]) if s[1:].isdigit() else 0)
    for statement in statements:
        cells = []
        for run in runs:
            measured = [e["statements"][statement] for e in run.values() if statement in e["statements"]]
            timing = next((t for t in measured if t[0] is not None), None)
            cells.append(f"{timing[0]:,.1f} → {timing[1]:,.1f} ({timing[3]:,.1f})" if timing else "–")
        print(f"{statement:<10}" + "".join(f"  {cell:<44}" for cell in cells))
    kept = [{n for n, e in run.items() if e["verdict"].startswith("kept")} for run in runs]
    print("\nkept sets:")
    for label, names_kept, took in zip(labels, kept, seconds, strict=True):
        print(f"  {label}: {len(names_kept)} kept in {took:.0f} s: {', '.join(sorted(names_kept)) or '—'}")
    differ = [name for name in names if len({(run.get(name) or {}).get("verdict", "(not advised)").split(",")[0] for run in runs}) > 1]
    print(f"\ndecisions that differ between runs: {len(differ)}")
    for name in differ:
        print(f"  {name}:")
        for label, run in zip(labels, runs, strict=True):
            entry = run.get(name)
            why = (entry["reason"] or f"marginal gain {entry['gain_ms']} ms") if entry else ""
            print(f"    {label}: " + (f"{entry['verdict']} — {why}" if entry else "(not advised)"))
            if entry and entry["verdict"] == "rejected":
                print(f"      without it → with it: {'; '.join(entry['evidence'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=0.1, help="TPC-H scale factor")
    parser.add_argument("--runs", type=int, default=5, help="qprof advise --runs")
    parser.add_argument("--budget", default=None, help="qprof advise --budget (default: none)")
    parser.add_argument("--quiet-runs", type=int, default=2, help="runs on a quiet machine")
    parser.add_argument("--busy", type=int, default=1, help="runs with a busy loop on one core beside them")
    parser.add_argument("--keep", type=Path, default=None, help="save each run's JSON in this folder")
    parser.add_argument("--from", dest="saved", type=Path, default=None, help="print the runs saved in this folder; measure nothing")
    args = parser.parse_args()
    budget = f" --budget {args.budget}" if args.budget else ""
    print(f"reproduce: .venv/bin/python bench/verify_repro.py --sf {args.sf:g} --runs {args.runs}{budget} --quiet-runs {args.quiet_runs} --busy {args.busy}")
    if args.saved is not None:
        files = sorted(args.saved.glob("*.json"))
        saved = [json.loads(path.read_text()) for path in files]
        show([path.stem for path in files], [item["doc"] for item in saved], [item["seconds"] for item in saved])
        return
    started = time.perf_counter()
    duck = duckdb_with("tpch")
    duck.execute(f"CALL dbgen(sf={args.sf})")
    tables = [row[0] for row in duck.execute("SHOW TABLES").fetchall()]
    statements = tpch_statements(duck)
    labels, docs, seconds = [], [], []
    with PgCluster(settings={"shared_buffers": "256MB", "maintenance_work_mem": "256MB"}) as cluster:
        dsn = cluster.create_database("tpch", extensions=("hypopg",))
        with tempfile.TemporaryDirectory(prefix="qprof-verify-repro-") as folder:
            load_into_postgres(duck, dsn, tables, Path(folder))
            workload = write_workload(statements, Path(folder) / "tpch.sql")
            print(f"generated and loaded TPC-H SF{args.sf:g} without keys in {time.perf_counter() - started:.1f} s")
            plan = [(f"quiet {n + 1}", False) for n in range(args.quiet_runs)] + [(f"busy {n + 1}", True) for n in range(args.busy)]
            for label, busy in plan:
                doc, took = advise_verify(dsn, workload, args.runs, args.budget, busy)
                print(f"{label}: {took:.0f} s", flush=True)
                labels.append(label)
                docs.append(doc)
                seconds.append(took)
                if args.keep is not None:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    (args.keep / f"{len(labels)}_{label.replace(' ', '_')}.json").write_text(json.dumps({"doc": doc, "seconds": took}))
    show(labels, docs, seconds)


if __name__ == "__main__":
    main()
