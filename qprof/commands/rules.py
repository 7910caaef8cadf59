"""``qprof rules``: the rule codes, or one rule's documentation and thresholds."""

from __future__ import annotations

from typing import Annotated

import typer

from qprof.cli.options import DebugOption, FormatOption, handle_errors
from qprof.errors import BadInput
from qprof.output import Column, OutputFormat, emit, emit_listing, render_json


def rules_command(
    code: Annotated[str | None, typer.Argument(help="Show this rule's documentation, e.g. QP101.", show_default=False)] = None,
    fmt: FormatOption = OutputFormat.table,
    debug: DebugOption = False,
) -> None:
    """List qprof's rules, or explain one: anti-pattern, fix, default severity and thresholds.

    \b
    Examples:
      qprof rules
      qprof rules QP101
    """
    from qprof.advisors import all_rules, get_rule

    if code is None:
        rows = [
            {**rule.describe(), "engines": ", ".join(rule.engines), "options": ", ".join(f"{k}={v}" for k, v in rule.options.items())} for rule in all_rules()
        ]
        columns = [
            Column("code", "code", align="left"),
            Column("name", "name", align="left"),
            Column("severity", "severity", align="left"),
            Column("engines", "engines", align="left"),
            Column("title", "title", align="left"),
        ]
        if fmt is OutputFormat.json:
            emit(render_json({"rules": [rule.describe() for rule in all_rules()]}))
            return
        emit_listing({"rules": rows}, "rules", columns, fmt)
        return
    rule = get_rule(code)
    if rule is None:
        raise BadInput(f"no rule {code!r}", hint="qprof rules lists the codes")
    if fmt is OutputFormat.json:
        emit(render_json(rule.describe()))
        return
    options = "\n".join(f"  {key} = {value!r}" for key, value in rule.options.items()) or "  (none)"
    emit(
        f"{rule.code} {rule.name}  [{rule.severity}; {', '.join(rule.engines)}; {rule.scope} rule]\n"
        f"{rule.title}\n\n{rule.doc}\n\n"
        f"Thresholds (override in [tool.qprof.rules.{rule.code}] or qprof.toml [rules.{rule.code}]):\n{options}\n"
        f"  severity = {rule.severity!r}"
    )


def register(app: typer.Typer) -> None:
    app.command("rules")(handle_errors(rules_command))
