"""``qprof explain``: a statement's plan with real timings, real parameter values and findings."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from qprof import sqltext
from qprof.cli.options import (
    AllowFunctionOption,
    DbOption,
    DebugOption,
    FormatOption,
    ProfileOption,
    StatementTimeoutOption,
    connection_options,
    handle_errors,
)
from qprof.errors import BadInput, QprofError
from qprof.output import OutputFormat, console, emit, note, render_json, warn

if TYPE_CHECKING:
    from qprof.explainer import Explained


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
    params: Annotated[str | None, typer.Option("--params", help="Values for $1..$n as a JSON array (default: inferred from the data).")] = None,
    analyze: Annotated[bool, typer.Option("--analyze/--no-analyze", help="Execute the statement (DML is rolled back) or estimate only.")] = True,
    runs: Annotated[int, typer.Option("--runs", "-r", min=0, help="Also execute N times after one warm-up; report median and p95.")] = 0,
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
    from qprof.api.explain import explain, parse_params

    if fmt is OutputFormat.csv:
        raise BadInput("explain prints a tree: use --format table, markdown or json")
    stdin = workload == "-" or (workload is None and sql is None and queryid is None and not sys.stdin.isatty())
    with console.status("explaining…") as status:
        result = explain(
            db,
            sql=sql,
            workload=workload,
            queryid=queryid,
            params=parse_params(params),
            text=sys.stdin.read() if stdin else None,
            analyze=analyze,
            runs=runs,
            select=select,
            ignore=ignore,
            profile=profile,
            statement_timeout=statement_timeout,
            allow_functions=allow_function,
            on_progress=lambda name: status.update(f"explaining {name}…"),
        )
    for line in result.notes:
        note(line)
    for item in result.skipped:
        warn(f"skipped {item.statement}: {item.reason}")
    for line in result.warnings(runs):
        warn(line)
    if fmt is OutputFormat.json:
        emit(render_json(result.to_dict()))
    else:
        emit("\n".join(render_explained(d, fmt) for d in result.statements))
    total = len(result.statements) + len(result.skipped)
    if result.skipped:
        warn(f"{len(result.skipped)} of {total} statement(s) skipped")
    if not result.statements:
        raise QprofError(f"no statement could be explained ({len(result.skipped)} skipped)")


def register(app: typer.Typer) -> None:
    app.command("explain")(handle_errors(explain_command))
