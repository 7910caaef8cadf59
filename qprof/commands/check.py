"""``qprof check``: every selected rule over a database (and optionally a workload's plans) — a CI gate."""

from __future__ import annotations

import os
from enum import Enum
from typing import Annotated, Any

import typer

from qprof.cli.options import (
    AllowFunctionOption,
    DbOption,
    DebugOption,
    ProfileOption,
    StatementTimeoutOption,
    connect,
    connection_options,
    handle_errors,
)
from qprof.config import load_config
from qprof.errors import EXIT_FINDINGS, QprofError
from qprof.formats import FINDING_FORMATS, render_findings
from qprof.output import console, emit, render_json, warn
from qprof.runner import Skipped


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    github = "github"
    csv = "csv"
    sarif = "sarif"
    gitlab = "gitlab"


def run_check(
    target: Any,
    rules: Any,
    *,
    workload: str | None = None,
    analyze: bool = True,
    on_progress: Any = None,
) -> dict[str, Any]:
    """Database rules, then (with a workload) each statement's plan rules; failures are skipped.

    Returns ``{"findings": [Finding], "skipped": [Skipped], "statements": n, "rule_errors": [str],
    "not_executed": [Skipped]}`` (statements qprof.safety kept to a plain EXPLAIN, and why).
    """
    from qprof.advisors.context import collect_database
    from qprof.advisors.runner import run_database_rules, sort_findings
    from qprof.commands.explain import ExplainItem, explain_item

    db = collect_database(target)
    result = run_database_rules(db, rules)
    findings, errors = list(result.findings), list(result.errors)
    skipped: list[Skipped] = []
    not_executed: list[Skipped] = []
    explained = 0
    if workload is not None:
        from qprof.workload import load_workload

        rows = {t.name: t.n_live_tup for t in db.tables}
        for statement in load_workload(workload):
            if on_progress:
                on_progress(statement.name)
            item = ExplainItem(statement.name, statement.sql, list(statement.params) or None, statement.source, set(statement.ignore))
            try:
                done = explain_item(target, item, analyze=analyze, rules_config=rules, table_rows=rows.get)
            except QprofError as exc:
                skipped.append(Skipped(statement.name, exc.message))
                continue
            explained += 1
            if done.not_executed is not None:
                not_executed.append(Skipped(statement.name, f"plain EXPLAIN only, not executed: {done.not_executed.message()}"))
            findings += done.findings
            errors += done.rule_errors
    return {
        "findings": sort_findings(findings), "skipped": skipped, "statements": explained, "rule_errors": errors,
        "not_executed": not_executed,
    }


@connection_options
def check_command(
    workload: Annotated[
        str | None,
        typer.Option("--workload", "-w", help="Also explain these statements (file, folder or file.sql:name) and run the plan rules."),
    ] = None,
    select: Annotated[
        list[str] | None, typer.Option("--select", help="Rules to run, by code prefix (QP2, QP101); replaces the configured select.")
    ] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Rules to skip, by code prefix; adds to the configured ignore.")] = None,
    fail_on: Annotated[
        list[str] | None,
        typer.Option("--fail-on", help="Exit 1 when a finding is at least this severity (info, warning, error) or matches this code prefix."),
    ] = None,
    analyze: Annotated[bool, typer.Option("--analyze/--no-analyze", help="With --workload: execute statements (DML rolled back) or estimate only.")] = True,
    allow_function: AllowFunctionOption = None,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="table for people, json/csv for scripts, markdown for PRs, "
                                                                    "github for workflow annotations, sarif for GitHub code scanning, "
                                                                    "gitlab for GitLab Code Quality.")] = CheckFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Check a database (and optionally a workload's plans) against qprof's rules; gate CI with --fail-on.

    Rules are selected like ruff's: --select/--ignore by code prefix, or select/ignore in
    qprof.toml / \\[tool.qprof]; thresholds in \\[tool.qprof.rules.QP101]. A workload statement
    with "-- qprof: ignore QP101" is silenced for that code.

    \b
    Examples:
      qprof check --db sqlite:///app.sqlite
      qprof check --workload queries/shop.sql --fail-on warning
      qprof check --select QP2 --format github
    """
    from qprof.advisors.report import (
        render_github,
        render_markdown,
        render_text,
        summary,
    )
    from qprof.rules_config import fail_on_matches, load_rules_config

    config = load_config()
    rules = load_rules_config(
        config.settings, select=select, ignore=ignore, fail_on=fail_on, where=str(config.path or "configuration")
    )
    with connect(db, profile, statement_timeout, config, allow_functions=allow_function) as target:
        description = target.describe()
        from qprof.advise.leftovers import report_leftovers

        earlier = report_leftovers(target, warn)  # indexes killed qprof runs left behind
        with console.status("checking…") as status:
            outcome = run_check(target, rules, workload=workload, analyze=analyze, on_progress=lambda n: status.update(f"explaining {n}…"))
    findings, skipped = outcome["findings"], outcome["skipped"]
    for error in outcome["rule_errors"]:
        warn(error)
    for item in skipped:
        warn(f"skipped {item.statement}: {item.reason}")
    for item in outcome["not_executed"]:
        warn(f"{item.statement}: {item.reason}")
    tripped = fail_on_matches(rules.fail_on, findings)
    if fmt is CheckFormat.json:
        emit(
            render_json(
                {
                    "target": description,
                    "summary": {
                        "findings": len(findings),
                        "by_severity": {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")},
                        "statements_explained": outcome["statements"],
                        "skipped": len(skipped),
                        "fail_on": rules.fail_on,
                        "failed": bool(tripped),
                    },
                    "findings": [f.to_dict() for f in findings],
                    "skipped": [s.to_dict() for s in skipped],
                    "qprof_leftovers": [item.to_dict() for item in earlier],
                    "not_executed": [s.to_dict() for s in outcome["not_executed"]],
                }
            )
        )
    elif fmt is CheckFormat.markdown:
        emit(render_markdown(findings) if findings else "No findings.")
    elif fmt is CheckFormat.github:
        if findings:
            emit(render_github(findings))
    elif fmt.value in FINDING_FORMATS:
        notes = [*outcome["rule_errors"], *(f"skipped {s.statement}: {s.reason}" for s in skipped),
                 *(f"{s.statement}: {s.reason}" for s in outcome["not_executed"])]
        emit(render_findings(fmt.value, findings, database=description, root=os.getcwd(), notes=notes))
    else:
        if findings:
            emit(render_text(findings))
        console.print(
            summary(findings)
            + (f"; {outcome['statements']} statement(s) explained" if workload else "")
            + (f"; {len(skipped)} skipped" if skipped else ""),
            markup=False,
        )
    if tripped:
        console.print(f"failing: {len(tripped)} finding(s) match --fail-on {' '.join(rules.fail_on)}", markup=False)
        raise typer.Exit(EXIT_FINDINGS)


def register(app: typer.Typer) -> None:
    app.command("check")(handle_errors(check_command))
