"""What the advisor must know about the schema: tables, columns (and whether B-tree can index
them), views, partitions, existing indexes and write activity — read once per run.

Name lookup follows each engine's rules: PostgreSQL folds unquoted identifiers to lower case
and searches ``search_path``; SQLite compares names case-insensitively.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qprof.model import IndexInfo

CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})

# Columns of every user table, partitioned parent and view, with whether the column's type (through
# domains) has a default B-tree operator class, directly or through a binary-coercible cast
# (varchar → text), or through the polymorphic array/enum/range classes.
_PG_COLUMNS = """
WITH cols AS (
  SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind, a.attname AS column,
         a.attnum, format_type(a.atttypid, a.atttypmod) AS type,
         COALESCE(NULLIF(t.typbasetype, 0), a.atttypid) AS base_type, a.attnotnull
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type t ON t.oid = a.atttypid
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
)
SELECT cols.schema, cols.name, cols.kind, cols.column, cols.type, cols.attnum,
       EXISTS (
         SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
         JOIN pg_type bt ON bt.oid = cols.base_type
         WHERE am.amname = 'btree' AND oc.opcdefault
           AND (oc.opcintype = cols.base_type
                OR (bt.typcategory = 'A' AND oc.opcintype = 'anyarray'::regtype)
                OR (bt.typtype = 'e' AND oc.opcintype = 'anyenum'::regtype)
                OR (bt.typtype = 'r' AND oc.opcintype = 'anyrange'::regtype)
                OR EXISTS (SELECT 1 FROM pg_cast pc WHERE pc.castsource = cols.base_type
                           AND pc.casttarget = oc.opcintype AND pc.castmethod = 'b'))
       ) AS btree_ok
FROM cols
ORDER BY cols.schema, cols.name, cols.attnum
"""

_PG_RELATIONS = """
SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
       GREATEST(c.reltuples, 0)::float8 AS rows, c.relpages::bigint AS pages, c.relallvisible::bigint AS all_visible,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS definition,
       c.relispartition AS is_partition,
       CASE WHEN c.relispartition THEN (SELECT rn.nspname FROM pg_class r JOIN pg_namespace rn ON rn.oid = r.relnamespace
                                         WHERE r.oid = pg_partition_root(c.oid)) END AS root_schema,
       CASE WHEN c.relispartition THEN (SELECT r.relname FROM pg_class r WHERE r.oid = pg_partition_root(c.oid)) END AS root_name,
       s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
