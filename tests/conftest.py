"""Shared fixtures: one private PostgreSQL cluster per test session, the sample loaded into it.

Nothing here touches a server the suite did not start. A missing prerequisite fails the
run (it never turns into a skip): `make test` installs what is needed first.

Every test that needs PostgreSQL is marked ``postgres`` automatically (see
:func:`pytest_collection_modifyitems`), so ``pytest -m "not postgres"`` runs anywhere.
"""

from __future__ import annotations

import json
import signal
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pgcluster import PgCluster
from typer.testing import CliRunner

from qprof.cli.app import app
from qprof.workload import load_workload


def pytest_configure(config: pytest.Config) -> None:
    """A run started in the background by a non-interactive shell (make under nohup, some CI runners)
    inherits SIGINT ignored: Python then never raises KeyboardInterrupt, and the qprof processes the
    tests start inherit the ignore too. The Ctrl-C tests stand for a user's terminal, where SIGINT
    arrives: give this process Python's own handler (children get the default disposition at exec)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


REPO = Path(__file__).resolve().parents[1]
# The Django project is run by tests/test_nplusone_django.py in a pytest subprocess with its own
# settings; collecting it here would import Django models without settings.
collect_ignore = ["nplusone_django"]
WORKLOAD = REPO / "queries" / "shop.sql"
TEST_SCALE = 0.02
WORKLOAD_RUNS = 3


# What makes a test a PostgreSQL test: the session cluster in its fixture closure, or code (the
# test's own or a fixture's in its closure) that starts a cluster of its own or looks for the
# server binaries. A fixture that asks for pg_cluster only at run time (request.getfixturevalue,
# for one of its params) marks that param itself: pytest.param("postgresql", marks=pytest.mark.postgres).
CLUSTER_FIXTURE = "pg_cluster"
CLUSTER_NAMES = frozenset({"PgCluster", "find_bindir"})


def _names_a_cluster(func: Callable | None) -> bool:
    """Whether ``func``'s code (nested functions included) refers to PgCluster or find_bindir —
    a module-level import, a call, or an import inside the function all name it."""
    pending = [getattr(func, "__code__", None)]
    while pending:
        code = pending.pop()
        if code is None:
            continue
        if CLUSTER_NAMES.intersection(code.co_names):
            return True
        pending.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return False


def needs_postgres(item: pytest.Item) -> bool:
    """Whether a collected test uses a PostgreSQL cluster, directly or through its fixtures."""
    closure = getattr(item, "fixturenames", ())
    if CLUSTER_FIXTURE in closure:
        return True
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    functions = [getattr(item, "function", None)]
    functions += [definition.func for name in closure for definition in definitions.get(name, ())]
    return any(_names_a_cluster(func) for func in functions)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("postgres") is None and needs_postgres(item):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(autouse=True)
def _fresh_remembered_secrets() -> Iterator[None]:
    """Each test's CLI calls start as a new qprof process would: with no secret remembered from
    another test's connection strings (a password equal to a common word would mask it elsewhere)."""
    from qprof import redact

    redact.forget()
    yield


@pytest.fixture(scope="session")
def import_cycles() -> types.ModuleType:
    """scripts/import_cycles.py as a module (scripts/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("import_cycles", REPO / "scripts" / "import_cycles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster(settings={"track_io_timing": "on"})
    try:
        cluster.start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start the private PostgreSQL test cluster: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


def run_workload(dsn: str, runs: int = WORKLOAD_RUNS) -> None:
    """Execute the sample workload as the application would (not through qprof, whose own
    executions pg_stat_statements never records), so the statistics and table counters have data;
    data-modifying statements are rolled back."""
    import psycopg

    from qprof import sqltext

    statements = load_workload(WORKLOAD)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            query = sqltext.to_psycopg(statement.sql) if statement.params else statement.sql
            params = sqltext.psycopg_params(list(statement.params)) if statement.params else None
            for _ in range(runs):
                with conn.transaction(force_rollback=True), conn.cursor() as cur:
                    cur.execute(query, params)
    assert statements


@pytest.fixture(scope="session")
def app_dsn(pg_cluster: PgCluster) -> str:
    """The sample application at test scale, with extensions and statistics from a workload run."""
    from qprof.sample_dbs import load_postgres

    dsn = pg_cluster.create_database("app", extensions=("pg_stat_statements", "hypopg"))
    load_postgres(dsn, scale=TEST_SCALE)
    pg_cluster.psql("SELECT pg_stat_statements_reset()", dbname="app")
    run_workload(dsn)
    return dsn


@pytest.fixture(scope="session")
def sample_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite sample at test scale; tests must not modify it (copy it first if they need to)."""
    from qprof.sample_dbs import build_sqlite

    return build_sqlite(tmp_path_factory.mktemp("sqlite") / "app.sqlite", scale=TEST_SCALE)


class Cli:
    """Runs the real CLI in-process; stdout and stderr kept apart as a shell sees them."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None):
        return self.runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)

    def json(self, *args: str, env: dict[str, str] | None = None) -> dict:
        result = self(*args, "--format", "json", env=env)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    """The CLI, run from an empty folder with no qprof environment leaking in."""
    for name in ("QPROF_DB", "QPROF_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return Cli()
