"""Tests for the private PostgreSQL cluster every PostgreSQL test in the suite relies on.

One module-scoped cluster serves the read-mostly checks (a start costs ~1 s); lifecycle tests
that must observe stop() or a failed start use their own instances. Deliberately independent
of conftest fixtures.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgcluster import PgCluster, find_bindir  # noqa: E402


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with PgCluster() as c:
        yield c


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_find_bindir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = find_bindir()
    assert all((Path(real) / exe).exists() for exe in ("initdb", "pg_ctl", "postgres"))
    monkeypatch.setenv("QPROF_PG_BINDIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="QPROF_PG_BINDIR"):
        find_bindir()


def test_cluster_is_private_and_preloads_pg_stat_statements(cluster: PgCluster) -> None:
    assert cluster.datadir.is_dir()
    assert cluster.psql("SHOW shared_preload_libraries").strip() == "pg_stat_statements"
    assert cluster.psql("SHOW listen_addresses").strip() == "127.0.0.1"
    assert cluster.psql("SHOW pg_stat_statements.track").strip() == "all"
    with psycopg.connect(cluster.dsn()) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (cluster.superuser,)
    with psycopg.connect(cluster.url()) as conn:
        assert conn.execute("SELECT inet_server_port()").fetchone() == (cluster.port,)


def test_extensions_install_in_created_database(cluster: PgCluster) -> None:
    dsn = cluster.create_database("ext_db")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT 1 AS probe")
        n = conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()[0]  # type: ignore[index]
        assert n >= 1
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'").fetchone()
        if available is None:
            # Missing HypoPG is a broken prerequisite in CI, never a silent skip.
            if os.environ.get("CI") == "true":
                pytest.fail("hypopg is not installed; run scripts/ensure-prereqs.sh")
            pytest.skip("hypopg is not installed (scripts/ensure-prereqs.sh installs it)")
        conn.execute("CREATE EXTENSION hypopg")
        conn.execute("CREATE TABLE t (id int, v int)")
        conn.execute("SELECT * FROM hypopg_create_index('CREATE INDEX ON t (v)')")
        plan = conn.execute("EXPLAIN SELECT * FROM t WHERE v = 1").fetchall()
        assert "<" in str(plan)  # hypothetical indexes are shown as <oid>btree_t_v


def test_password_role_needs_its_password(cluster: PgCluster) -> None:
    password = "s3cr'et word"
    cluster.psql("CREATE ROLE alice LOGIN PASSWORD 's3cr''et word'")
    with psycopg.connect(cluster.dsn(user="alice", password=password)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("alice",)
    with psycopg.connect(cluster.url(user="alice", password=password)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("alice",)
    # passfile=/dev/null: a developer's ~/.pgpass must not make this pass by accident.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(cluster.dsn(user="alice"), passfile=os.devnull, connect_timeout=5)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(cluster.dsn(user="alice", password="wrong"), connect_timeout=5)


def test_reload_applies_log_settings_before_returning(cluster: PgCluster) -> None:
    cluster.reload({"log_min_duration_statement": "0"})
    try:
        cluster.psql("SELECT 'qprof-reload-marker'")
        assert "qprof-reload-marker" in cluster.log_text()
    finally:
        cluster.reload({"log_min_duration_statement": "-1"})
    with pytest.raises(ValueError, match="restart"):
        cluster.reload({"shared_buffers": "32MB"})
    cluster.psql("ALTER SYSTEM RESET shared_buffers")


def test_stop_removes_directory_and_frees_port() -> None:
    c = PgCluster(settings={"work_mem": "8MB"})
    c.start()
    tmpdir, port = c.tmpdir, c.port
    assert tmpdir is not None and tmpdir.is_dir()
    assert c.psql("SHOW work_mem").strip() == "8MB"
    assert not _port_is_free(port)
    c.stop()
    assert not tmpdir.exists()
    assert _port_is_free(port)
    c.stop()  # idempotent


def test_failed_start_raises_with_log_and_cleans_up() -> None:
    c = PgCluster(settings={"shared_buffers": "not-a-size"})
    made: list[Path] = []
    real_make = c._make_tmpdir

    def recording_make() -> Path:
        made.append(real_make())
        return made[-1]

    c._make_tmpdir = recording_make  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="shared_buffers"):
        c.start()
    assert c.tmpdir is None
    assert len(made) == 1 and not made[0].exists()