"""

# Partitioned indexes (relkind 'I') and partition indexes attached to a parent index: the former
# cannot be dropped CONCURRENTLY, the latter cannot be dropped on their own at all.
_PG_PARTITION_INDEXES = """
SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind, c.relispartition AS attached
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('i', 'I') AND (c.relkind = 'I' OR c.relispartition)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
"""

_PG_SEARCH_PATH = "SELECT unnest(current_schemas(false)) AS schema"

_PG_WIDTHS = """
SELECT schemaname AS schema, tablename AS name, attname AS column, avg_width, n_distinct
FROM pg_stats WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
"""


@dataclass
class Column:
    name: str
    type: str
    btree_ok: bool = True
    avg_width: int | None = None
    n_distinct: float | None = None
    rowid: bool = False  # SQLite: every index stores it (the INTEGER PRIMARY KEY, an alias of the rowid; a WITHOUT ROWID table's key)


@dataclass
class Relation:
    """A table, partitioned table, view or materialized view."""

    schema: str
    name: str
    kind: str  # r table, p partitioned, v view, m matview, f foreign
    columns: dict[str, Column] = field(default_factory=dict)
    rows: float = 0.0
    pages: int = 0
    all_visible: int = 0  # pg_class.relallvisible: pages an index-only scan need not visit
    definition: str | None = None  # views
    root: tuple[str, str] | None = None  # a partition's partitioned root
    leaves: list[tuple[str, str]] = field(default_factory=list)  # a partitioned table's leaf partitions
    n_tup_ins: int = 0
    n_tup_upd: int = 0
    n_tup_del: int = 0
    n_tup_hot_upd: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def is_view(self) -> bool:
        return self.kind == "v"

    def column(self, name: str, *, case_sensitive: bool) -> Column | None:
        if name in self.columns:
            return self.columns[name]
        if not case_sensitive:
            lowered = name.lower()
            for column in self.columns.values():
                if column.name.lower() == lowered:
                    return column
        return None


@dataclass
class Catalog:
    """Relations by (schema, name), the search path, and the existing indexes."""

    engine: str
    relations: dict[tuple[str, str], Relation]
    search_path: list[str]
    indexes: list[IndexInfo]
    include_ok: bool = False  # INCLUDE columns (PostgreSQL 11+): covering candidates
    partitioned_indexes: set[tuple[str, str]] = field(default_factory=set)  # (schema, name) of relkind 'I'
    attached_indexes: set[tuple[str, str]] = field(default_factory=set)  # partition indexes with a parent index

    @property
    def case_sensitive(self) -> bool:
        return self.engine == "postgresql"

    def lookup(self, schema: str | None, name: str, *, quoted_schema: bool = True, quoted_name: bool = True) -> Relation | None:
        """The relation a (possibly schema-qualified) name in a statement refers to."""
        if self.engine == "postgresql":
            name = name if quoted_name else name.lower()
            if schema is not None:
                schema = schema if quoted_schema else schema.lower()
                return self.relations.get((schema, name))
            for candidate in self.search_path:
                found = self.relations.get((candidate, name))
                if found is not None:
                    return found
            return None
        lowered = name.lower()
        for (_, rel_name), relation in self.relations.items():
            if rel_name.lower() == lowered:
                return relation
        return None

    def indexes_on(self, schema: str, table: str) -> list[IndexInfo]:
        return [i for i in self.indexes if i.schema == schema and i.table == table]


def load_catalog(target: Any) -> Catalog:
    """Read the catalog of a PostgreSQL or SQLite target."""
    if target.engine == "postgresql":
        return _load_postgres(target)
    return _load_sqlite(target)


def _load_postgres(target: Any) -> Catalog:
    from qprof.collectors.pg_catalog import collect_indexes

    relations: dict[tuple[str, str], Relation] = {}
    for row in target.fetch_all(_PG_RELATIONS, what="reading relations"):
        relation = Relation(
            schema=row["schema"],
            name=row["name"],
            kind=row["kind"],
            rows=float(row["rows"] or 0),
            pages=int(row["pages"] or 0),
            all_visible=int(row["all_visible"] or 0),
            definition=row["definition"],
            root=(row["root_schema"], row["root_name"]) if row["is_partition"] and row["root_name"] else None,
            n_tup_ins=int(row["n_tup_ins"] or 0),
            n_tup_upd=int(row["n_tup_upd"] or 0),
            n_tup_del=int(row["n_tup_del"] or 0),
            n_tup_hot_upd=int(row["n_tup_hot_upd"] or 0),
        )
        relations[relation.key] = relation
    for row in target.fetch_all(_PG_COLUMNS, what="reading columns"):
        relation = relations.get((row["schema"], row["name"]))
        if relation is not None:
            relation.columns[row["column"]] = Column(row["column"], row["type"], bool(row["btree_ok"]))
    for row in target.fetch_all(_PG_WIDTHS, what="reading pg_stats"):
        relation = relations.get((row["schema"], row["name"]))
        column = relation.columns.get(row["column"]) if relation else None
        if column is not None:
            column.avg_width = row["avg_width"]
            column.n_distinct = row["n_distinct"]
    for relation in relations.values():
        if relation.root and relation.kind != "p" and relation.root in relations:
            root = relations[relation.root]
            root.leaves.append(relation.key)
            root.rows += relation.rows
            root.pages += relation.pages
            root.all_visible += relation.all_visible
            root.n_tup_ins += relation.n_tup_ins
            root.n_tup_upd += relation.n_tup_upd
            root.n_tup_del += relation.n_tup_del
            root.n_tup_hot_upd += relation.n_tup_hot_upd
    search_path = [row["schema"] for row in target.fetch_all(_PG_SEARCH_PATH, what="reading search_path")]
    include_ok = int(getattr(target, "server_version_num", 0) or 0) >= 110000
    catalog = Catalog("postgresql", relations, search_path, _users_indexes(collect_indexes(target)), include_ok=include_ok)
    for row in target.fetch_all(_PG_PARTITION_INDEXES, what="reading partition indexes"):
        if row["kind"] == "I":
            catalog.partitioned_indexes.add((row["schema"], row["name"]))
        if row["attached"]:
            catalog.attached_indexes.add((row["schema"], row["name"]))
    return catalog


def _load_sqlite(target: Any) -> Catalog:
    from qprof.collectors.sqlite_catalog import collect_indexes

    relations: dict[tuple[str, str], Relation] = {}
    rows = target.fetch_all("SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name")
    for row in rows:
        definition = None
        if row["type"] == "view" and row["sql"]:
            definition = _sqlite_view_body(row["sql"])
        relation = Relation("main", row["name"], "v" if row["type"] == "view" else "r", definition=definition)
        infos = target.fetch_all("SELECT name, type, pk FROM pragma_table_info(?)", (row["name"],))
        keys = [info for info in infos if info["pk"]]
        rowid_table = "WITHOUT ROWID" not in " ".join((row["sql"] or "").upper().split())
        for info in infos:
            alias = rowid_table and len(keys) == 1 and info is keys[0] and (info["type"] or "").upper() == "INTEGER"
            # a WITHOUT ROWID table's index entries end with its PRIMARY KEY columns instead
            relation.columns[info["name"]] = Column(info["name"], info["type"] or "", True, rowid=alias or (not rowid_table and bool(info["pk"])))
        if relation.kind == "r":
            quoted = row["name"].replace('"', '""')
            relation.rows = float(target.fetch_value(f'SELECT count(*) FROM "{quoted}"') or 0)
        relations[relation.key] = relation
    return Catalog("sqlite", relations, ["main"], _users_indexes(collect_indexes(target)))


def _users_indexes(indexes: list[IndexInfo]) -> list[IndexInfo]:
    """Existing indexes without the ones qprof built (a leftover of a killed run is not the
    user's: the advisor must still propose that index, and never a drop of it)."""
    from qprof.advise.ddl import is_build_name

    return [index for index in indexes if not is_build_name(index.name)]


def _sqlite_view_body(create_sql: str) -> str | None:
    """The SELECT of a ``CREATE VIEW … AS SELECT``, read by sqlglot."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(create_sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return None
    body = tree.expression if isinstance(tree, exp.Create) else None
    return body.sql("sqlite") if body is not None else None
