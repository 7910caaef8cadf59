"""pytest plugin: fail tests that run an N+1, or more statements than they are allowed.

Off unless asked for: ``pytest --qprof-nplusone`` checks every test; the marker
``@pytest.mark.qprof(max_queries=10)`` (or ``@pytest.mark.qprof`` alone) checks one test even
without the flag. Statements are recorded during the test's call phase only (fixtures that
seed data do not count), from every SQLAlchemy engine and — with pytest-django or any
configured Django — every Django database alias. Each test is one unit. Neither library is
imported by the plugin unless the test session already imported it.

An N+1 fails the test whatever it costs (``--qprof-fail-on info``, the default); its total
time only decides its severity (``--qprof-min-ms``, default 50: warning at or above, info
below). ``--qprof-fail-on warning`` fails only the costly ones. Marker arguments override:
``@pytest.mark.qprof(threshold=3, nplusone=False, max_queries=20)``.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack

import pytest

from qprof.nplusone.detector import DEFAULT_MIN_MS, DEFAULT_THRESHOLD, Executed, detect
from qprof.nplusone.recording import unit

_FAIL_ON = ("info", "warning")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qprof", "qprof N+1 detection")
    group.addoption("--qprof-nplusone", action="store_true", default=False, help="fail tests that run an N+1 query pattern")
    group.addoption("--qprof-threshold", type=int, default=DEFAULT_THRESHOLD, help="repeats that make an N+1 (default 5)")
    group.addoption(
        "--qprof-min-ms",
        type=float,
        default=DEFAULT_MIN_MS,
        help="total time of an N+1's repeats at which it is a warning rather than info (default 50)",
    )
    group.addoption(
        "--qprof-fail-on",
        choices=_FAIL_ON,
        default="info",
        help="fail a test for an N+1 of at least this severity (default info: every N+1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "qprof(max_queries=None, threshold=None, min_ms=None, nplusone=True): check this test for N+1 queries and cap the statements it may run",
    )


def _recorders(stack: ExitStack, sink) -> None:
    """Record from the database libraries this test session uses (never import one that it does not)."""
    if "sqlalchemy" in sys.modules:
        from qprof.nplusone.sqlalchemy_capture import EngineRecorder

        recorder = EngineRecorder(None, sink)
        recorder.attach()
        stack.callback(recorder.detach)
    if "django" in sys.modules:
        from django.conf import settings

        if settings.configured:
            from qprof.django.recorder import collecting

            stack.enter_context(collecting(sink))


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
    fail_on = settings.get("fail_on") or item.config.getoption("--qprof-fail-on")
    max_queries = settings.get("max_queries")
    recorded: list[Executed] = []
    with ExitStack() as stack:
        _recorders(stack, recorded.append)
        with unit(item.nodeid):
            result = yield
    problems = []
    if settings.get("nplusone", True):
        found = detect(recorded, threshold=threshold, min_ms=min_ms)
        problems += [_as_assertion(f.describe(), f.callsite) for f in found if fail_on == "info" or f.severity == "warning"]
    if max_queries is not None and len(recorded) > max_queries:
        problems.append(f"{len(recorded)} statements ran, more than max_queries={max_queries}")
    if problems:
        item.user_properties.append(("qprof", problems))
        pytest.fail("qprof: " + "\n\n".join(problems), pytrace=False)
    return result


def _as_assertion(text: str, where: str | None) -> str:
    """A finding the way pytest shows a failed assert: ``E``-marked lines, then ``path:line: error``."""
    lines = text.splitlines()
    body = "\n".join([lines[0], *(f"E   {line.strip()}" for line in lines[1:])])
    if where:
        location = where.split(" in ", 1)[0]
        body += f"\n\n{location}: NPlusOneError"
    return body
