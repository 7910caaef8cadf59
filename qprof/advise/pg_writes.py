"""What a statement reads and writes, as PostgreSQL's own parser (pglast) reads it.

For the statements qprof's SQL analyzer (sqlglot) cannot read but PostgreSQL accepts: no index
is derived for them, but the advisor's write-load model (:func:`qprof.advise.selection.write_loads`)
must still see the rows they insert and the columns they update — an ``INSERT … SELECT`` that
loads ``events`` makes every index on ``events`` cost more whether or not sqlglot can parse it.
Names come out of the parser folded as PostgreSQL folds them, so they are looked up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qprof.advise.catalog import CATALOG_SCHEMAS, Catalog
from qprof.errors import BadInput

_WRITES = ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt")
_KINDS = {"SelectStmt": "select", "InsertStmt": "insert", "UpdateStmt": "update", "DeleteStmt": "delete", "MergeStmt": "merge"}

# What sqlglot says when it cannot read a text (sqltext.parse, the Analyzer's scope resolution).
SQLGLOT_FAILURES = ("cannot parse SQL", "cannot tokenize SQL", "cannot resolve the statement's scopes")

Name = tuple[str | None, str]  # (schema as written or None, relation name), folded by the parser


@dataclass(frozen=True)
class PgStatement:
    """One statement's tables by role, names as written (not yet resolved against a catalog)."""

    kind: str  # select, insert, update, delete, merge
    reads: frozenset[Name]
    inserts_into: frozenset[Name]
    updated_columns: dict[Name, frozenset[str]] = field(default_factory=dict)
    deletes_from: frozenset[Name] = frozenset()

    @property
    def modifying(self) -> bool:
        return bool(self.inserts_into or self.updated_columns or self.deletes_from) or self.kind != "select"


@dataclass(frozen=True)
class PgWrites:
    """A statement's tables resolved against the catalog: what :class:`StatementAnalysis` needs."""

    kind: str
    tables: frozenset[tuple[str, str]]
    inserts_into: frozenset[tuple[str, str]]
    updated_columns: dict[tuple[str, str], frozenset[str]]
    reads: frozenset[tuple[str, str]] = frozenset()
    missing: tuple[str, ...] = ()

    def reason(self, cause: str = "") -> str:
        """The one line a skipped statement gets: why no index, and that its writes still count."""
        from qprof.pgtext import NOT_ANALYZED

        if not self.reads:
            return f"{self.kind} statement reading no table: nothing to index"  # an INSERT … SELECT FROM generate_series
        written = sorted(self.inserts_into | set(self.updated_columns))
        counted = f"; its writes to {', '.join(f'{s}.{n}' for s, n in written)} are counted" if written else ""
        return NOT_ANALYZED + (f" ({cause})" if cause else "") + counted


class NotAnalyzed(BadInput):
    """A statement PostgreSQL parses and qprof's SQL analyzer cannot: skipped for indexing with
    ``message``, while ``writes`` still feed the advisor's write-load model."""

    def __init__(self, writes: PgWrites, cause: str = "") -> None:
        super().__init__(writes.reason(cause))
        self.writes = writes
        self.analysis: Any = None  # the StatementAnalysis the Analyzer makes of ``writes`` (no indexable use)


def postgres_reading(sql: str, catalog: Catalog, failure: BadInput) -> NotAnalyzed | None:
    """For a statement sqlglot failed on (``failure``): what PostgreSQL's parser reads in it, as
    the exception to skip it with; None when the failure is not sqlglot's or PostgreSQL rejects
    the text too (the original error stands). A utility statement or a missing table raises
    the same BadInput the analyzer gives them."""
    if catalog.engine != "postgresql" or not failure.message.startswith(SQLGLOT_FAILURES):
        return None
    statement = read_statement(sql)
    if statement is None:
        from qprof.pgtext import statement_kind

        if (statement_kind(sql) or ("",))[0] == "utility":
            raise BadInput("utility statement: nothing to index")
        return None
    writes = resolve(statement, catalog)
    if writes.missing:
        raise BadInput(f"table missing: {', '.join(writes.missing)}")
    # qprof's own words for why (not sqlglot's error text): thousands of nested parentheses
    return NotAnalyzed(writes, "it nests too deeply" if "nests too deeply" in failure.message else "")


