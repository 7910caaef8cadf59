"""Benchmark: what in-process N+1 capture costs per statement (µs), SQLAlchemy and Django.

Runs the same primary-key lookup ``--statements`` times on a SQLite file (so the database's
own time is small and the capture's share shows), in rounds that alternate "without capture"
and "with capture", and prints per-statement medians of this process's CPU time, the spread over ``--rounds`` rounds and
the difference — the capture's overhead: the engine/execute-wrapper hooks, timing, the call
site walk and the detector at the end. Django is also timed with the wrapper installed but no
capture active (what statements outside any capture — management commands, other threads —
pay once the middleware has installed it).

    .venv/bin/python bench/nplusone_capture.py [--statements 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _rounds(label: str, runs: dict[str, Callable[[], None]], statements: int, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():  # alternate: each round sees the same machine load
            started = time.process_time()  # CPU time: on a shared machine, wall time is mostly others' load
            run()
            times[name].append((time.process_time() - started) / statements * 1e6)
    base = statistics.median(times["plain"])
    print(f"{label}:")
    for name, values in times.items():
        median = statistics.median(values)
        extra = "" if name == "plain" else f"   overhead {median - base:+7.1f} µs/statement ({median / base:.2f}×)"
        print(f"  {name:20s} median {median:7.1f} µs/statement (rounds {min(values):.1f}–{max(values):.1f}){extra}")
    return times


def bench_sqlalchemy(folder: Path, statements: int, rounds: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from nplusone_app.library import Author, library_engine
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from qprof import nplusone

    engine = library_engine(f"sqlite:///{folder / 'sa.sqlite'}")  # 1,012 authors

    def lookups() -> None:
        with Session(engine) as session:
            for i in range(statements):
                session.execute(select(Author.name).where(Author.id == i % 1000 + 1)).scalar()

    def captured() -> None:
        with nplusone.capture(engine) as cap:
            lookups()
        cap.findings()

    _rounds("SQLAlchemy 2 ORM session.execute, SQLite", {"plain": lookups, "qprof.capture": captured}, statements, rounds)
    engine.dispose()


def bench_django(folder: Path, statements: int, rounds: int) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "dj.sqlite3")}},
        INSTALLED_APPS=["django.contrib.contenttypes"],
        USE_TZ=True,
    )
    django.setup()
    from django.db import connection, models

    import qprof.django

    class Item(models.Model):
        name = models.TextField()

        class Meta:
            app_label = "bench"

    with connection.schema_editor() as editor:
        editor.create_model(Item)
    Item.objects.bulk_create(Item(id=i, name=f"item {i}") for i in range(1, 1001))

    def lookups() -> None:
        for i in range(statements):
            Item.objects.filter(id=i % 1000 + 1).values_list("name", flat=True).first()

    def captured() -> None:
        with qprof.django.capture() as cap:
            lookups()
        cap.findings()

    def installed() -> None:
        qprof.django.install()  # idempotent; the first round installs it for the rest
        lookups()

    _rounds(
        "Django ORM .first(), SQLite",
        {"plain": lookups, "wrapper installed": installed, "qprof.django.capture": captured},
        statements,
        rounds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=2000, help="lookups per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (median and spread reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qprof-capture-bench-") as folder:
        bench_sqlalchemy(Path(folder), args.statements, args.rounds)
        bench_django(Path(folder), args.statements, args.rounds)
    print(f"reproduce: {sys.executable} bench/nplusone_capture.py --statements {args.statements} --rounds {args.rounds}")


if __name__ == "__main__":
    main()
