"""``qprof explain``: a statement's plan with real timings, real parameter values and findings."""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from qprof import sqltext
from qprof.cli.options import (
    AllowFunctionOption,
    DbOption,
    DebugOption,
    FormatOption,
    ProfileOption,
    StatementTimeoutOption,
    connect,
    connection_options,
    handle_errors,
)
from qprof.config import load_config
from qprof.errors import BadInput, QprofError
from qprof.output import OutputFormat, console, emit, note, render_json, warn
from qprof.plans.model import Plan
from qprof.plans.postgres import check_explainable, clean_sql
from qprof.runner import Skipped
from qprof.stats import percentile
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
    params_json: str | None,
) -> list[ExplainItem]:
    """The statements the options name: --sql, a workload (file, file:name, '-' for stdin), --queryid, or stdin."""
    given = [x for x in (workload, sql, queryid) if x is not None]
    if len(given) > 1:
        raise BadInput("give one of: a workload file, --sql, --queryid (or SQL on stdin)")
    items = _items(target, workload, sql, queryid, _params(params_json))
    return _plannable(items) if target.engine == "postgresql" else items


def _plannable(items: list[ExplainItem]) -> list[ExplainItem]:
    """pg_stat_statements/log text as PREPARE accepts it (``interval $3`` → ``$3::interval``, ``$70000`` → ``$1``)."""
    from qprof.pgtext import plannable

    for item in items:
        rewritten = plannable(item.sql)
        item.sql, item.params = rewritten.sql, rewritten.params(item.params)
        if rewritten.changes:
            note(f"{item.name}: rewritten so PREPARE accepts it: {'; '.join(sorted(rewritten.changes))}")
    return items


