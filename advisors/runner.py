"""Run the selected rules over a plan or a database and collect their findings.

A rule that raises is a bug in that rule; it must not take the other rules down, so its
exception becomes a finding-less note in ``errors`` that the command prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from qprof.findings import Finding, severity_rank
from qprof.plans.model import Plan
from qprof.advisors.config import RulesConfig, statement_ignores

from . import all_rules
from .base import DATABASE, PLAN, PlanContext, Rule
from .context import DatabaseContext


@dataclass
class RuleRun:
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def selected_rules(config: RulesConfig, scope: str, engine: str) -> list[Rule]:
    return [r for r in all_rules() if r.scope == scope and r.applies_to(engine) and config.is_selected(r.code)]


def _run(rule: Rule, call: Callable[[], object], out: RuleRun, config: RulesConfig, ignore: set[str]) -> None:
    try:
        found = list(call())  # type: ignore[call-overload]
    except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
        out.errors.append(f"{rule.code} failed: {type(exc).__name__}: {exc}")
        return
    for finding in found:
        if not statement_ignores(ignore, finding.code):
            out.findings.append(config.apply_severity(finding))


def run_plan_rules(plan: Plan, ctx: PlanContext, config: RulesConfig, ignore: set[str] | None = None) -> RuleRun:
    """Findings of every selected plan rule for this plan (minus codes the statement ignores)."""
    out = RuleRun()
    for rule in selected_rules(config, PLAN, plan.engine):
        options = config.options_for(rule)
        _run(rule, partial(rule.check, plan, ctx, options), out, config, ignore or set())
    return out


def run_database_rules(db: DatabaseContext, config: RulesConfig) -> RuleRun:
    out = RuleRun()
    for rule in selected_rules(config, DATABASE, db.engine):
        options = config.options_for(rule)
        _run(rule, partial(rule.check, db, options), out, config, set())
    return out


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first, then by code and what they are about."""
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), f.code, f.statement or "", f.table or "", f.index or ""))
