"""The pytest plugin, run on generated test modules with pytester; the plugin is loaded
through its ``pytest11`` entry point, exactly as in a user's project."""

from __future__ import annotations

import nplusone_app  # noqa: F401 - loaded before pytester snapshots sys.modules
import pytest
from sqlalchemy.orm import configure_mappers

import qprof.nplusone.pytest_plugin  # noqa: F401

pytest_plugins = ["pytester"]
configure_mappers()  # SQLAlchemy's lazily imported ORM modules must not be re-imported per run

APP_TESTS = '''
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
'''


def _module(pytester: pytest.Pytester, eager: bool, extra: str = "") -> None:
    pytester.makepyfile(test_app=APP_TESTS.replace("EAGER", str(eager)) + extra)


def test_nplusone_module_fails_and_prints_finding(pytester: pytest.Pytester) -> None:
    _module(pytester, eager=False)
    result = pytester.runpytest("--qprof-nplusone")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*qprof: N+1 in test_app.py::test_totals: 20 executions*", "*relationship: Customer.orders*",
                                 "*fix: eager-load it*selectinload(Customer.orders)*"])


def test_fixed_module_passes(pytester: pytest.Pytester) -> None:
    _module(pytester, eager=True)
    pytester.runpytest("--qprof-nplusone").assert_outcomes(passed=1)


def test_plugin_is_off_without_flag_or_marker(pytester: pytest.Pytester) -> None:
    _module(pytester, eager=False)
    pytester.runpytest().assert_outcomes(passed=1)


def test_marker_enables_and_caps_statements(pytester: pytest.Pytester) -> None:
    extra = '''

@pytest.mark.qprof(max_queries=1)
def test_capped(session):
    customer_order_totals(session, 3, eager=True)


@pytest.mark.qprof(max_queries=10)
def test_within_cap(session):
    customer_order_totals(session, 3, eager=True)


@pytest.mark.qprof
def test_marked_lazy(session):
    customer_order_totals(session, 6)
'''
    _module(pytester, eager=False, extra=extra)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=2)  # test_totals unmarked and no flag: passes
    result.stdout.fnmatch_lines(["*2 statements ran, more than max_queries=1*"])
    result.stdout.fnmatch_lines(["*N+1 in test_app.py::test_marked_lazy: 6 executions*"])
