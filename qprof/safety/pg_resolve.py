"""PostgreSQL: every function a statement may call, resolved in the catalog and judged.

The statement's parse tree (:mod:`qprof.safety.pg_calls`) names functions, operators and
relations. For each relation ``sql/relations.sql`` returns what using it runs — a view's
definition and other rules (followed recursively), row-level security policies, and for the
tables it writes CHECK constraints and user triggers, for those it inserts into column defaults
(``nextval`` of serial columns) and identity columns, and a foreign table's handler. Those
expressions are parsed the same way, because functions built into PostgreSQL have no pg_depend
rows. ``sql/types.sql`` adds what the types reached run without being named (operators,
operator-class support, casts, I/O of user types; user casts; domain CHECKs and defaults).
``sql/functions.sql`` then turns every name into its ``pg_proc`` rows: every overload of a name
(the worst one decides, as qprof does not type the arguments), an aggregate's support functions.
The deny-list (:func:`qprof.safety.allowlist.denied_reason`) is checked before volatility; a
catalog that cannot be read refuses execution (fail closed).
"""

from __future__ import annotations

from typing import Any

from qprof.safety.allowlist import denied_reason, harmless, why_refused
from qprof.safety.verdict import CalledFunction, Verdict
from qprof.sqlfiles import load_sql

_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
FIRST_NORMAL_OID = 16384  # objects below it come with PostgreSQL itself
MAX_DEPTH = 16  # views on views on views …: PostgreSQL itself has no limit, qprof stops here


def _named_parts(items: list[str]) -> list[tuple[str, str]]:
    """``name=expression`` strings from relations.sql as pairs."""
    return [tuple(item.split("=", 1)) for item in items if "=" in item]  # type: ignore[misc]


def _expand_relations(target: Any, calls: Any, oids: list[tuple[int, str]], problems: list[tuple[str, str]]) -> list[CalledFunction]:
    """Follow the relations ``calls`` names (growing it) until nothing new is reached."""
    from pglast.parser import ParseError

    from qprof.safety.pg_calls import READ, WRITE, statement_calls

    done: dict[Any, int] = {}
    identities: list[CalledFunction] = []
    for _ in range(MAX_DEPTH):
        todo = {key: mode for key, mode in calls.relations.items() if done.get(key, -1) < mode}
        if not todo:
            break
        done.update(todo)
        rows = target.fetch_all(
            load_sql("qprof.safety", "relations.sql"),
            {"relations": list(todo), "modes": list(todo.values())},
            what="reading what the statement's relations run",
        )
        for row in rows:
            relation, mode = row["relation"], row["mode"]
            texts: list[tuple[str, str, int]] = []  # (sql, route, mode of what it reads)
            if row["view_sql"]:
                texts.append((row["view_sql"], f"view {relation}", mode))
            texts += [(rule, f"rule on {relation}", READ) for rule in row["rules"]]
            texts += [(f"SELECT {expr}", f"default of {relation}.{column}", READ) for column, expr in _named_parts(row["defaults"])]
            texts += [(f"SELECT {expr}", f"check {name} on {relation}", READ) for name, expr in _named_parts(row["checks"])]
            texts += [(f"SELECT {expr}", f"policy {name} on {relation}", READ) for name, expr in _named_parts(row["policies"]) if expr]
            for text, via, reads in texts:
                try:
                    statement_calls(text, via, into=calls, mode=reads)
                except ParseError as exc:
                    problems.append((f"the {via} cannot be read ({exc}), so what it calls is unknown", ""))
            oids += [(oid, f"trigger {name} on {relation}") for oid, name in zip(row["trigger_functions"], row["trigger_names"], strict=True)]
            for definition in row["trigger_whens"]:
                _trigger_when(definition, relation, calls, problems)
            # reads and writes through a parent reach its partitions/children: their foreign tables,
            # policies, and (written) triggers
            for child in row["children"]:
                calls.use_regclass(child, mode)
            # foreign keys that act on the referencing rows: CASCADE/SET NULL write them, SET DEFAULT
            # writes their defaults (and, transitively, whatever those tables' own keys do)
            for referencing, how in zip(row["referencing"], row["referencing_modes"], strict=True):
                calls.use_regclass(referencing, how)
            if row["foreign_handler"]:
                # a read too: the remote side may be a view calling anything, on its own connection
                read = "" if mode >= WRITE else " (read: the remote table may be a view that calls anything)"
                oids.append((row["foreign_handler"], f"foreign table {relation}{read}"))
            identities += [CalledFunction("pg_catalog", "nextval", "volatile", via=f"identity column {relation}.{column}") for column in row["identities"]]
    else:
        problems.append((f"views nest deeper than {MAX_DEPTH} levels; what the innermost call is unknown", ""))
    return identities


