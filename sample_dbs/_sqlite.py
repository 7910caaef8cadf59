"""Build the sample SQLite file.

The file is written to a temporary name in the target folder and moved into place with
``os.replace``, so readers never observe a half-built database and a failed build leaves
the previous file untouched. It is deliberately left un-ANALYZEd (no sqlite_stat1) and in
rollback-journal mode (not WAL), so qprof's settings advisor has something to report.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ._ddl import index_sql, schema_sql
from ._generate import COLUMNS, TABLES, SampleData


def build_sqlite(
    path: str | os.PathLike[str],
    scale: float = 0.1,
    seed: int = 42,
    *,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Build the sample database at ``path`` (replacing any existing file) and return it."""
    report = progress or (lambda _msg: None)
    data = SampleData(scale, seed)  # validates scale before touching the filesystem
    target = Path(path).absolute()
    if target.exists() and not target.is_file():  # os.replace would swap a device or FIFO for a file
        from qprof.errors import BadInput

        raise BadInput(f"{target} exists and is not a regular file; give the path of a database file to (re)build")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _fill(tmp, data, report)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)
        raise
    return target


def _fill(path: Path, data: SampleData, report: Callable[[str], None]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Journal and fsync are pointless for a file nobody sees until os.replace.
        # journal_mode=OFF is not persistent: the finished file opens in DELETE mode.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.executescript(schema_sql("sqlite", indexes=False))
        conn.execute("BEGIN")
        for table in TABLES:
            _insert(conn, table, data, report)
        conn.execute("COMMIT")
        started = time.perf_counter()
        conn.executescript(index_sql("sqlite"))
        report(f"indexes: created in {time.perf_counter() - started:.2f} s")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()


def _insert(conn: sqlite3.Connection, table: str, data: SampleData, report: Callable[[str], None]) -> None:
    columns = COLUMNS[table]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    started = time.perf_counter()
    cur = conn.executemany(sql, data.rows(table))
    report(f"{table}: {cur.rowcount:,} rows in {time.perf_counter() - started:.2f} s")
