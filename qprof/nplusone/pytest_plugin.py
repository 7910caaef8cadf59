"""pytest plugin: fail tests that run an N+1, or more statements than they are allowed.

Off unless asked for: ``pytest --qprof-nplusone`` checks every test; the marker
``@pytest.mark.qprof(max_queries=10)`` (or ``@pytest.mark.qprof`` alone) checks one test even
without the flag. Statements are recorded from every SQLAlchemy engine in the process, during
the test's call phase only (fixtures that seed data do not count). Each test is one unit.

Options: ``--qprof-threshold`` (repeats, default 5) and ``--qprof-min-ms`` (total time of the
repeats; default 0, since test databases are small and fast). Marker arguments override them:
``@pytest.mark.qprof(threshold=3, nplusone=False, max_queries=20)``.
"""

from __future__ import annotations

import pytest

from qprof.nplusone.sqlalchemy_capture import EngineRecorder, unit
from qprof.nplusone.detector import DEFAULT_THRESHOLD, Executed, detect


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qprof", "qprof N+1 detection")
    group.addoption("--qprof-nplusone", action="store_true", default=False, help="fail tests that run an N+1 query pattern")
    group.addoption("--qprof-threshold", type=int, default=DEFAULT_THRESHOLD, help="repeats that make an N+1 (default 5)")
    group.addoption("--qprof-min-ms", type=float, default=0.0, help="minimum total time of the repeats in ms (default 0)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "qprof(max_queries=None, threshold=None, min_ms=None, nplusone=True): check this test for N+1 queries "
        "and cap the statements it may run",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    marker = item.get_closest_marker("qprof")
    enabled = item.config.getoption("--qprof-nplusone") or marker is not None
    if not enabled:
        return (yield)
    settings = dict(marker.kwargs) if marker is not None else {}
    threshold = settings.get("threshold") or item.config.getoption("--qprof-threshold")
    min_ms = settings.get("min_ms")
    min_ms = item.config.getoption("--qprof-min-ms") if min_ms is None else min_ms
    max_queries = settings.get("max_queries")
    recorded: list[Executed] = []
    recorder = EngineRecorder(None, recorded.append)
    recorder.attach()
    try:
        with unit(item.nodeid):
            result = yield
    finally:
        recorder.detach()
    problems = []
    if settings.get("nplusone", True):
        problems += [f.describe() for f in detect(recorded, threshold=threshold, min_ms=min_ms)]
    if max_queries is not None and len(recorded) > max_queries:
        problems.append(f"{len(recorded)} statements ran, more than max_queries={max_queries}")
    if problems:
        item.user_properties.append(("qprof", problems))
        pytest.fail("qprof: " + "\n\n".join(problems), pytrace=False)
    return result
