"""Sample databases for qprof's demo, tests and benchmarks.

One realistic application, built identically on SQLite and PostgreSQL from a seeded
generator (same scale + seed => same rows on both engines):

* shop      -- ``customers``, ``orders`` (the largest table: 1,000,000 rows at scale 1.0)
* content   -- ``clients``, ``campaigns``, ``contents``, ``script_blocks``, ``audio_generations``
* cbr       -- ``case_bank``, ``execution_log`` (a case-based-reasoning service)

The data is skewed (hot customers and cases, status columns dominated by one value,
timestamps over 2024) and the schema carries the problems qprof exists to find. They are
listed in :data:`PLANTED` so tests can refer to them by name, and marked with
``PLANTED`` comments in ``indexes_*.sql`` / ``schema_*.sql``:

fk_without_index
    Foreign keys whose referencing column leads no index: ``orders.customer_id``,
    ``execution_log.case_id``, ``audio_generations.content_id``. The sample workload
    (``queries/shop.sql``) looks rows up by each of them.
duplicate_indexes
    ``ix_campaigns_client_id`` is an exact duplicate of ``campaigns_client_id_idx`` (created
    first, so both planners pick the other one and it shows zero scans);
    ``contents_client_id_idx (client_id)`` is a leading prefix of
    ``contents_client_id_status_idx (client_id, status)``.
unused_indexes
    ``orders_total_cents_idx`` and ``case_bank_updated_at_idx``: nothing in the workload
    filters, joins, groups or sorts on those columns.
low_selectivity
    Plain indexes on status columns where one value dominates: ``case_bank.status`` (~90%
    'active', index ``case_bank_status_idx``) and ``orders.status`` (~80% 'delivered',
    index ``orders_status_idx``). Queries for the dominant value gain nothing from them.
missing_indexes
    Lookups with no supporting index that get >= 10x faster with one at scale 1.0.
sqlite_settings
    The SQLite file is left un-ANALYZEd and in rollback-journal (DELETE) mode.

Entry points: :func:`build_sqlite`, :func:`load_postgres`, :func:`schema_sql`, and the CLI
``python -m qprof.sample_dbs {sqlite PATH | postgres CONNINFO} [--scale S] [--seed N]``.
This package imports nothing from the rest of qprof.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._ddl import index_sql, schema_sql
from ._generate import COLUMNS, TABLES, task_id
from ._sqlite import build_sqlite

PLANTED: dict[str, Any] = {
    # (table, column) pairs: FK columns with no index led by that column.
    "fk_without_index": [
        ("orders", "customer_id"),
        ("execution_log", "case_id"),
        ("audio_generations", "content_id"),
    ],
    # Names of the redundant index of each pair (the one to drop).
    "duplicate_indexes": ["ix_campaigns_client_id", "contents_client_id_idx"],
    # (redundant, kept, kind): kind "exact" = same columns; "prefix" = leading prefix.
    "duplicate_pairs": [
        ("ix_campaigns_client_id", "campaigns_client_id_idx", "exact"),
        ("contents_client_id_idx", "contents_client_id_status_idx", "prefix"),
    ],
    # Index names the sample workload never uses.
    "unused_indexes": ["orders_total_cents_idx", "case_bank_updated_at_idx"],
    # (table, column, index, dominant value, approximate fraction of rows).
    "low_selectivity": [
        ("case_bank", "status", "case_bank_status_idx", "active", 0.90),
        ("orders", "status", "orders_status_idx", "delivered", 0.80),
    ],
    # (table, columns, workload statement names) that speed up >= 10x at scale 1.0.
    "missing_indexes": [
        ("orders", ("customer_id",), ["orders_by_customer"]),
        ("execution_log", ("case_id",), ["case_history", "purge_case_errors"]),
        ("audio_generations", ("task_id",), ["audio_by_task", "finish_audio_task"]),
        ("audio_generations", ("content_id",), ["audio_by_content"]),
        ("case_bank", ("usage_count",), ["top_cases"]),
    ],
    # SQLite only: the build runs no ANALYZE and keeps journal_mode=delete.
    "sqlite_settings": {"analyzed": False, "journal_mode": "delete"},
}


def load_postgres(
    conninfo: str,
    scale: float = 0.02,
    seed: int = 42,
    *,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Create, COPY-load, index and ANALYZE the sample tables in schema ``public``.

    Raises ValueError if the tables exist and ``replace`` is false. psycopg is imported
    only here, so SQLite-only use of this package does not pay for it.
    """
    from ._postgres import load_postgres as _load

    _load(conninfo, scale, seed, replace=replace, progress=progress)


__all__ = [
    "COLUMNS",
    "PLANTED",
    "TABLES",
    "build_sqlite",
    "index_sql",
    "load_postgres",
    "schema_sql",
    "task_id",
]