def _items(
    target: Target, workload: str | None, sql: str | None, queryid: str | None, params: list[Any] | None
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
    text = "" if (workload is None and sys.stdin.isatty()) else sys.stdin.read()
    if not text.strip():
        raise BadInput(
            "nothing to explain",
            hint="qprof explain --sql 'SELECT …', qprof explain queries/shop.sql:orders_by_customer, "
            "qprof explain --queryid N, or pipe SQL on stdin",
        )
    from qprof.workload import parse_workload_text

    statements = parse_workload_text(text, "<stdin>")
    return [ExplainItem(s.name, s.sql, params if params is not None else (list(s.params) or None), "<stdin>", set(s.ignore)) for s in statements]


def _params(params_json: str | None) -> list[Any] | None:
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


def _queryid_failure(item: ExplainItem, exc: QprofError) -> QprofError:
    """What failed on a pg_stat_statements entry, and what to try: its text has ``$n`` where the
    constants were, so the values are the part qprof may lack."""
    text = item.sql  # already rewritten as PREPARE accepts it (see _plannable)
    if "statements are not explained" in exc.message:
        return exc  # a utility statement: no values would help, its own hint says why
    if "does not exist" in exc.message and "relation" in exc.message:
        advice = ("the statement's table is not in this database (dropped or renamed since pg_stat_statements "
                  "recorded it?), or not on this role's search_path")
    else:
        advice = ("pg_stat_statements keeps the text with $n where the constants were — try it with literal values: "
                  f"qprof explain --sql {sqltext.one_line(text, 200)!r} (the $n replaced by real values), "
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


def _header(done: Explained) -> list[str]:
    plan = done.plan
    source = done.item.source
    shown_source = source and source != "--sql" and source != done.item.name
    lines = [f"── {done.item.name}" + (f"  ({source})" if shown_source else "")]
    lines.append("   " + sqltext.one_line(done.item.sql, 160))
    if plan.params:
        shown = ", ".join(
            f"${n} = {value!r}" + (f" ({source})" if source and source != "given" else "")
            for n, (value, source) in enumerate(zip(plan.params, plan.param_sources or [""] * len(plan.params), strict=True), start=1)
        )
        lines.append(f"   params: {shown}")
    if done.not_executed is not None:
        verdict = done.not_executed
        lines.append(f"   not executed, plain EXPLAIN only: {verdict.message()}")
        if verdict.blocking:
            lines.append("   (if it is harmless here: " + " ".join(f"--allow-function {n}" for n in verdict.blocking) + ")")
    if plan.generic:
        lines.append("   generic plan: estimates only (parameter values could not be inferred; give them with --params)")
    elif not plan.analyzed and done.not_executed is None:
        lines.append("   estimates only (--no-analyze): nothing was executed")
    figures = []
    if plan.execution_ms is not None:
        figures.append(f"execution {plan.execution_ms:,.3f} ms")
    if plan.planning_ms is not None:
        figures.append(f"planning {plan.planning_ms:,.3f} ms")
    if plan.total_cost is not None:
        figures.append(f"cost {plan.total_cost:,.2f}")
    if plan.rolled_back:
        figures.append("data-modifying: ran in a transaction that was rolled back")
    if done.timing:
        t = done.timing
        figures.append(f"{t['runs']} runs after 1 warm-up: median {t['median_ms']:,.3f} ms, p95 {t['p95_ms']:,.3f} ms")
    if figures:
        lines.append("   " + " · ".join(figures))
    return lines


def render_explained(done: Explained, fmt: OutputFormat) -> str:
    from qprof.plans.render import render_plan

    parts = ["\n".join(_header(done)), "", render_plan(done.plan, fmt)]
    if done.findings:
        parts.append("")
        parts.append("findings:")
        for finding in done.findings:
            parts.append(f"  {finding.code} {finding.severity:<7} {finding.message}")
            if finding.suggestion:
                parts.append(f"        fix: {finding.suggestion}")
    return "\n".join(parts) + "\n"


@connection_options
def explain_command(
    workload: Annotated[
        str | None,
        typer.Argument(
            help="Workload file, folder, or file.sql:name of one statement; '-' reads SQL from stdin.",
            show_default=False,
        ),
    ] = None,
    sql: Annotated[str | None, typer.Option("--sql", "-s", help="The statement to explain.")] = None,
    queryid: Annotated[str | None, typer.Option("--queryid", "-q", help="Explain this pg_stat_statements entry.")] = None,
    params: Annotated[
        str | None, typer.Option("--params", help="Values for $1..$n as a JSON array (default: inferred from the data).")
    ] = None,
    analyze: Annotated[
        bool, typer.Option("--analyze/--no-analyze", help="Execute the statement (DML is rolled back) or estimate only.")
    ] = True,
    runs: Annotated[
        int, typer.Option("--runs", "-r", min=0, help="Also execute N times after one warm-up; report median and p95.")
    ] = 0,
    select: Annotated[list[str] | None, typer.Option("--select", help="Plan rules to run (code prefixes, e.g. QP1).")] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Plan rules to skip (code prefixes).")] = None,
    allow_function: AllowFunctionOption = None,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: FormatOption = OutputFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Show a statement's plan with real timings, the parameter values used, and what is wrong with it.

    Read-only statements run in a read-only transaction; INSERT/UPDATE/DELETE/MERGE run inside a
    transaction that is always rolled back. DDL and utility statements are refused. A statement
    calling a function that could act outside that transaction (setval, nextval, dblink, lo_*,
    pg_terminate_backend, admin, unknown volatile functions, …) is not executed: it gets a plain
    EXPLAIN and the reason, unless --allow-function names the function.

    \b
    Examples:
      qprof explain --sql "SELECT * FROM orders WHERE customer_id = 42"
      qprof explain queries/shop.sql:orders_by_customer --runs 10
      qprof explain --queryid 4182318870337437017 --format json
      echo "SELECT count(*) FROM orders" | qprof explain -d app.sqlite
    """
    from qprof.rules_config import load_rules_config

    if fmt is OutputFormat.csv:
        raise BadInput("explain prints a tree: use --format table, markdown or json")
    config = load_config()
    rules = load_rules_config(config.settings, select=select, ignore=ignore, where=str(config.path or "configuration"))
    done: list[Explained] = []
    skipped: list[Skipped] = []
    with connect(db, profile, statement_timeout, config, allow_functions=allow_function) as target:
        items = items_from_inputs(target, workload, sql, queryid, params)
        table_rows = sqlite_table_rows(target) if target.engine == "sqlite" else None
        description = target.describe()
        for item in items:
            try:
                with console.status(f"explaining {item.name}…"):
                    done.append(explain_item(target, item, analyze=analyze, runs=runs, rules_config=rules, table_rows=table_rows))
            except QprofError as exc:
                if len(items) == 1:
                    raise _queryid_failure(item, exc) if queryid is not None else exc from None
                skipped.append(Skipped(item.name, exc.message))
                warn(f"skipped {item.name}: {exc.message}")
    for result in done:
        for error in result.rule_errors:
            warn(error)
        if result.not_executed is not None:
            warn(f"{result.item.name}: not executed: {result.not_executed.message()}")
        elif runs and result.timing is None:
            warn(f"{result.item.name}: --runs skipped, the parameter values are unknown (generic plan)")
    if fmt is OutputFormat.json:
        emit(render_json({"target": description, "statements": [d.to_dict() for d in done], "skipped": [s.to_dict() for s in skipped]}))
    else:
        emit("\n".join(render_explained(d, fmt) for d in done))
    if skipped:
        warn(f"{len(skipped)} of {len(items)} statement(s) skipped")
    if not done:
        raise QprofError(f"no statement could be explained ({len(skipped)} skipped)")


def register(app: typer.Typer) -> None:
    app.command("explain")(handle_errors(explain_command))