def read_statement(sql: str) -> PgStatement | None:
    """The tables one query or DML statement reads, inserts into, updates (with the columns SET)
    and deletes from, also in CTEs; None when PostgreSQL's parser rejects the text, it holds
    several statements, or it is a utility statement (DDL, SET, COPY …)."""
    from qprof.pgtext import parse_tree, walk_tree

    tree = parse_tree(sql)
    if tree is None or len(tree.get("stmts", [])) != 1:
        return None
    top = tree["stmts"][0].get("stmt", {})
    kind = next((label for key, label in _KINDS.items() if key in top), None)
    if kind is None:
        return None
    nodes = list(walk_tree(top))
    ctes = {node["CommonTableExpr"].get("ctename") for node in nodes if "CommonTableExpr" in node}
    inserts: set[Name] = set()
    updated: dict[Name, set[str]] = {}
    deletes: set[Name] = set()
    for node in nodes:
        for key in _WRITES:
            write = node.get(key)
            if not isinstance(write, dict) or not isinstance(write.get("relation"), dict):
                continue
            name = _name(write["relation"])  # a bare RangeVar, not a {"RangeVar": …} node: never among the reads
            if key == "InsertStmt":
                inserts.add(name)
            elif key == "UpdateStmt":
                updated.setdefault(name, set()).update(_set_columns(write.get("targetList")))
            elif key == "DeleteStmt":
                deletes.add(name)
            else:
                _merge(write, name, inserts, updated, deletes)
    reads = {
        _name(node["RangeVar"])
        for node in nodes
        if isinstance(node.get("RangeVar"), dict) and not (node["RangeVar"].get("schemaname") is None and node["RangeVar"].get("relname") in ctes)
    }
    return PgStatement(kind, frozenset(reads), frozenset(inserts), {k: frozenset(v) for k, v in updated.items()}, frozenset(deletes))


def resolve(statement: PgStatement, catalog: Catalog) -> PgWrites:
    """Names → catalog keys (the search path for unqualified ones); catalog tables (``pg_*``,
    ``information_schema``) are left out, names the catalog lacks are listed as missing."""
    keys: dict[Name, tuple[str, str]] = {}
    missing: list[str] = []
    everything = statement.reads | statement.inserts_into | set(statement.updated_columns) | statement.deletes_from
    for name in sorted(everything, key=lambda n: (n[0] or "", n[1])):
        schema, relation_name = name
        if _is_catalog(schema, relation_name):
            continue
        relation = catalog.lookup(schema, relation_name)
        if relation is None:
            missing.append(f"{schema}.{relation_name}" if schema else relation_name)
        else:
            keys[name] = relation.key
    updated: dict[tuple[str, str], set[str]] = {}
    for name, columns in statement.updated_columns.items():
        if name in keys:
            updated.setdefault(keys[name], set()).update(columns)
    return PgWrites(
        kind=statement.kind,
        tables=frozenset(keys.values()),
        inserts_into=frozenset(keys[name] for name in statement.inserts_into if name in keys),
        updated_columns={key: frozenset(columns) for key, columns in updated.items()},
        reads=frozenset(keys[name] for name in statement.reads if name in keys),
        missing=tuple(missing),
    )


def _merge(merge: dict, name: Name, inserts: set[Name], updated: dict[Name, set[str]], deletes: set[Name]) -> None:
    """MERGE's WHEN clauses: UPDATE SET columns, INSERT, DELETE on its target."""
    for clause in merge.get("mergeWhenClauses") or []:
        when = clause.get("MergeWhenClause", {}) if isinstance(clause, dict) else {}
        command = when.get("commandType")
        if command == "CMD_UPDATE":
            updated.setdefault(name, set()).update(_set_columns(when.get("targetList")))
        elif command == "CMD_INSERT":
            inserts.add(name)
        elif command == "CMD_DELETE":
            deletes.add(name)


def _set_columns(target_list: Any) -> set[str]:
    """The columns an UPDATE's SET assigns (``SET (a, b) = (…)`` names each; ``SET a.f = …`` assigns a)."""
    return {item["ResTarget"]["name"] for item in target_list or [] if isinstance(item, dict) and item.get("ResTarget", {}).get("name")}


def _name(range_var: dict) -> Name:
    return (range_var.get("schemaname"), range_var.get("relname", ""))


def _is_catalog(schema: str | None, name: str) -> bool:
    return schema in CATALOG_SCHEMAS or (schema is None and name.startswith("pg_"))
