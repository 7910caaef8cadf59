"""``qprof.check``: every selected rule over a database (and optionally a workload's plans)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qprof.api.base import Result
from qprof.api.session import Database, session
from qprof.errors import QprofError

if TYPE_CHECKING:  # qprof.runner brings sqlglot: imported where it runs
    from qprof.runner import Skipped


@dataclass
class CheckResult(Result):
    """What :func:`check` returns; ``to_dict()`` is ``qprof check --format json``.

    ``failed`` is true when a finding matches ``fail_on`` (the CLI exits 1 then).
    """

    target: str
    findings: list[Any]  # qprof.findings.Finding, most severe first
    skipped: list[Skipped]
    statements_explained: int
    fail_on: list[str]
    tripped: list[Any]  # the findings that match fail_on
    rule_errors: list[str] = field(default_factory=list)
    not_executed: list[Skipped] = field(default_factory=list)
    leftovers: list[Any] = field(default_factory=list)  # indexes killed qprof runs left behind

    @property
    def failed(self) -> bool:
        return bool(self.tripped)

    def document(self) -> dict[str, Any]:
        findings = self.findings
        return {
            "target": self.target,
            "summary": {
                "findings": len(findings),
                "by_severity": {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")},
                "statements_explained": self.statements_explained,
                "skipped": len(self.skipped),
                "fail_on": self.fail_on,
                "failed": self.failed,
            },
            "findings": [f.to_dict() for f in findings],
            "skipped": [s.to_dict() for s in self.skipped],
            "qprof_leftovers": [item.to_dict() for item in self.leftovers],
            "not_executed": [s.to_dict() for s in self.not_executed],
        }


def run_check(
    target: Any,
    rules: Any,
    *,
    workload: str | Path | Sequence[str | Path] | None = None,
    analyze: bool = True,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Database rules, then (with a workload) each statement's plan rules; failures are skipped.

    Returns ``{"findings": [Finding], "skipped": [Skipped], "statements": n, "rule_errors": [str],
    "not_executed": [Skipped]}`` (statements qprof.safety kept to a plain EXPLAIN, and why).
    """
    from qprof.advisors.context import collect_database
    from qprof.advisors.runner import run_database_rules, sort_findings
    from qprof.explainer import ExplainItem, explain_item
    from qprof.runner import Skipped

    db = collect_database(target)
    result = run_database_rules(db, rules)
    findings, errors = list(result.findings), list(result.errors)
    skipped: list[Skipped] = []
    not_executed: list[Skipped] = []
    explained = 0
    if workload is not None:
        from qprof.arguments import several
        from qprof.workload import load_workload

        rows = {t.name: t.n_live_tup for t in db.tables}
        statements = [s for spec in several(workload, "workload") or () for s in load_workload(spec)]
        for statement in statements:
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
        "findings": sort_findings(findings),
        "skipped": skipped,
        "statements": explained,
        "rule_errors": errors,
        "not_executed": not_executed,
    }


def check(
    db: Database = None,
    *,
    workload: str | Path | Sequence[str | Path] | None = None,
    select: str | Sequence[str] | None = None,
    ignore: str | Sequence[str] | None = None,
    fail_on: str | Sequence[str] | None = None,
    analyze: bool = True,
    profile: str | None = None,
    statement_timeout: str | float = "30s",
    allow_functions: str | Sequence[str] | None = None,
    on_progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> CheckResult:
    """Check a database (and with ``workload`` its statements' plans) against qprof's rules.

    Rules are chosen like ruff's: ``select``/``ignore`` by code prefix (``"QP2"``, ``"QP101"``),
    on top of ``select``/``ignore`` in qprof.toml or ``[tool.qprof]``; ``fail_on`` takes severities
    (info, warning, error) or code prefixes and sets ``result.failed``. ``analyze=False`` plans
    workload statements without executing them. ``warn`` hears about leftovers of killed runs as
    they are found. Each of ``workload``, ``select``, ``ignore``, ``fail_on`` takes one string or a list.
    """
    from qprof.advise.leftovers import report_leftovers
    from qprof.arguments import several
    from qprof.config import load_config
    from qprof.advisors.config import fail_on_matches, load_rules_config

    config = load_config()
    rules = load_rules_config(
        config.settings,
        select=several(select, "select"),
        ignore=several(ignore, "ignore"),
        fail_on=several(fail_on, "fail_on"),
        where=str(config.path or "configuration"),
    )
    with session(db, profile=profile, statement_timeout=statement_timeout, allow_functions=allow_functions, config=config) as target:
        description = target.describe()
        earlier = report_leftovers(target, warn or (lambda message: None))
        outcome = run_check(target, rules, workload=workload, analyze=analyze, on_progress=on_progress)
    findings = outcome["findings"]
    return CheckResult(
        target=description,
        findings=findings,
        skipped=outcome["skipped"],
        statements_explained=outcome["statements"],
        fail_on=list(rules.fail_on),
        tripped=list(fail_on_matches(rules.fail_on, findings)),
        rule_errors=outcome["rule_errors"],
        not_executed=outcome["not_executed"],
        leftovers=list(earlier),
    )
