"""The loop rule: a pattern found whatever it costs, severity by cost, the application's call
site, and the shapes that are not loops (eager twins, 4 repeats, fixed scripts, no source) —
on the issue's 12-author view (SQLite here; PostgreSQL in test_nplusone_postgres.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from nplusone_app import library_engine, list_authors
from sqlalchemy.orm import Session

from qprof import nplusone
from qprof.nplusone.detector import Executed, LoopTracker, detect
from qprof.fingerprint import fingerprint

SLOW_FILLER = 150_000  # books scanned before each listed author's first book: 10+ ms per lookup, even on a quiet machine


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    engine = library_engine(f"sqlite:///{tmp_path_factory.mktemp('lib') / 'small.sqlite'}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory):
    engine = library_engine(f"sqlite:///{tmp_path_factory.mktemp('lib') / 'slow.sqlite'}", filler=SLOW_FILLER)
    yield engine
    engine.dispose()


def _run(engine, **view) -> nplusone.Capture:
    with nplusone.capture(engine) as cap, Session(engine) as session:
        list_authors(session, **view)
    return cap


def test_twelve_author_loop_is_info_on_small_data(small) -> None:
    [finding] = _run(small).findings()
    assert (finding.executions, finding.severity, finding.relationship) == (12, "info", "Author.books")
    assert finding.total_ms < 50
    assert finding.callsite.startswith(os.path.join("tests", "nplusone_app", "library.py") + ":")
    assert finding.callsite.endswith("in <dictcomp>") or finding.callsite.endswith("in list_authors")
    assert "FROM authors" in finding.source_statement
    assert finding.fix == (
        "eager-load it: add .options(selectinload(Author.books)) (or joinedload) to the query that loads the parents, so 12 lookups become one"
    )
    text = finding.describe()
    assert "— info (below 50 ms: cheap on this data; grows with rows)" in text and "  at:       tests" in text


def test_twelve_author_loop_is_a_warning_when_slow(slow) -> None:
    [finding] = _run(slow).findings()
    assert finding.executions == 12 and finding.total_ms >= 50 and finding.severity == "warning"


@pytest.mark.parametrize("view", [{"eager": True}, {"limit": 4}], ids=["selectinload", "4 repeats"])
def test_eager_twin_and_four_repeats_are_not_loops(small, slow, view: dict) -> None:
    assert _run(small, **view).findings() == []
    assert _run(slow, **view).findings() == []


def test_threads_sharing_one_engine_are_separate_streams(small) -> None:
    """Two request threads on one engine: each loop is found once, with 12 lookups, not one merged 24."""
    barrier = threading.Barrier(2)

    def request() -> None:
        barrier.wait()
        with Session(small) as session:
            list_authors(session)

    with nplusone.capture(small) as cap:
        threads = [threading.Thread(target=request) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(cap.statements) == 26
    assert sorted(f.executions for f in cap.findings()) == [12, 12]


def test_engine_disposed_mid_block(tmp_path: Path) -> None:
    engine = library_engine(f"sqlite:///{tmp_path / 'd.sqlite'}")
    with nplusone.capture(engine) as cap:
        with Session(engine) as session:
            list_authors(session)
        engine.dispose()
        with Session(engine) as session:  # a new pool after dispose: still captured
            list_authors(session, eager=True)
    assert len(cap.statements) == 15 and [f.executions for f in cap.findings()] == [12]
    engine.dispose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_report_into_the_parent(tmp_path: Path) -> None:
    engine = library_engine(f"sqlite:///{tmp_path / 'f.sqlite'}")
    with nplusone.capture(engine, raise_on_nplusone=True) as cap:
        pid = os.fork()
        if pid == 0:  # the child runs the loop and leaves without pytest's cleanup
            try:
                engine.dispose(close=False)
                with Session(engine) as session:
                    list_authors(session)
                os._exit(0 if not cap.statements else 3)
            finally:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        with Session(engine) as session:
            list_authors(session, eager=True)
    assert os.waitstatus_to_exitcode(status) == 0  # the child recorded nothing and raised nothing
    assert len(cap.statements) == 2
    engine.dispose()


def _stream(statements: list[tuple[str, tuple]]) -> list:
    tracker = LoopTracker()
    for sql, params in statements:
        tracker.add(fingerprint(sql), hash(params) if params else hash(sql), 1.0, None, sql, params)
    return tracker.close()


def test_loop_body_of_child_and_grandchild_lookups() -> None:
    work = [("SELECT id FROM authors LIMIT 6", ())]
    for author in range(6):
        work += [("SELECT id FROM books WHERE author_id = $1", (author,)), ("SELECT * FROM covers WHERE book_id = $1", (author,))]
    [burst] = _stream(work)
    assert burst.count == 6 and "books" in burst.sql and burst.body == {fingerprint(work[2][0])}


def test_fixed_transaction_script_is_not_a_loop() -> None:
    """pgbench's tpcb-like script, run by one session over and over: no burst, whatever the count."""
    script = [
        "BEGIN",
        "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
        "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
        "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
        "END",
    ]
    assert _stream([(sql, (i,)) for i in range(500) for sql in script]) == []
    # select-only: one lookup over and over with nothing driving it
    assert _stream([("SELECT abalance FROM pgbench_accounts WHERE aid = $1", (i,)) for i in range(500)]) == []
    # a script "read the parent, look up one child", repeated: each parent drives one lookup
    pairs = [("SELECT * FROM customers WHERE id = $1", (i,)) for i in range(50)]
    lookups = [("SELECT * FROM orders WHERE customer_id = $1", (i,)) for i in range(50)]
    assert _stream([item for pair in zip(pairs, lookups, strict=True) for item in pair]) == []


def test_detect_counts_per_loop_and_fix_text_counts_what_the_loop_ran() -> None:
    statements = [Executed("SELECT id FROM customers LIMIT 10", unit="r", duration_ms=1)]
    statements += [Executed("SELECT * FROM orders WHERE customer_id = $1", (i,), 1.0, unit="r") for i in range(10)]
    [finding] = detect(statements)
    assert finding.fix.startswith("10 lookups by customer_id → one: SELECT … FROM orders WHERE customer_id = ANY($1)")


def test_a_session_that_never_idles_keeps_constant_state() -> None:
    """A unit's state is its last SELECT and its open bursts, however long the session runs."""
    from qprof.nplusone.loganalysis import LogAnalyzer

    analyzer = LogAnalyzer(unit_mode="session")
    script = ["SELECT id FROM customers WHERE region = $1"] + ["SELECT * FROM orders WHERE customer_id = $1"] * 6
    rows = []
    for n in range(20_000):  # 140,000 statements of one session, an N+1 in every round
        rows += [(sql, (str(n * 10 + i),), 0.1, "s1", None, n * 0.001, "pg.log", n * 7 + i) for i, sql in enumerate(script)]
        if n % 5000 == 4999:
            analyzer.feed_rows(rows)
            rows = []
            [unit] = analyzer.open.values()
            assert len(unit.tracker.bursts) <= 2 and not unit.tracker.done
    [finding] = analyzer.results()
    assert finding.units == 20_000 and finding.max_per_unit == 6 and finding.executions == 120_000
    assert finding.fix.startswith("6 lookups by customer_id")
