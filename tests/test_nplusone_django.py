"""Django: the library project in tests/nplusone_django, run by pytest-django in a subprocess
(its own settings, so this suite never has DJANGO_SETTINGS_MODULE), on SQLite and on the
private PostgreSQL cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
PROJECT = TESTS / "nplusone_django"


def _pytest(tmp_path: Path, database_url: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "QPROF_DJANGO_PG")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["QPROF_DJANGO_SQLITE_DIR"] = str(tmp_path)
    if database_url:
        env["QPROF_DJANGO_PG"] = database_url
    command = [sys.executable, "-m", "pytest", "-c", str(PROJECT / "pytest.ini"), "-q", "-p", "no:randomly", *args]
    return subprocess.run(command, cwd=TESTS, env=env, capture_output=True, text=True, timeout=600, check=False)


# pg_cluster is asked for at run time, so the PostgreSQL variant carries its mark itself
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_cluster").url("postgres")


def test_capture_middleware_and_async_views(tmp_path: Path, database_url: str | None) -> None:
    result = _pytest(tmp_path, database_url, str(PROJECT / "checks" / "check_capture.py"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "7 passed" in result.stdout


def test_plugin_fails_the_nplusone_and_the_cap(tmp_path: Path, database_url: str | None) -> None:
    result = _pytest(tmp_path, database_url, "--qprof-nplusone", str(PROJECT / "checks" / "check_plugin.py"))
    out = result.stdout
    assert result.returncode == 1, out[-4000:] + result.stderr[-2000:]
    assert "2 failed, 2 passed" in out
    assert "FAILED nplusone_django/checks/check_plugin.py::test_lazy_view_fails" in out
    assert "FAILED nplusone_django/checks/check_plugin.py::test_capped_four_lookups_fails" in out
    # the finding reads like a failed assert: E-lines, the call site, then path:line: NPlusOneError
    assert "qprof: N+1 in checks/check_plugin.py::test_lazy_view_fails: 12 executions" in out
    assert "E   at:       nplusone_django/library/views.py:" in out
    assert "E   fix: add .select_related('author') to the Book queryset, so 12 lookups become one" in out
    assert "nplusone_django/library/views.py:" in out and ": NPlusOneError" in out
    assert "5 statements ran, more than max_queries=3" in out


def test_nothing_django_is_imported_unless_asked(tmp_path: Path) -> None:
    code = (
        "import sys, qprof, qprof.nplusone, qprof.pytest_plugin, qprof.nplusone.detector;"
        "import qprof.django;"
        "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')], 'django imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
