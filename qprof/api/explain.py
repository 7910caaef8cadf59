"""``qprof.explain``: a statement's plan with real timings, the parameter values used, and findings.

Also the building blocks ``check`` and ``record`` use: :class:`ExplainItem` and :func:`explain_item`.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from typing import TYPE_CHECKING

from qprof.api.base import Result
from qprof.api.session import Database, session
from qprof.errors import BadInput, QprofError

if TYPE_CHECKING:  # sqlglot comes with qprof.sqltext: imported where a statement is read
    from qprof.plans.model import Plan
    from qprof.runner import Skipped
    from qprof.targets import Target


@dataclass
class ExplainItem:
    """One statement to explain, from wherever it came."""

    name: str
    sql: str
    params: list[Any] | None = None  # None: infer from the data
    source: str = ""
    ignore: set[str] = field(default_factory=set)


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
    target: Target, workload: str | None, sql: str | None, queryid: str | None, params: list[Any] | None,
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
        return [
            ExplainItem(s.name, s.sql, params if params is not None else (list(s.params) or None), s.source, set(s.ignore))
            for s in statements
        ]
    if not (text or "").strip():
        raise BadInput(
            "nothing to explain",
            hint="qprof explain --sql 'SELECT …', qprof explain queries/shop.sql:orders_by_customer, "
            "qprof explain --queryid N, or pipe SQL on stdin",
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
        raise BadInput(f"--params is not JSON: {exc.msg}", hint='e.g. --params \'[42, "active"]\'') from None
    if not isinstance(values, list):
        raise BadInput("--params must be a JSON array", hint='e.g. --params \'[42, "active"]\'')
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
        advice = ("the statement's table is not in this database (dropped or renamed since pg_stat_statements "
                  "recorded it?), or not on this role's search_path")
    else:
        advice = ("pg_stat_statements keeps the text with $n where the constants were — try it with literal values: "
                  f"qprof explain --sql {one_line(text, 200)!r} (the $n replaced by real values), "
                  "or give them with --params '[…]'")
    return type(exc)(f"{item.name} could not be explained: {exc.message}",
                     hint=(exc.hint + "; " if exc.hint else "") + advice)


@dataclass
class Explained:
    item: ExplainItem
    plan: Plan
    kind: str
    params_from: str  # given | workload | inferred | none | generic
    timing: dict[str, Any] | None
    findings: list[Any]
    rule_errors: list[str]
    not_executed: Any = None  # qprof.safety.Verdict when the statement was refused execution

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.item.name,
            "source": self.item.source,
            "sql": self.item.sql,
            "kind": self.kind,
            "params": list(self.plan.params),
            "param_sources": list(self.plan.param_sources),
            "params_from": self.params_from,
            "estimates_only": not self.plan.analyzed,
            "generic_plan": self.plan.generic,
            "rolled_back": self.plan.rolled_back,
            "plan": self.plan.to_dict(),
            "timing": self.timing,
            "findings": [f.to_dict() for f in self.findings],
            "not_executed": self.not_executed.to_dict() if self.not_executed is not None else None,
        }


def time_runs(target: Target, sql: str, params: list[Any], runs: int, modifying: bool) -> dict[str, Any]:
    """One warm-up execution, then ``runs`` measured ones (DML each in a rolled-back transaction)."""
    from qprof.stats import percentile

    if target.engine == "postgresql":
        from qprof.plans.postgres import bindable

        sql, params = bindable(target, sql, params)  # the values as explain binds them
    target.execute_timed(sql, params, modifying=modifying)
    samples = [target.execute_timed(sql, params, modifying=modifying).ms for _ in range(runs)]
    return {
        "runs": runs,
        "warmup": 1,
        "median_ms": statistics.median(samples),
        "p95_ms": percentile(samples, 0.95),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "samples_ms": samples,
    }


def explain_item(
    target: Target,
    item: ExplainItem,
    *,
    analyze: bool = True,
    runs: int = 0,
    rules_config: Any = None,
    table_rows: Any = None,
) -> Explained:
    """Plan one statement: values given, else inferred from the data, else a generic plan."""
    from qprof import sqltext
    from qprof.plans.postgres import check_explainable, clean_sql
    from qprof.advisors.base import PlanContext
    from qprof.advisors.runner import run_plan_rules, sort_findings
    from qprof.params import infer_parameters
    from qprof.plans import explain

    sql = clean_sql(item.sql)
    modifying = check_explainable(sql)
    kind = _kind(sql)
    needed = sqltext.placeholder_count(sql)
    params, sources, params_from = None, [], "none"
    if needed:
        if item.params is not None:
            if len(item.params) != needed:
                raise BadInput(f"the statement uses {needed} parameter(s) but {len(item.params)} value(s) were given")
            params, params_from = list(item.params), "given"
            sources = ["given"] * needed
        else:
            inferred = infer_parameters(target, sql)
            if inferred is not None:
                params, sources, params_from = inferred.values, inferred.sources, "inferred"
            else:
                params_from = "generic"
    from qprof.safety import ExecutionRefused

    generic = needed > 0 and params is None
    refused = None
    try:
        plan = explain(target, sql, params if needed else [], analyze=analyze, generic=generic)
    except ExecutionRefused as exc:  # it could act outside the rolled-back transaction: estimates only
        refused = exc.verdict
        plan = explain(target, sql, params if needed else [], analyze=False, generic=generic)
    plan.param_sources = sources
    timing = None
    if runs and not plan.generic and refused is None:
        try:
            timing = time_runs(target, sql, params or [], runs, modifying)
        except ExecutionRefused as exc:  # --no-analyze with --runs
            refused = exc.verdict
    findings, errors = [], []
    if rules_config is not None:
        ctx = PlanContext(target.engine, item.name, item.source or None, table_rows or (lambda name: None))
        result = run_plan_rules(plan, ctx, rules_config, item.ignore)
        findings, errors = sort_findings(result.findings), result.errors
    return Explained(item, plan, kind, params_from, timing, findings, errors, refused)


def _kind(sql: str) -> str:
    """select/insert/…; from PostgreSQL's parser for forms only it reads (check_explainable accepted them)."""
    from qprof import sqltext
    from qprof.pgtext import statement_kind

    try:
        return sqltext.statement_kind(sqltext.parse(sql, "postgresql"))
    except BadInput:
        read = statement_kind(sql)
        if read is None:
            raise
        return read[0]


