"""Index candidates from the parsed workload (sqlglot, PostgreSQL and SQLite dialects).

Each statement is read scope by scope: every column reference is followed through aliases,
derived tables, CTEs and views down to the base table it comes from (a ``MATERIALIZED`` CTE is
an optimisation fence, so predicates outside it do not reach its tables). Per table we collect
the *indexable* uses — equality/IN/IS NULL, ranges, join keys, ORDER BY (ordinals, select-list
aliases and per-key directions resolved) and GROUP BY — and turn them into B-tree shapes of up
to three columns: equality columns first, then one range column or the sort keys.

Candidates an existing valid index already serves (the candidate is a leading prefix of it)
are dropped, as are shapes on columns whose type has no B-tree operator class.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from qprof import sqltext
from qprof.advise.catalog import CATALOG_SCHEMAS, Catalog, Relation
from qprof.errors import BadInput
from qprof.model import IndexInfo

MAX_COLUMNS = 3
MAX_EQUALITY = 4  # equality columns considered per table use (permutations grow fast)
MAX_VIEW_DEPTH = 8
MAX_INCLUDE = 4  # INCLUDE columns of a covering candidate
MAX_INCLUDE_WIDTH = 256  # bytes (pg_stats avg_width): wider columns risk B-tree's ~2.7 kB tuple limit
# Column resolutions one statement may need before it is skipped as too complex (each is memoized;
# ordinary statements need tens to a few thousand, TPC-DS's largest about ten thousand).
MAX_RESOLUTIONS = 200_000


@dataclass(frozen=True, order=True)
class Key:
    """One key column of a candidate index."""

    column: str
    descending: bool = False

    def label(self) -> str:
        return self.column + (" DESC" if self.descending else "")


@dataclass(frozen=True, order=True)
class Candidate:
    """A B-tree index shape on one table: ``schema.table (keys…) [INCLUDE (…)]``.

    ``include`` holds non-key columns (PostgreSQL 11+ ``INCLUDE``) that let the statements read
    everything they need from the index alone (index-only scans); it is sorted, so the same
    covering shape is always the same candidate.
    """

    schema: str
    table: str
    keys: tuple[Key, ...]
    include: tuple[str, ...] = ()

    @property
    def table_key(self) -> tuple[str, str]:
        return (self.schema, self.table)

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def columns(self) -> list[str]:
        return [key.label() for key in self.keys]

    @property
    def all_columns(self) -> list[str]:
        """Every column the index stores (keys and INCLUDE columns)."""
        return [key.column for key in self.keys] + list(self.include)

    def prefix(self, length: int) -> Candidate:
        return Candidate(self.schema, self.table, self.keys[:length])

    def extended(self, key: Key) -> Candidate:
        return Candidate(self.schema, self.table, (*self.keys, key))

    def without_include(self) -> Candidate:
        return Candidate(self.schema, self.table, self.keys)

    def is_prefix_of(self, other: Candidate) -> bool:
        """``other`` serves every lookup this one serves (and stores at least its INCLUDE columns)."""
        if self.table_key != other.table_key or other.keys[: len(self.keys)] != self.keys:
            return False
        return set(self.include) <= set(other.all_columns)

    def __str__(self) -> str:
        covering = f" INCLUDE ({', '.join(self.include)})" if self.include else ""
        return f"{self.qualified_table}({', '.join(self.columns)}){covering}"


@dataclass
class TableUse:
    """How one occurrence of a table in a statement could use an index."""

    relation: Relation
    equality: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    sort: list[Key] = field(default_factory=list)
    group: list[str] = field(default_factory=list)
    reads: set[str] = field(default_factory=set)  # every column the statement reads from it
    star: bool = False  # ``*`` / ``t.*`` (or UPDATE/DELETE): no index can cover it

    def add(self, bucket: list[str], column: str) -> None:
        if column not in bucket:
            bucket.append(column)

    @property
    def empty(self) -> bool:
        return not (self.equality or self.ranges or self.joins or self.sort or self.group)


@dataclass
class StatementAnalysis:
    """The tables a statement reads or writes and the indexable uses found on them."""

    tables: set[tuple[str, str]]
    uses: list[TableUse]
    updated_columns: dict[tuple[str, str], set[str]]  # UPDATE … SET columns (HOT matters)
    inserts_into: set[tuple[str, str]]
    kind: str
    deletes_from: set[tuple[str, str]] = field(default_factory=set)  # DELETE's target (its index entries go)


class _Source:
    """A base table occurrence in a statement (instances of the same table stay distinct)."""

    def __init__(self, relation: Relation) -> None:
        self.relation = relation
        self.use = TableUse(relation)


class Analyzer:
    """Resolves one statement against the catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.dialect = sqltext.DIALECTS[catalog.engine]
        self._sources: dict[int, _Source] = {}  # id(exp.Table) -> source
        self.missing: list[str] = []
        self.saw_catalog = False
        self.tables: set[tuple[str, str]] = set()
        # Each (scope, qualifier, name) and (scope, source, name) is resolved once: a CTE joined to
        # itself whose body nests subqueries would otherwise be walked again per path (exponential).
        self._memo: dict[tuple, tuple[_Source, str] | None] = {}
        self.work = 0

    def _folded(self, tree: exp.Expression) -> exp.Expression:
        """PostgreSQL folds unquoted identifiers to lower case (``Customer_ID`` is ``customer_id``,
        ``"Customer_ID"`` is not): fold them the same way before names are compared."""
        if self.catalog.engine != "postgresql":
            return tree
        from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

        return normalize_identifiers(tree, dialect=self.dialect)

    # -- entry point ---------------------------------------------------------------------------
    def analyze(self, sql: str) -> StatementAnalysis:
        try:
            return self._analyze(sql)
        except RecursionError:  # an ORM's OR chain of thousands of terms, deep nesting: skip, never crash
            raise BadInput("statement nests too deeply to analyze") from None
        except BadInput as exc:
            # text sqlglot cannot read but PostgreSQL can: skipped with one line, its writes still counted
            from qprof.advise.pg_writes import postgres_reading

            instead = postgres_reading(sql, self.catalog, exc)
            if instead is None:
                raise
            writes = instead.writes
            updated = {table: set(columns) for table, columns in writes.updated_columns.items()}
            instead.analysis = StatementAnalysis(set(writes.tables), [], updated, set(writes.inserts_into), writes.kind)
            raise instead from None

    def _analyze(self, sql: str) -> StatementAnalysis:
        tree = self._folded(sqltext.parse(sql, self.catalog.engine).copy())
        if not sqltext.is_query(tree):
            raise BadInput(f"{sqltext.statement_kind(tree)} statement: nothing to index")
        kind = sqltext.statement_kind(tree)
        updated: dict[tuple[str, str], set[str]] = {}
        inserts: set[tuple[str, str]] = set()
        deletes: set[tuple[str, str]] = set()
        tree = self._dml_as_select(tree, updated, inserts, deletes)
        self._expand_views(tree, 0)
        self._bind_tables(tree)
        if self.missing:
            raise BadInput(f"table missing: {', '.join(sorted(set(self.missing)))}")
        if not self.tables and not inserts:
            raise BadInput("only catalog tables" if self.saw_catalog else "no tables")
        try:
            scopes = traverse_scope(tree) if tree is not None else []
        except Exception as exc:  # noqa: BLE001 - sqlglot raises OptimizeError and friends on odd shapes
            raise BadInput(f"cannot resolve the statement's scopes: {exc}") from None
        for scope in scopes:
            self._scope(scope)
        uses = [source.use for source in self._sources.values() if not source.use.empty]
        return StatementAnalysis(set(self.tables) | inserts, uses, updated, inserts, kind, deletes)

    # -- preparation ---------------------------------------------------------------------------
    def _dml_as_select(self, tree: exp.Expression, updated: dict, inserts: set, deletes: set) -> exp.Expression | None:
        """UPDATE/DELETE find their rows like ``SELECT … FROM target WHERE …``; INSERT … SELECT reads its query."""
        if isinstance(tree, exp.Update):
            table = tree.this
            relation = self._relation_of(table) if isinstance(table, exp.Table) else None
            if relation is not None:
                columns = set()
                for assignment in tree.expressions:
                    if isinstance(assignment, exp.EQ) and isinstance(assignment.this, exp.Column):
                        columns.add(assignment.this.name)
                updated[self._index_target(relation).key] = columns
            select = exp.select("*").from_(table.copy())
            if tree.args.get("from"):
                for source in tree.args["from"].find_all(exp.Table):
                    select = select.join(source.copy())
            where = tree.args.get("where")
            if where is not None:
                select = select.where(where.this.copy())
            return self._with(tree, select)
        if isinstance(tree, exp.Delete):
            table = tree.this
            relation = self._relation_of(table) if isinstance(table, exp.Table) else None
            if relation is not None:
                deletes.add(self._index_target(relation).key)
            select = exp.select("*").from_(table.copy())
            for source in tree.args.get("using") or []:
                select = select.join(source.copy())
            where = tree.args.get("where")
            if where is not None:
                select = select.where(where.this.copy())
            return self._with(tree, select)
        if isinstance(tree, exp.Insert):
            target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            if isinstance(target, exp.Table):
                relation = self._relation_of(target)
                if relation is not None:
                    inserts.add(self._index_target(relation).key)
            query = tree.expression
            if isinstance(query, exp.Query):
                return self._with(tree, query.copy())
            return None
        return tree

    @staticmethod
    def _with(original: exp.Expression, select: exp.Expression) -> exp.Expression:
        with_ = original.args.get("with_") or original.args.get("with")
        if with_ is not None and isinstance(select, exp.Query):
            select.set("with_" if "with_" in select.arg_types else "with", with_.copy())
        return select

    def _expand_views(self, tree: exp.Expression | None, depth: int) -> None:
        """Replace each view reference by its definition as an aliased subquery."""
        if tree is None:
            return
        if depth > MAX_VIEW_DEPTH:
            raise BadInput("views nest too deeply")
        cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            if not table.name or (not table.db and table.name in cte_names):
                continue
            relation = self._relation_of(table)
            if relation is None or not relation.is_view or not relation.definition:
                continue
            try:
                body = self._folded(sqltext.parse(relation.definition, self.catalog.engine).copy())
            except BadInput:
                continue
            self._expand_views(body, depth + 1)
            alias = table.alias or table.name
            subquery = exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(alias)))
            table.replace(subquery)

    def _relation_of(self, table: exp.Table) -> Relation | None:
        name_ident = table.this if isinstance(table.this, exp.Identifier) else None
        if name_ident is None:
            return None
        db = table.args.get("db")
        return self.catalog.lookup(
            db.name if db is not None else None,
            name_ident.name,
            quoted_schema=bool(db is not None and db.quoted),
            quoted_name=bool(name_ident.quoted),
        )

    def _index_target(self, relation: Relation) -> Relation:
        """The relation an index for this occurrence goes on: the one the statement names. A
        statement that queries a partition directly gets its index on that partition; one that
        queries the partitioned parent gets it on the parent (and so on every partition)."""
        return relation

    def _bind_tables(self, tree: exp.Expression | None) -> None:
        if tree is None:
            return
        cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier):
                continue  # table functions: generate_series(…), unnest(…)
            if table.find_ancestor(exp.Lock) is not None:
                continue  # FOR UPDATE OF x / FOR KEY SHARE OF x names an alias, not a table
            if not table.db and table.name in cte_names:
                continue
            db = table.args.get("db")
            schema_name = db.name if db is not None else None
            if schema_name and (schema_name.lower() in CATALOG_SCHEMAS):
                self.saw_catalog = True
                continue
            relation = self._relation_of(table)
            if relation is None:
                if schema_name is None and (table.name.lower().startswith("pg_") or table.name.lower().startswith("sqlite_")):
                    self.saw_catalog = True
                    continue  # pg_class, pg_stat_activity, sqlite_master …: catalog
                self.missing.append(table.sql(self.dialect))
                continue
            if relation.is_view:
                continue  # a view without a parseable definition: nothing to follow
            target = self._index_target(relation)
            self._sources[id(table)] = _Source(target)
            self.tables.add(target.key)

    # -- resolution ----------------------------------------------------------------------------
    def _count(self) -> None:
        self.work += 1
        if self.work > MAX_RESOLUTIONS:
            raise BadInput(f"too complex to analyze: more than {MAX_RESOLUTIONS:,} column resolutions")

    def _resolve(self, scope: Scope, column: exp.Column, depth: int = 0) -> tuple[_Source, str] | None:
        """The base table occurrence and column name a column reference reads, or None."""
        if depth > 16:
            return None
        key = ("column", id(scope), column.table, column.name)
        if key not in self._memo:
            self._count()
            self._memo[key] = self._resolve_once(scope, column, depth)
        return self._memo[key]

    def _resolve_once(self, scope: Scope, column: exp.Column, depth: int) -> tuple[_Source, str] | None:
        name = column.name
        alias = column.table
        if alias:
            hit = self._find_source(scope, alias)
            if hit is None:
                return None
            owner, source = hit
            return self._through(owner, source, name, depth)
        # Unqualified: the one source in this scope (or an outer one) that has the column.
        current: Scope | None = scope
        while current is not None:
            matches = []
            for source in current.sources.values():
                found = self._through(current, source, name, depth)
                if found is not None:
                    matches.append(found)
            if len(matches) == 1:
                return matches[0]
            if matches:
                return None  # ambiguous
            current = current.parent
        return None

    def _find_source(self, scope: Scope, alias: str) -> tuple[Scope, object] | None:
        current: Scope | None = scope
        while current is not None:
            if alias in current.sources:
                return current, current.sources[alias]
            if not self.catalog.case_sensitive:
                for key, source in current.sources.items():
                    if key.lower() == alias.lower():
                        return current, source
            current = current.parent
        return None

    def _through(self, scope: Scope, source: object, name: str, depth: int) -> tuple[_Source, str] | None:
        key = ("source", id(scope), id(source), name)
        if key not in self._memo:
            self._count()
            self._memo[key] = self._through_once(scope, source, name, depth)
        return self._memo[key]

    def _through_once(self, scope: Scope, source: object, name: str, depth: int) -> tuple[_Source, str] | None:
        if isinstance(source, exp.Table):
            bound = self._sources.get(id(source))
            if bound is None:
                return None
            column = bound.relation.column(name, case_sensitive=self.catalog.case_sensitive)
            if column is None:
                return None
            return bound, column.name
        if isinstance(source, Scope):
            if _is_fenced(source):
                return None
            select = source.expression
            if not isinstance(select, exp.Select):
                return None
            for projection in select.selects:
                if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)):
                    qualifier = projection.table if isinstance(projection, exp.Column) else None
                    found = self._resolve(source, exp.column(name, qualifier or None), depth + 1)
                    if found is not None:
                        return found
                    continue
                if _same_name(projection.alias_or_name, name, self.catalog.case_sensitive):
                    inner = projection.unalias() if isinstance(projection, exp.Alias) else projection
                    if isinstance(inner, exp.Column):
                        return self._resolve(source, inner, depth + 1)
                    return None
        return None

    # -- uses ----------------------------------------------------------------------------------
    def _scope(self, scope: Scope) -> None:
        select = scope.expression
        if not isinstance(select, exp.Select):
            return
        conditions: list[exp.Expression] = []
        where = select.args.get("where")
        if where is not None:
            conditions.extend(_conjuncts(where.this))
        for join in select.args.get("joins") or []:
            on = join.args.get("on")
            if on is not None:
                conditions.extend(_conjuncts(on))
            for using in join.args.get("using") or []:
                self._using(scope, join, using)
        for condition in conditions:
            self._condition(scope, condition)
        self._order(scope, select)
        self._group(scope, select)
        self._reads(scope, select)

    def _reads(self, scope: Scope, select: exp.Select) -> None:
        """The columns each table occurrence must supply: what a covering index has to store."""
        for column in scope.columns:
            if isinstance(column.this, exp.Star):
                continue
            hit = self._resolve(scope, column)
            if hit is not None:
                hit[0].use.reads.add(hit[1])
        for projection in select.selects:
            if isinstance(projection, exp.Star):
                qualifier = None
            elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                qualifier = projection.table
            else:
                continue
            for alias, source in scope.sources.items():
                if qualifier and not _same_name(alias, qualifier, self.catalog.case_sensitive):
                    continue
                bound = self._sources.get(id(source)) if isinstance(source, exp.Table) else None
                if bound is not None:
                    bound.use.star = True

    def _column_of(self, scope: Scope, node: exp.Expression) -> tuple[_Source, str] | None:
        node = _strip(node)
        if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
            return self._resolve(scope, node)
        return None

    def _sources_in(self, scope: Scope, node: exp.Expression) -> set[int] | None:
        """Which table occurrences an expression reads; None when it reads an unresolvable column."""
        found: set[int] = set()
        for column in node.find_all(exp.Column):
            hit = self._resolve(scope, column)
            if hit is None:
                continue
            found.add(id(hit[0]))
        return found

    def _condition(self, scope: Scope, condition: exp.Expression) -> None:
        condition = _strip(condition)
        if isinstance(condition, (exp.EQ, exp.NullSafeEQ)):
            self._comparison(scope, condition.this, condition.expression, "equality")
        elif isinstance(condition, (exp.GT, exp.GTE, exp.LT, exp.LTE)):
            self._comparison(scope, condition.this, condition.expression, "ranges")
        elif isinstance(condition, exp.Between):
            hit = self._column_of(scope, condition.this)
            if hit and not self._reads_same(scope, hit[0], condition.args["low"], condition.args["high"]):
                hit[0].use.add(hit[0].use.ranges, hit[1])
        elif isinstance(condition, exp.In):
            hit = self._column_of(scope, condition.this)
            if hit:
                if condition.args.get("query") is not None:
                    hit[0].use.add(hit[0].use.joins, hit[1])
                elif not self._reads_same(scope, hit[0], *condition.expressions):
                    hit[0].use.add(hit[0].use.equality, hit[1])
        elif isinstance(condition, exp.Is):
            hit = self._column_of(scope, condition.this)
            if hit and isinstance(condition.expression, exp.Null):
                hit[0].use.add(hit[0].use.equality, hit[1])
        elif isinstance(condition, exp.Or):
            branches = [_strip(b) for b in _disjuncts(condition)]
            # PostgreSQL pulls a condition every branch has out of the OR (``(A AND B) OR (A AND C)``
            # is planned as ``A AND (B OR C)``, find_duplicate_ors): TPC-H q19's join key sits in
            # each of its three branches.
            for common in _common_conjuncts(branches):
                self._condition(scope, common)
            hits = []
            for branch in branches:
                if not isinstance(branch, (exp.EQ, exp.In)):
                    return
                hit = self._column_of(scope, branch.this)
                if hit is None:
                    return
                hits.append(hit)
            if len({(id(h[0]), h[1]) for h in hits}) == 1:
                hits[0][0].use.add(hits[0][0].use.equality, hits[0][1])

    def _reads_same(self, scope: Scope, source: _Source, *values: exp.Expression) -> bool:
        """Whether the value side reads the same table occurrence (``a = b + 1`` on one row)."""
        return any(id(source) in (self._sources_in(scope, value) or set()) for value in values if value is not None)

    def _comparison(self, scope: Scope, left: exp.Expression, right: exp.Expression, bucket: str) -> None:
        left_hit = self._column_of(scope, left)
        right_hit = self._column_of(scope, right)
        if left_hit and right_hit:
            if left_hit[0] is right_hit[0]:
                return  # a = b on the same row: no index helps
            for source, name in (left_hit, right_hit):
                source.use.add(source.use.joins if bucket == "equality" else source.use.ranges, name)
            return
        for hit, other in ((left_hit, right), (right_hit, left)):
            if hit is None:
                continue
            if self._reads_same(scope, hit[0], other):
                continue
            target = getattr(hit[0].use, bucket)
            if bucket == "equality" and (self._sources_in(scope, other) or set()):
                target = hit[0].use.joins  # a = b.x + 1: a join key computed from another table
            hit[0].use.add(target, hit[1])

    def _using(self, scope: Scope, join: exp.Join, using: exp.Expression) -> None:
        name = using.name
        for source in scope.sources.values():
            found = self._through(scope, source, name, 0)
            if found is not None:
                found[0].use.add(found[0].use.joins, found[1])

    def _select_item(self, select: exp.Select, node: exp.Expression) -> exp.Expression:
        """ORDER BY/GROUP BY items that are ordinals or select-list aliases, as the expression they name."""
        node = _strip(node)
        if isinstance(node, exp.Literal) and node.is_int:
            position = int(node.name)
            items = self._expanded_selects(select)
            if 1 <= position <= len(items):
                item = items[position - 1]
                return item.unalias() if isinstance(item, exp.Alias) else item
        if isinstance(node, exp.Column) and not node.table:
            for item in select.selects:
                if isinstance(item, exp.Alias) and _same_name(item.alias, node.name, self.catalog.case_sensitive):
                    return item.unalias()
        return node

    def _expanded_selects(self, select: exp.Select) -> list[exp.Expression]:
        """The select list with ``*`` / ``t.*`` expanded to the tables' columns in their order, so
        that ``SELECT * … ORDER BY 1`` sorts by the first column (as PostgreSQL and SQLite do).
        A star over anything but base tables stays unexpanded (its ordinals are then unknown)."""
        items: list[exp.Expression] = []
        for projection in select.selects:
            star = isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star))
            if not star:
                items.append(projection)
                continue
            qualifier = projection.table if isinstance(projection, exp.Column) else None
            from_ = select.args.get("from_") or select.args.get("from")  # the key's name varies by sqlglot version
            tables = [from_.this] if from_ is not None else []
            tables += [join.this for join in select.args.get("joins") or []]
            for table in tables:
                name = table.alias_or_name if isinstance(table, exp.Expression) else ""
                if qualifier and not _same_name(name, qualifier, self.catalog.case_sensitive):
                    continue
                bound = self._sources.get(id(table)) if isinstance(table, exp.Table) else None
                if bound is None:
                    return items + [projection]  # a derived table or function: stop expanding here
                items.extend(exp.column(column, name) for column in bound.relation.columns)
        return items

    def _order(self, scope: Scope, select: exp.Select) -> None:
        order = select.args.get("order")
        if order is None:
            return
        keys: list[tuple[_Source, Key]] = []
        for ordered in order.expressions:
            expression = self._select_item(select, ordered.this)
            hit = self._column_of(scope, expression)
            if hit is None:
                return  # an expression or another table: no single index provides this order
            keys.append((hit[0], Key(hit[1], bool(ordered.args.get("desc")))))
        owners = {id(source) for source, _ in keys}
        if len(owners) != 1:
            return
        source = keys[0][0]
        if not source.use.sort:
            source.use.sort = [key for _, key in keys][:MAX_COLUMNS]

    def _group(self, scope: Scope, select: exp.Select) -> None:
        group = select.args.get("group")
        if group is None:
            return
        for item in group.expressions:
            hit = self._column_of(scope, self._select_item(select, item))
            if hit is not None:
                hit[0].use.add(hit[0].use.group, hit[1])


