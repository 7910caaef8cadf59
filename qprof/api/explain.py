"""``qprof.explain``: a statement's plan with real timings, the parameter values used, and findings
(each statement through :func:`qprof.explainer.explain_item`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from typing import TYPE_CHECKING

from qprof.api.base import Result
from qprof.errors import BadInput, QprofError
from qprof.explainer import ExplainItem, Explained, explain_item, sqlite_table_rows
from qprof.targets.session import Database, session

if TYPE_CHECKING:
    from qprof.runner import Skipped
    from qprof.targets import Target


def items_from_inputs(
    target: Target,
    workload: str | None,
    sql: str | None,
    queryid: str | None,
    params: list[Any] | None,
    text: str | None = None,
    notes: list[str] | None = None,
) -> list[ExplainItem]:
    """The statements the inputs name: ``sql``, a workload (file, file:name), a queryid, or ``text``
    (SQL read from stdin, possibly several statements); rewrites said in ``notes``."""
    given = [x for x in (workload, sql, queryid) if x is not None]
    if len(given) > 1:
        raise BadInput("give one of: a workload file, --sql, --queryid (or SQL on stdin)")
    items = _items(target, workload, sql, queryid, params, text)
    return _plannable(items, notes if notes is not None else []) if target.engine == "postgresql" else items


def _plannable(items: list[ExplainItem], notes: list[str]) -> list[ExplainItem]:
    """pg_stat_statements/log text as PREPARE accepts it (``interval $3`` → ``$3::interval``, ``$70000`` → ``$1``)."""
    from qprof.pgtext import plannable

    for item in items:
        rewritten = plannable(item.sql)
        item.sql, item.params = rewritten.sql, rewritten.params(item.params)
        if rewritten.changes:
            notes.append(f"{item.name}: rewritten so PREPARE accepts it: {'; '.join(sorted(rewritten.changes))}")
    return items


def _items(
    target: Target,
    workload: str | None,
    sql: str | None,
    queryid: str | None,
    params: list[Any] | None,
    text: str | None,
) -> list[ExplainItem]:
    if sql is not None:
        return [_single("sql", sql, params, "--sql")]
    if queryid is not None:
        return [_from_queryid(target, queryid, params)]
    if workload is not None and workload != "-":
        from qprof.workload import load_workload

        statements = load_workload(workload)
        if params is not None and len(statements) > 1:
            raise BadInput("--params applies to one statement; name it as file.sql:name")
        return [ExplainItem(s.name, s.sql, params if params is not None else (list(s.params) or None), s.source, set(s.ignore)) for s in statements]
    if not (text or "").strip():
        raise BadInput(
            "nothing to explain",
            hint="qprof explain --sql 'SELECT …', qprof explain queries/shop.sql:orders_by_customer, qprof explain --queryid N, or pipe SQL on stdin",
        )
    from qprof.workload import parse_workload_text

    statements = parse_workload_text(text or "", "<stdin>")
    return [ExplainItem(s.name, s.sql, params if params is not None else (list(s.params) or None), "<stdin>", set(s.ignore)) for s in statements]


def parse_params(params_json: str | None) -> list[Any] | None:
    if params_json is None:
        return None
    try:
        values = json.loads(params_json)
    except json.JSONDecodeError as exc:
        raise BadInput(f"--params is not JSON: {exc.msg}", hint="e.g. --params '[42, \"active\"]'") from None
    if not isinstance(values, list):
        raise BadInput("--params must be a JSON array", hint="e.g. --params '[42, \"active\"]'")
    return values


def _single(name: str, sql: str, params: list[Any] | None, source: str) -> ExplainItem:
    from qprof.workload import split_statements

    pieces = split_statements(sql)
    if not pieces:
        raise BadInput("the SQL given is empty")
    if len(pieces) > 1:
        raise BadInput(f"{source} holds {len(pieces)} statements; explain one at a time")
    return ExplainItem(name, pieces[0], params, source)


def _from_queryid(target: Target, queryid: str, params: list[Any] | None) -> ExplainItem:
    if target.engine != "postgresql":
        raise BadInput("--queryid needs PostgreSQL's pg_stat_statements; SQLite keeps no statement statistics")
    if not queryid.lstrip("-").isdigit():
        raise BadInput(f"--queryid must be a number, got {queryid!r}")
    from qprof.collectors.pg_statements import collect_statements

    for stats in collect_statements(target):
        if stats.queryid == queryid:
            if not stats.text_visible:
                raise BadInput(
                    f"the text of queryid {queryid} belongs to another role",
                    hint="GRANT pg_read_all_stats TO <your role>;",
                )
            return _single(f"queryid {queryid}", stats.query, params, f"queryid {queryid}")
    raise BadInput(
        f"no statement with queryid {queryid} in pg_stat_statements of database {target.database_name!r}",
        hint="list them with: qprof top --format json | jq '.statements[].queryid'",
    )


def queryid_failure(item: ExplainItem, exc: QprofError) -> QprofError:
    """What failed on a pg_stat_statements entry, and what to try: its text has ``$n`` where the
    constants were, so the values are the part qprof may lack."""
    from qprof.sqltext import one_line

    text = item.sql  # already rewritten as PREPARE accepts it (see items_from_inputs)
    if "statements are not explained" in exc.message:
        return exc  # a utility statement: no values would help, its own hint says why
    if "does not exist" in exc.message and "relation" in exc.message:
        advice = "the statement's table is not in this database (dropped or renamed since pg_stat_statements recorded it?), or not on this role's search_path"
    else:
        advice = (
            "pg_stat_statements keeps the text with $n where the constants were — try it with literal values: "
            f"qprof explain --sql {one_line(text, 200)!r} (the $n replaced by real values), "
            "or give them with --params '[…]'"
        )
    return type(exc)(f"{item.name} could not be explained: {exc.message}", hint=(exc.hint + "; " if exc.hint else "") + advice)


@dataclass
class ExplainResult(Result):
    """What :func:`explain` returns; ``to_dict()`` is ``qprof explain --format json``."""

    target: str
    statements: list[Explained]
    skipped: list[Skipped]
    notes: list[str] = field(default_factory=list)  # inputs rewritten so PREPARE accepts them

    def document(self) -> dict[str, Any]:
        return {"target": self.target, "statements": [d.to_dict() for d in self.statements], "skipped": [s.to_dict() for s in self.skipped]}

    def warnings(self, runs: int = 0) -> list[str]:
        """What a person should hear about besides the plans: rule errors, statements not executed."""
        lines = []
        for result in self.statements:
            lines += result.rule_errors
            if result.not_executed is not None:
                lines.append(f"{result.item.name}: not executed: {result.not_executed.message()}")
            elif runs and result.timing is None:
                lines.append(f"{result.item.name}: --runs skipped, the parameter values are unknown (generic plan)")
        return lines


def explain(
    db: Database = None,
    *,
    sql: str | None = None,
    workload: str | None = None,
    queryid: str | int | None = None,
    params: Sequence[Any] | None = None,
    text: str | None = None,
    analyze: bool = True,
    runs: int = 0,
    select: str | Sequence[str] | None = None,
    ignore: str | Sequence[str] | None = None,
    profile: str | None = None,
    statement_timeout: str | float = "30s",
    allow_functions: str | Sequence[str] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> ExplainResult:
    """Plan one or more statements with real timings and run the plan rules on them.

    Give one of ``sql`` (one statement), ``workload`` (file, folder or ``file.sql:name``),
    ``queryid`` (a pg_stat_statements entry) or ``text`` (SQL, several statements allowed; what
    ``workload="-"`` reads).
    ``params`` are the values for ``$1..$n`` (default: inferred from the data, else a generic plan);
    ``runs`` > 0 also times the statement after one warm-up. Read-only statements run read-only,
    DML in a transaction that is rolled back; a statement that could act outside it gets a plain
    EXPLAIN (``not_executed``) unless ``allow_functions`` names the function.

    One statement that fails raises :class:`qprof.errors.QprofError`; of several, the failures
    are listed in ``skipped``.
    """
    from qprof.arguments import at_least, several
    from qprof.config import load_config
    from qprof.advisors.config import load_rules_config
    from qprof.runner import Skipped

    at_least("--runs", runs, 0, "0 plans without timing")
    config = load_config()
    rules = load_rules_config(config.settings, select=several(select, "select"), ignore=several(ignore, "ignore"), where=str(config.path or "configuration"))
    done: list[Explained] = []
    skipped: list[Skipped] = []
    notes: list[str] = []
    queryid_text = None if queryid is None else str(queryid)
    with session(db, profile=profile, statement_timeout=statement_timeout, allow_functions=allow_functions, config=config) as target:
        items = items_from_inputs(target, workload, sql, queryid_text, None if params is None else list(params), text, notes)
        table_rows = sqlite_table_rows(target) if target.engine == "sqlite" else None
        description = target.describe()
        for item in items:
            if on_progress:
                on_progress(item.name)
            try:
                done.append(explain_item(target, item, analyze=analyze, runs=runs, rules_config=rules, table_rows=table_rows))
            except QprofError as exc:
                if len(items) == 1:
                    raise queryid_failure(item, exc) if queryid_text is not None else exc from None
                skipped.append(Skipped(item.name, exc.message))
    return ExplainResult(description, done, skipped, notes)
