"""The pytest plugin, run on generated test modules with pytester; the plugin is loaded
through its ``pytest11`` entry point, exactly as in a user's project."""

from __future__ import annotations

import nplusone_app  # noqa: F401 - loaded before pytester snapshots sys.modules
from nplusone_app import library_engine, list_authors
import pytest
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.pool import NullPool

import qprof.pytest_plugin  # noqa: F401
from qprof import nplusone

pytest_plugins = ["pytester"]
configure_mappers()  # SQLAlchemy's lazily imported ORM modules must not be re-imported per run

APP_TESTS = """
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from nplusone_app import Base, customer_order_totals, seed


@pytest.fixture
def session(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'app.sqlite'}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        seed(s, customers=25)  # fixtures do not count: only the test's call phase is checked
    with Session(engine) as s:
        yield s
    engine.dispose()


def test_totals(session):
    assert len(customer_order_totals(session, 20, eager=EAGER)) == 20
"""


def _module(pytester: pytest.Pytester, eager: bool, extra: str = "") -> None:
    pytester.makepyfile(test_app=APP_TESTS.replace("EAGER", str(eager)) + extra)


def test_nplusone_module_fails_and_prints_finding(pytester: pytest.Pytester) -> None:
    _module(pytester, eager=False)
    result = pytester.runpytest("--qprof-nplusone")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*qprof: N+1 in test_app.py::test_totals: 20 executions*", "*relationship: Customer.orders*", "*fix: eager-load it*selectinload(Customer.orders)*"]
    )


def test_fixed_module_passes(pytester: pytest.Pytester) -> None:
    _module(pytester, eager=True)
    pytester.runpytest("--qprof-nplusone").assert_outcomes(passed=1)


def test_plugin_is_off_without_flag_or_marker(pytester: pytest.Pytester) -> None:
    _module(pytester, eager=False)
    pytester.runpytest().assert_outcomes(passed=1)


def test_marker_enables_and_caps_statements(pytester: pytest.Pytester) -> None:
    extra = """

@pytest.mark.qprof(max_queries=1)
def test_capped(session):
    customer_order_totals(session, 3, eager=True)


@pytest.mark.qprof(max_queries=10)
def test_within_cap(session):
    customer_order_totals(session, 3, eager=True)


@pytest.mark.qprof
def test_marked_lazy(session):
    customer_order_totals(session, 6)
"""
    _module(pytester, eager=False, extra=extra)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=2)  # test_totals unmarked and no flag: passes
    result.stdout.fnmatch_lines(["*2 statements ran, more than max_queries=1*"])
    result.stdout.fnmatch_lines(["*N+1 in test_app.py::test_marked_lazy: 6 executions*"])


LIBRARY_TESTS = """
import pytest
from nplusone_app import library_engine, list_authors
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool


@pytest.fixture(scope="module")
def engines():
    if SEEDED:
        engines = {"small": create_engine(SMALL, poolclass=NullPool), "slow": create_engine(SLOW, poolclass=NullPool)}
    else:
        engines = {"small": library_engine(SMALL, poolclass=NullPool), "slow": library_engine(SLOW, filler=FILLER, poolclass=NullPool)}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.mark.parametrize("size", ["small", "slow"])
def test_lazy(engines, size):
    with Session(engines[size]) as session:
        list_authors(session)


@pytest.mark.parametrize("view", [{"eager": True}, {"limit": 4}])
def test_clean(engines, view):
    with Session(engines["slow"]) as session:
        list_authors(session, **view)
"""


# pg_cluster is asked for at run time, so the PostgreSQL variant carries its mark itself
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def library_urls(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("library")
        return {
            "SMALL": f"sqlite:///{folder / 'small.sqlite'}",
            "SLOW": f"sqlite:///{folder / 'slow.sqlite'}",
            "FILLER": 150_000,
            "SEEDED": False,
            "MIN_MS": "50",
        }
    cluster = request.getfixturevalue("pg_cluster")
    urls, totals = {}, {}
    for size, filler in (("small", 0), ("slow", 300_000)):
        name = f"plugin_library_{size}"
        if not cluster.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip():
            cluster.create_database(name, extensions=())
        urls[size.upper()] = cluster.url(name).replace("postgresql://", "postgresql+psycopg://", 1)
        engine = library_engine(urls[size.upper()], filler=filler, poolclass=NullPool)
        with nplusone.capture(engine) as cap, Session(engine) as session:
            list_authors(session)
        totals[size] = cap.findings()[0].total_ms
        engine.dispose()
    # a busy shared machine makes 12 tiny PostgreSQL lookups cost tens of ms: warning starts
    # between the two (see test_nplusone_postgres)
    assert totals["slow"] > 5 * totals["small"], totals
    return {**urls, "FILLER": 0, "SEEDED": True, "MIN_MS": f"{(totals['small'] * totals['slow']) ** 0.5:.3f}"}


def test_twelve_author_loop_fails_as_info_or_warning(pytester: pytest.Pytester, library_urls: dict) -> None:
    source = LIBRARY_TESTS
    for name in ("SMALL", "SLOW", "FILLER", "SEEDED"):
        source = source.replace(name, repr(library_urls[name]))
    pytester.makepyfile(test_library=source)
    result = pytester.runpytest("--qprof-nplusone", "--qprof-min-ms", library_urls["MIN_MS"])
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*qprof: N+1 in test_library.py::test_lazy?small?: 12 executions (12 different parameter sets), * ms — info (below *",
            "E   at:       *nplusone_app/library.py:* in <dictcomp>",
            "E   fix: eager-load it: add .options(selectinload(Author.books))*so 12 lookups become one",
            "*nplusone_app/library.py:*: NPlusOneError",
        ]
    )
    result.stdout.fnmatch_lines(["*qprof: N+1 in test_library.py::test_lazy?slow?: 12 executions*ms — warning"])
    # --qprof-fail-on warning: the cheap loop passes, the slow one still fails
    gated = pytester.runpytest("--qprof-nplusone", "--qprof-min-ms", library_urls["MIN_MS"], "--qprof-fail-on", "warning")
    gated.assert_outcomes(passed=3, failed=1)
    gated.stdout.fnmatch_lines(["FAILED test_library.py::test_lazy?slow?*"])