def _trigger_when(definition: str, relation: str, calls: Any, problems: list[tuple[str, str]]) -> None:
    """What a trigger's ``WHEN (…)`` calls, read from its CREATE TRIGGER text."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    from qprof.safety.pg_calls import READ, statement_calls

    try:
        stmt = parse_sql(definition)[0].stmt
        statement_calls(stmt.whenClause, f"WHEN of trigger {stmt.trigname} on {relation}", into=calls, mode=READ)
    except (ParseError, AttributeError, IndexError) as exc:
        problems.append((f"a trigger on {relation} has a WHEN clause qprof cannot read ({exc})", ""))


def _expand_types(target: Any, calls: Any, type_oids: list[int], oids: list[tuple[int, str]], problems: list[tuple[str, str]]) -> bool:
    """Add what the touched types run (operators, operator classes, casts, I/O, domain CHECKs and
    defaults); True when domain expressions named something new to resolve."""
    from pglast.parser import ParseError

    from qprof.safety.pg_calls import INSERT, READ, statement_calls

    rows = target.fetch_all(
        load_sql("qprof.safety", "types.sql"),
        {"relations": list(calls.relations), "type_names": sorted(calls.types), "type_oids": type_oids},
        what="reading what the statement's types run",
    )
    before = (len(calls.functions), len(calls.operators), len(calls.types))
    for row in rows:
        oids += [(oid, via) for oid, via in zip(row["procs"], row["proc_via"], strict=True)]
        texts = [(expr, f"check of domain {name}") for name, expr in _named_parts(row["checks"])]
        if any(mode >= INSERT for mode in calls.relations.values()):
            texts += [(expr, f"default of domain {name}") for name, expr in _named_parts(row["defaults"])]
        for expr, via in texts:
            try:
                statement_calls(f"SELECT {expr}", via, into=calls, mode=READ)
            except ParseError as exc:
                problems.append((f"the {via} cannot be read ({exc}), so what it calls is unknown", ""))
    return (len(calls.functions), len(calls.operators), len(calls.types)) != before


def _lookup(target: Any, calls: Any, oids: list[tuple[int, str]]) -> list[dict[str, Any]]:
    names = sorted(calls.functions.items(), key=lambda item: str(item[0]))
    operators = sorted(calls.operators.items())
    return target.fetch_all(
        load_sql("qprof.safety", "functions.sql"),
        {
            "func_schemas": [n.schema for n, _ in names],
            "func_names": [n.name for n, _ in names],
            "func_via": [via for _, via in names],
            "operators": [op for op, _ in operators],
            "operator_via": [via for _, via in operators],
            "attributes": sorted(calls.attributes),
            "oids": [oid for oid, _ in oids],
            "oid_via": [via for _, via in oids],
        },
        what="resolving the functions the statement calls",
    )


def resolve_functions(target: Any, sql: str) -> tuple[list[CalledFunction], list[tuple[str, str]]]:
    """The functions ``sql`` may call on ``target``, and the problems met on the way
    (unreadable text, non-local ``set_config``, unknown function names) as (reason, the name
    ``--allow-function`` takes for it, "" when none)."""
    from pglast.parser import ParseError

    from qprof.safety.pg_calls import statement_calls

    try:
        calls = statement_calls(sql)
    except ParseError as exc:
        return [], [(f"PostgreSQL's parser cannot read it ({exc}), so the functions it calls are unknown", "")]
    problems: list[tuple[str, str]] = [(reason, "") for reason in calls.refused]
    oids: list[tuple[int, str]] = []
    found = _expand_relations(target, calls, oids, problems)
    # Types: those of the columns and casts first; then the argument and result types of the
    # functions found, until a round adds nothing (domain CHECKs may name new functions).
    type_oids: set[int] = set()
    rows: list[dict[str, Any]] = []
    for _ in range(MAX_DEPTH):
        changed = _expand_types(target, calls, sorted(type_oids), oids, problems)
        rows = _lookup(target, calls, oids)
        new = {oid for row in rows for oid in row["types"] if oid >= FIRST_NORMAL_OID} - type_oids
        if not new and not changed:
            break
        type_oids |= new
    else:
        problems.append((f"types lead to types more than {MAX_DEPTH} levels deep; what they run is unknown", ""))
    problems += [(f"set_config({setting!r}, …, false) changes the session beyond the rollback", "set_config") for setting in calls.session_settings]
    found += [
        CalledFunction(
            schema=row["schema"],
            name=row["name"],
            volatility=_VOLATILITY.get(row["volatility"], "unknown"),
            via=row["via"],
            owner=row["owner"],
            extension=row["extension"],
            arguments=row["arguments"],
            first_on_path=bool(row["first_on_path"]),
        )
        for row in rows
    ]
    seen = {(f.schema, f.name) for f in found} | {(None, f.name) for f in found}
    for name, via in calls.functions.items():
        if (name.schema, name.name) not in seen:
            where = "" if via == "called" else f" (via {via})"
            problems.append((f"{name}{where} is not a function this role can see, so what it does is unknown", str(name)))
    return found, problems


def _allowed(function: CalledFunction, allowed: frozenset[str]) -> bool:
    """``schema.name`` allows that function; a bare name the pg_catalog one, or the one an
    unqualified call reaches first on the search path — never a same-named function elsewhere."""
    if function.qualified.lower() in allowed:
        return True
    return function.name.lower() in allowed and (function.schema == "pg_catalog" or function.first_on_path)


def postgres_verdict(target: Any, sql: str, allowed: frozenset[str]) -> Verdict:
    """Execute only when every function is immutable/stable, harmless, or named in ``allowed``;
    the deny-list (SQL run from a string, transaction ids) is checked before volatility."""
    from qprof.errors import QprofError

    try:
        functions, problems = resolve_functions(target, sql)
    except QprofError as exc:  # fail closed: without the catalog, nothing is known to be harmless
        return Verdict(False, (f"what it calls could not be read from the catalog ({exc.message})",))
    reasons: list[str] = []
    blocking: list[str] = []
    for problem, name in problems:
        if name and (name.lower() in allowed or ("." not in name and f"pg_catalog.{name}".lower() in allowed)):
            continue
        reasons.append(problem)
        blocking.append(name)
    seen: set[tuple[str, str | None, str]] = set()
    for function in functions:
        key = (function.name, function.schema, function.via)
        denied = denied_reason(function.schema, function.name, function.arguments)
        if key in seen or (denied is None and harmless(function.schema, function.name, function.volatility, function.extension)):
            continue
        seen.add(key)
        if _allowed(function, allowed):
            continue
        reasons.append(f"{function.describe()}: {denied or why_refused(function.name)}")
        blocking.append(function.name if function.schema == "pg_catalog" else function.qualified)
    return Verdict(not reasons, tuple(reasons), tuple(name for name in dict.fromkeys(blocking) if name))