def _same_name(a: str, b: str, case_sensitive: bool) -> bool:
    return a == b if case_sensitive else a.lower() == b.lower()


def _is_fenced(scope: Scope) -> bool:
    """A ``MATERIALIZED`` CTE is planned on its own: outer predicates do not reach its tables."""
    cte = scope.expression.parent
    return isinstance(cte, exp.CTE) and cte.args.get("materialized") is True


def _strip(node: exp.Expression) -> exp.Expression:
    """Parentheses and casts of the *value* side do not matter; a cast on a column does (see callers)."""
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    return _flatten(node, exp.And)


def _common_conjuncts(branches: list[exp.Expression]) -> list[exp.Expression]:
    """The conditions every branch of an OR is ANDed with (the first branch's nodes)."""
    if len(branches) < 2 or not all(isinstance(b, exp.And) for b in branches):
        return []
    first = {c.sql(): c for c in _conjuncts(branches[0])}
    common = set(first)
    for branch in branches[1:]:
        common &= {c.sql() for c in _conjuncts(branch)}
        if not common:
            return []
    return [first[text] for text in first if text in common]


def _disjuncts(node: exp.Expression) -> list[exp.Expression]:
    return _flatten(node, exp.Or)


def _flatten(node: exp.Expression, kind: type[exp.Expression]) -> list[exp.Expression]:
    """The operands of a chain of ``kind`` (AND/OR) in text order, without recursion: an ORM's
    ``a = 1 OR a = 2 OR …`` of thousands of terms is a tree that deep."""
    found, stack = [], [node]
    while stack:
        item = _strip(stack.pop())
        if isinstance(item, kind):
            stack.extend((item.expression, item.this))
        else:
            found.append(item)
    return found


