"""Load the sample database into PostgreSQL (schema ``public``) with COPY.

Everything runs in one transaction: tables, COPY, identity sequences, foreign keys,
indexes and ANALYZE. A failure therefore leaves the database as it was. Foreign keys
and secondary indexes are added after the data, which is several times faster than
maintaining them row by row. Unlike the SQLite build, the result is ANALYZEd, because
PostgreSQL users are expected to have autovacuum and the planner should see real stats.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from psycopg import sql

from ._ddl import index_sql, tables_and_constraints
from ._generate import COLUMNS, TABLES, SampleData

_EXISTING = """
SELECT c.relname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname = ANY(%s)
ORDER BY c.relname
"""


def load_postgres(
    conninfo: str,
    scale: float = 0.02,
    seed: int = 42,
    *,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Create and fill the sample tables in ``public``.

    Raises ValueError if any sample table already exists, unless ``replace=True``, in
    which case those tables are dropped first (without CASCADE: objects of others that
    depend on them make the load fail instead of silently disappearing).
    """
    report = progress or (lambda _msg: None)
    data = SampleData(scale, seed)
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn, conn.transaction():
        report(f"connected to database {conn.info.dbname!r} on {conn.info.host or 'localhost'}:{conn.info.port}")
        conn.execute("SET LOCAL search_path = public")
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        _drop_or_refuse(conn, replace, report)
        tables, constraints = tables_and_constraints("postgresql")
        conn.execute(tables)
        for table in TABLES:
            _copy(conn, table, data, report)
        _timed(conn, constraints, "foreign keys", report)
        _timed(conn, index_sql("postgresql"), "indexes", report)
        _timed(conn, sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, TABLES))), "analyze", report)
    report(f"loaded scale {scale} seed {seed} in {time.perf_counter() - started:.1f} s")


def _drop_or_refuse(conn: psycopg.Connection, replace: bool, report: Callable[[str], None]) -> None:
    existing = [row[0] for row in conn.execute(_EXISTING, (TABLES,))]
    if not existing:
        return
    if not replace:
        raise ValueError(f"sample tables already exist in schema public: {', '.join(existing)}; pass replace=True (CLI: --replace) to drop and reload them")
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(", ").join(sql.Identifier("public", name) for name in existing)))
    report(f"dropped existing tables: {', '.join(existing)}")


def _copy(conn: psycopg.Connection, table: str, data: SampleData, report: Callable[[str], None]) -> None:
    started = time.perf_counter()
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[table])))
    count = 0
    with conn.cursor() as cur:
        with cur.copy(stmt) as copy:
            for row in data.rows(table):
                copy.write_row(row)
                count += 1
        # Rows carry explicit ids, so move the identity sequence past them for INSERTs.
        cur.execute(sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM {}))").format(sql.Identifier(table)), (f"public.{table}",))
    report(f"{table}: {count:,} rows in {time.perf_counter() - started:.2f} s")


def _timed(conn: psycopg.Connection, statements: str | sql.Composable, label: str, report: Callable[[str], None]) -> None:
    started = time.perf_counter()
    conn.execute(statements)
    report(f"{label}: {time.perf_counter() - started:.2f} s")
