"""Helpers shared by the history, report and baseline tests (no tests in here).

Each test module builds its own small database on the session cluster, so the modules never
share mutable state and can run in any order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]

SCHEMA = """
CREATE TABLE items (id int PRIMARY KEY, kind text NOT NULL, price numeric NOT NULL, note text);
INSERT INTO items SELECT g, 'k' || (g % 10), g % 97, NULL FROM generate_series(1, 2000) g;
CREATE INDEX items_kind ON items (kind);
CREATE INDEX items_never_used ON items (note);
ANALYZE items;
"""


def make_database(pg_cluster, name: str) -> str:
    """A database with pg_stat_statements and a tiny ``items`` table; returns its dsn."""
    dsn = pg_cluster.create_database(name, extensions=("pg_stat_statements",))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    return dsn


def run(dsn: str, sql: str, params_list: list[tuple]) -> None:
    """Execute ``sql`` once per parameter tuple on a fresh connection, closed afterwards so the
    backend flushes its table/index counters before the next snapshot."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for params in params_list:
            conn.execute(sql, params)


def pg_store_url(pg_cluster, dbname: str) -> str:
    """A SQLAlchemy URL for a store database on the test cluster (created on first call)."""
    with pg_cluster.connect() as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
    if not exists:
        pg_cluster.create_database(dbname, extensions=())
    return f"postgresql+psycopg://postgres@{pg_cluster.host}:{pg_cluster.port}/{dbname}"


def qprof_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``qprof ARGS`` as a separate OS process (for concurrency and crash tests)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("QPROF_", "PG"))}
    environment.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "qprof", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=REPO,
    )


def find_statement(statements, fragment: str):
    """The one statement whose text contains ``fragment``."""
    matches = [s for s in statements if fragment in s.query]
    assert len(matches) == 1, [s.query for s in statements]
    return matches[0]