# -- shapes ----------------------------------------------------------------------------------------
def minimal_directions(sort: list[Key]) -> list[Key]:
    """The sort keys in their minimal index form: a B-tree scans both ways, so only *mixed*
    directions need ``DESC`` (``ORDER BY a DESC`` and ``ORDER BY a, b`` both want ascending keys;
    ``ORDER BY a DESC, b`` wants ``(a, b DESC)``)."""
    if not sort:
        return sort
    flip = sort[0].descending
    return [Key(key.column, key.descending != flip) for key in sort]


def shapes(use: TableUse) -> set[tuple[Key, ...]]:
    """Column sequences worth an index for one table use (prefix-closed, ≤ 3 columns)."""
    equality = (use.equality + [c for c in use.joins if c not in use.equality])[:MAX_EQUALITY]
    found: set[tuple[Key, ...]] = set()
    heads: list[tuple[Key, ...]] = [()]
    for length in range(1, min(len(equality), MAX_COLUMNS) + 1):
        heads.extend(tuple(Key(c) for c in perm) for perm in itertools.permutations(equality, length))
    for head in heads:
        if head:
            found.add(head)
        used = {key.column for key in head}
        room = MAX_COLUMNS - len(head)
        if room <= 0:
            continue
        for column in use.ranges:
            if column not in used:
                found.add((*head, Key(column)))
        sort = minimal_directions([key for key in use.sort if key.column not in used][:room])
        if sort:
            found.add((*head, *sort[:room]))
        group = [Key(c) for c in use.group if c not in used]
        if group:
            found.add((*head, *group[:room]))
    closed: set[tuple[Key, ...]] = set()
    for shape in found:
        for length in range(1, len(shape) + 1):
            closed.add(shape[:length])
    return closed


