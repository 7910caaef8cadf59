"""``qprof check``: every selected rule over a database (and optionally a workload's plans) — a CI gate."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from qprof.cli.options import (
    AllowFunctionOption,
    DbOption,
    DebugOption,
    ProfileOption,
    StatementTimeoutOption,
    connection_options,
    handle_errors,
)
from qprof.errors import EXIT_FINDINGS
from qprof.formats import FINDING_FORMATS, render_findings
from qprof.formats.findings_id import checkout_root
from qprof.output import console, emit, render_json, warn


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    github = "github"
    csv = "csv"
    sarif = "sarif"
    gitlab = "gitlab"


@connection_options
def check_command(
    workload: Annotated[
        str | None,
        typer.Option("--workload", "-w", help="Also explain these statements (file, folder or file.sql:name) and run the plan rules."),
    ] = None,
    select: Annotated[list[str] | None, typer.Option("--select", help="Rules to run, by code prefix (QP2, QP101); replaces the configured select.")] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Rules to skip, by code prefix; adds to the configured ignore.")] = None,
    fail_on: Annotated[
        list[str] | None,
        typer.Option("--fail-on", help="Exit 1 when a finding is at least this severity (info, warning, error) or matches this code prefix."),
    ] = None,
    analyze: Annotated[bool, typer.Option("--analyze/--no-analyze", help="With --workload: execute statements (DML rolled back) or estimate only.")] = True,
    allow_function: AllowFunctionOption = None,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: Annotated[
        CheckFormat,
        typer.Option(
            "--format",
            "-f",
            help="table for people, json/csv for scripts, markdown for PRs, "
            "github for workflow annotations, sarif for GitHub code scanning, "
            "gitlab for GitLab Code Quality.",
        ),
    ] = CheckFormat.table,
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
    from qprof.api.check import check

    with console.status("checking…") as status:
        result = check(
            db,
            workload=workload,
            select=select,
            ignore=ignore,
            fail_on=fail_on,
            analyze=analyze,
            profile=profile,
            statement_timeout=statement_timeout,
            allow_functions=allow_function,
            on_progress=lambda n: status.update(f"explaining {n}…"),
            warn=warn,
        )
    findings, skipped = result.findings, result.skipped
    for error in result.rule_errors:
        warn(error)
    for item in skipped:
        warn(f"skipped {item.statement}: {item.reason}")
    for item in result.not_executed:
        warn(f"{item.statement}: {item.reason}")
    if fmt is CheckFormat.json:
        emit(render_json(result.to_dict()))
    elif fmt is CheckFormat.markdown:
        emit(render_markdown(findings) if findings else "No findings.")
    elif fmt is CheckFormat.github:
        if findings:
            emit(render_github(findings))
    elif fmt.value in FINDING_FORMATS:
        notes = [*result.rule_errors, *(f"skipped {s.statement}: {s.reason}" for s in skipped), *(f"{s.statement}: {s.reason}" for s in result.not_executed)]
        emit(render_findings(fmt.value, findings, database=result.target, root=checkout_root(), notes=notes))
    else:
        if findings:
            emit(render_text(findings))
        console.print(
            summary(findings)
            + (f"; {result.statements_explained} statement(s) explained" if workload else "")
            + (f"; {len(skipped)} skipped" if skipped else ""),
            markup=False,
        )
    if result.failed:
        console.print(f"failing: {len(result.tripped)} finding(s) match --fail-on {' '.join(result.fail_on)}", markup=False)
        raise typer.Exit(EXIT_FINDINGS)


def register(app: typer.Typer) -> None:
    app.command("check")(handle_errors(check_command))
