"""Tables and indexes of a SQLite file: row counts, sizes (dbstat) and index definitions.

SQLite keeps no usage counters, so ``idx_scan`` stays None and nothing is called unused.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from qprof.errors import QprofError
from qprof.model import IndexInfo, IndexKey, TableStats
from qprof.targets.sqlite import SqliteTarget

USER_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"


def object_sizes(target: SqliteTarget) -> dict[str, int]:
    """Bytes per table or index from the dbstat virtual table; empty when SQLite lacks it."""
    try:
        rows = target.fetch_all("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name")
    except QprofError:
        return {}
    return {row["name"]: int(row["bytes"]) for row in rows}


def collect_tables(target: SqliteTarget) -> list[TableStats]:
    sizes = object_sizes(target)
    analyzed: set[str] = set()
    if target.has_table("sqlite_stat1"):
        analyzed = {row["tbl"] for row in target.fetch_all("SELECT DISTINCT tbl FROM sqlite_stat1")}
    tables = []
    for row in target.fetch_all(USER_TABLES):
        name = row["name"]
        count = target.fetch_value(f'SELECT count(*) FROM "{_quote(name)}"', what=f"counting rows of {name}")
        index_bytes = sum(sizes.get(index, 0) for index in _index_names(target, name))
        table_bytes = sizes.get(name)
        tables.append(
            TableStats(
                schema="main",
                name=name,
                n_live_tup=count,
                table_bytes=table_bytes,
                total_bytes=(table_bytes + index_bytes) if table_bytes is not None else None,
                has_stat1=name in analyzed,
            )
        )
    return tables


def _quote(identifier: str) -> str:
    return identifier.replace('"', '""')


def _index_names(target: SqliteTarget, table: str) -> list[str]:
    return [row["name"] for row in target.fetch_all("SELECT name FROM pragma_index_list(?)", (table,))]


def _parsed_definition(create_sql: str | None) -> tuple[list[str], str | None]:
    """Key expressions and WHERE of a CREATE INDEX: what PRAGMA index_xinfo cannot name."""
    if not create_sql:
        return [], None
    try:
        params = sqlglot.parse_one(create_sql, read="sqlite").find(exp.IndexParameters)
    except sqlglot.errors.SqlglotError:
        return [], None
    if params is None:
        return [], None
    columns = params.args.get("columns") or []
    expressions = [(c.this if isinstance(c, exp.Ordered) else c).sql("sqlite") for c in columns]
    where = params.args.get("where")
    return expressions, where.this.sql("sqlite") if where is not None else None


def collect_indexes(target: SqliteTarget) -> list[IndexInfo]:
    sizes = object_sizes(target)
    definitions = {row["name"]: row["sql"] for row in target.fetch_all("SELECT name, sql FROM sqlite_master WHERE type = 'index'")}
    indexes = []
    for table_row in target.fetch_all(USER_TABLES):
        table = table_row["name"]
        for entry in target.fetch_all("SELECT * FROM pragma_index_list(?)", (table,)):
            name = entry["name"]
            definition = definitions.get(name)
            expressions, where = _parsed_definition(definition)
            keys = []
            for column in target.fetch_all("SELECT * FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", (name,)):
                text = column["name"]
                if text is None:  # cid -2: an expression
                    seq = column["seqno"]
                    text = expressions[seq] if seq < len(expressions) else f"<expression {seq + 1}>"
                collation = None if column["coll"] in (None, "BINARY") else column["coll"]
                keys.append(IndexKey(text, bool(column["desc"]), False, None, collation))
            indexes.append(
                IndexInfo(
                    schema="main",
                    table=table,
                    name=name,
                    method="btree",
                    keys=keys,
                    predicate=(where or "(partial)") if entry["partial"] else None,
                    definition=definition or f"(automatic index for {'PRIMARY KEY' if entry['origin'] == 'pk' else 'UNIQUE'})",
                    is_unique=bool(entry["unique"]),
                    is_primary=entry["origin"] == "pk",
                    constraint=name if entry["origin"] in ("pk", "u") else None,
                    size_bytes=sizes.get(name),
                )
            )
    return indexes