def existing_serves(index: IndexInfo, candidate: Candidate) -> bool:
    """A valid, plain B-tree index whose leading keys are the candidate's keys (or all reversed)
    and that stores the candidate's INCLUDE columns too (as keys or INCLUDE columns)."""
    if not index.valid or index.predicate or index.method != "btree":
        return False
    if len(index.keys) < len(candidate.keys):
        return False
    leading = index.keys[: len(candidate.keys)]
    if any(k.opclass or k.collation for k in leading):
        return False
    names = [k.expression.strip('"') for k in leading]
    if names != [k.column for k in candidate.keys]:
        return False
    if candidate.include:
        stored = {k.expression.strip('"') for k in index.keys} | {c.strip('"') for c in index.include}
        if not set(candidate.include) <= stored:
            return False
    flags = [k.descending for k in leading]
    wanted = [k.descending for k in candidate.keys]
    return flags == wanted or flags == [not w for w in wanted]


def served(catalog: Catalog, candidate: Candidate) -> bool:
    return any(existing_serves(index, candidate) for index in catalog.indexes_on(*candidate.table_key))


def candidates_for(catalog: Catalog, analysis: StatementAnalysis) -> set[Candidate]:
    """Every index shape the statement could use, before removing those already served.

    On PostgreSQL 11+ each shape also comes as a covering variant: the other columns the
    statement reads from the table as ``INCLUDE`` columns, so an index-only scan can answer it
    (aggregates over many rows, join probes). Whether that pays for its extra bytes is left to
    the what-if costs and the selection.
    """
    result: set[Candidate] = set()
    for use in analysis.uses:
        relation = use.relation
        if relation.kind not in ("r", "p", "m"):
            continue
        key_shapes = shapes(use)
        for shape in key_shapes:
            if all(_indexable(relation, key.column) for key in shape):
                result.add(Candidate(relation.schema, relation.name, shape))
        if catalog.include_ok and not use.star and use.reads:
            for shape in key_shapes:
                covering = _covering(relation, use, shape)
                if covering is not None:
                    result.add(covering)
        elif catalog.engine == "sqlite" and not use.star and use.reads:
            result |= _sqlite_covering(relation, use, key_shapes)
    return result


