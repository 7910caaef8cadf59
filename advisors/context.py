"""The database-wide facts database rules read: tables, indexes, foreign keys, settings.

Collected once per ``qprof check`` through the read-only target (collectors for tables and
indexes; the foreign-key and maintenance queries below), or built from a dict in rule fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qprof.index_classes import classify
from qprof.model import IndexInfo, IndexKey, TableStats


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key: ``table(columns)`` references ``ref_table(ref_columns)``."""

    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...] = ()


@dataclass
class DatabaseContext:
    engine: str
    tables: list[TableStats] = field(default_factory=list)
    indexes: list[IndexInfo] = field(default_factory=list)  # classified (index_classes)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    stats_reset: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # SQLite pragmas, PostgreSQL GUCs
    maintenance: dict[str, dict[str, Any]] = field(default_factory=dict)  # table -> n_mod_since_analyze, …

    def table(self, schema: str, name: str) -> TableStats | None:
        for table in self.tables:
            if table.name == name and table.schema == schema:
                return table
        return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DatabaseContext":
        """Build from fixture JSON: tables as TableStats fields, indexes with ``keys`` as column names."""
        tables = [TableStats(**t) for t in data.get("tables", [])]
        indexes = []
        for raw in data.get("indexes", []):
            raw = dict(raw)
            raw["keys"] = [IndexKey(k) if isinstance(k, str) else IndexKey(**k) for k in raw.get("keys", [])]
            indexes.append(IndexInfo(**raw))
        fks = [
            ForeignKey(f["schema"], f["table"], f["name"], tuple(f["columns"]), f["ref_table"], tuple(f.get("ref_columns", ())))
            for f in data.get("foreign_keys", [])
        ]
        return cls(
            engine=data.get("engine", "postgresql"),
            tables=tables,
            indexes=classify(indexes),
            foreign_keys=fks,
            stats_reset=data.get("stats_reset", {}),
            settings=data.get("settings", {}),
            maintenance=data.get("maintenance", {}),
        )


_PG_FOREIGN_KEYS = """
SELECT n.nspname AS schema, t.relname AS "table", c.conname AS name,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns,
       r.relname AS ref_table,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS ref_columns
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class r ON r.oid = c.confrelid
WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2, 3
"""

_PG_MAINTENANCE = """
SELECT schemaname AS schema, relname AS name, n_mod_since_analyze, n_live_tup,
       current_setting('autovacuum') AS autovacuum
FROM pg_stat_user_tables
"""


def collect_database(target: Any) -> DatabaseContext:
    """Everything database rules need, read through the target's read-only session."""
    if target.engine == "sqlite":
        return _collect_sqlite(target)
    from qprof.collectors import pg_catalog

    context = DatabaseContext(
        engine="postgresql",
        tables=pg_catalog.collect_tables(target),
        indexes=classify(pg_catalog.collect_indexes(target)),
        stats_reset=pg_catalog.collect_stats_reset(target),
    )
    for row in target.fetch_all(_PG_FOREIGN_KEYS, what="reading foreign keys"):
        context.foreign_keys.append(ForeignKey(row["schema"], row["table"], row["name"], tuple(row["columns"]), row["ref_table"], tuple(row["ref_columns"])))
    for row in target.fetch_all(_PG_MAINTENANCE, what="reading pg_stat_user_tables"):
        context.maintenance[f"{row['schema']}.{row['name']}"] = {
            "n_mod_since_analyze": row["n_mod_since_analyze"],
            "n_live_tup": row["n_live_tup"],
        }
        context.settings["autovacuum"] = row["autovacuum"]
    return context


def _collect_sqlite(target: Any) -> DatabaseContext:
    from qprof.collectors import sqlite_catalog

    context = DatabaseContext(
        engine="sqlite",
        tables=sqlite_catalog.collect_tables(target),
        indexes=classify(sqlite_catalog.collect_indexes(target)),
    )
    for table in context.tables:
        rows = target.fetch_all("SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq", (table.name,))
        grouped: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            grouped.setdefault(row["id"], []).append(row)
        for number, parts in grouped.items():
            context.foreign_keys.append(
                ForeignKey(
                    "main",
                    table.name,
                    f"{table.name}_fk{number}",
                    tuple(p["from"] for p in parts),
                    parts[0]["table"],
                    tuple(p["to"] or "" for p in parts),
                )
            )
    context.settings = {
        "journal_mode": str(target.fetch_value("PRAGMA journal_mode")).lower(),
        "foreign_keys": bool(target.fetch_value("PRAGMA foreign_keys")),
        "has_stat1": target.has_table("sqlite_stat1"),
    }
    return context
