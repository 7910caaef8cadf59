"""The automatic ``postgres`` mark (tests/conftest.py): every test that needs the cluster has it,
so ``pytest -m "not postgres"`` runs on a machine without PostgreSQL.

The suite is collected in a subprocess with no server binaries (``QPROF_PG_BINDIR`` pointing
nowhere), as on such a machine; collecting starts no cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _collected(marker: str, tmp_path: Path) -> set[str]:
    env = {**os.environ, "QPROF_PG_BINDIR": str(tmp_path / "no-postgres-here")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", marker, str(TESTS)],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {line.strip() for line in result.stdout.splitlines() if "::" in line}


def test_cluster_tests_are_marked_and_the_rest_is_not(tmp_path: Path) -> None:
    marked = _collected("postgres", tmp_path)
    unmarked = _collected("not postgres", tmp_path)
    assert marked and unmarked and not marked & unmarked
    # pg_cluster in the fixture closure, through another fixture (app_dsn -> pg_cluster)
    assert "tests/test_top.py::test_user_filter_and_all_databases" in marked
    # a cluster of the test's own, built in its body, no cluster fixture at all
    assert "tests/test_secrets.py::test_failed_connection_hides_every_secret" in marked
    # a module's own cluster fixture (logging_cluster), and the server binaries looked up
    assert "tests/test_nplusone_postgres.py::test_capture_eager_version_is_clean" in marked
    assert "tests/test_pgcluster.py::test_find_bindir_honours_env" in marked
    # a parametrized fixture asking for pg_cluster at run time: only its PostgreSQL variant
    assert "tests/test_nplusone_django.py::test_capture_middleware_and_async_views[postgresql]" in marked
    assert "tests/test_nplusone_django.py::test_capture_middleware_and_async_views[sqlite]" in unmarked
    # plain unit tests and SQLite tests stay runnable anywhere
    assert any(name.startswith("tests/test_sqltext_units.py::") for name in unmarked)
    assert any(name.startswith("tests/test_collectors_logs.py::") for name in unmarked)