def _sqlite_covering(relation: Relation, use: TableUse, key_shapes: set[tuple[Key, ...]]) -> set[Candidate]:
    """SQLite has no INCLUDE: a covering variant carries the other columns the statement reads as
    trailing keys (as the sqlite3 shell's ``.expert`` does), minus the rowid every index stores;
    within the same three-column limit as every other shape."""
    found = set()
    for shape in key_shapes:
        used = {key.column for key in shape}
        rest = sorted(c for c in use.reads - used if c in relation.columns and not relation.columns[c].rowid)
        if rest and len(shape) + len(rest) <= MAX_COLUMNS and all(_indexable(relation, c) for c in (*used, *rest)):
            found.add(Candidate(relation.schema, relation.name, (*shape, *(Key(c) for c in rest))))
    return found


def _covering(relation: Relation, use: TableUse, shape: tuple[Key, ...]) -> Candidate | None:
    """``shape`` plus INCLUDE of every other column the statement reads; None if it cannot cover."""
    if not all(_indexable(relation, key.column) for key in shape):
        return None
    rest = sorted(use.reads - {key.column for key in shape})
    if not rest or len(rest) > MAX_INCLUDE:
        return None
    for name in rest:
        column = relation.columns.get(name)
        if column is None or (column.avg_width or 0) > MAX_INCLUDE_WIDTH:
            return None
    return Candidate(relation.schema, relation.name, shape, tuple(rest))


def _indexable(relation: Relation, column: str) -> bool:
    info = relation.columns.get(column)
    return info is not None and info.btree_ok