def sqlite_table_rows(target: Target):
    """A cached row counter for QP105 (SQLite exposes no row estimates in its plans)."""
    cache: dict[str, int | None] = {}

    def rows(name: str) -> int | None:
        if name not in cache:
            try:
                exists = target.fetch_value("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
                cache[name] = (
                    target.fetch_value('SELECT count(*) FROM "' + name.replace('"', '""') + '"') if exists else None
                )
            except QprofError:
                cache[name] = None
        return cache[name]

    return rows


@dataclass
class ExplainResult(Result):
    """What :func:`explain` returns; ``to_dict()`` is ``qprof explain --format json``."""

    target: str
    statements: list[Explained]
    skipped: list[Skipped]
    notes: list[str] = field(default_factory=list)  # inputs rewritten so PREPARE accepts them

    def document(self) -> dict[str, Any]:
        return {"target": self.target, "statements": [d.to_dict() for d in self.statements],
                "skipped": [s.to_dict() for s in self.skipped]}

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
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    profile: str | None = None,
    statement_timeout: str | float = "30s",
    allow_functions: Sequence[str] | None = None,
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
    from qprof.config import load_config
    from qprof.rules_config import load_rules_config
    from qprof.runner import Skipped

    config = load_config()
    rules = load_rules_config(config.settings, select=list(select) if select is not None else None,
                              ignore=list(ignore) if ignore is not None else None, where=str(config.path or "configuration"))
    done: list[Explained] = []
    skipped: list[Skipped] = []
    notes: list[str] = []
    queryid_text = None if queryid is None else str(queryid)
    with session(db, profile=profile, statement_timeout=statement_timeout, allow_functions=allow_functions,
                 config=config) as target:
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
