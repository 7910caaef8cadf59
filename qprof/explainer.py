"""Explain one statement: its plan with the parameter values used (given, inferred from the data, or
a generic plan), optional timings (warm-up + N runs) and the plan rules' findings.

The building block of ``qprof explain``, of ``check --workload`` and of ``record``'s plan advisors.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qprof.errors import BadInput, QprofError

if TYPE_CHECKING:  # sqlglot comes with qprof.sqltext: imported where a statement is read
    from qprof.plans.model import Plan
    from qprof.targets import Target


@dataclass
class ExplainItem:
    """One statement to explain, from wherever it came."""

    name: str
    sql: str
    params: list[Any] | None = None  # None: infer from the data
    source: str = ""
    ignore: set[str] = field(default_factory=set)


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
    from qprof.runner import timed_runs

    samples = [timing.ms for timing in timed_runs(target, sql, params, runs, modifying=modifying, warmup=1)]
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
        from qprof.fingerprint import fingerprint

        query = fingerprint(item.sql)  # a workload statement is the same one wherever the file puts it
        for finding in findings:
            finding.query = query
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
                cache[name] = target.fetch_value('SELECT count(*) FROM "' + name.replace('"', '""') + '"') if exists else None
            except QprofError:
                cache[name] = None
        return cache[name]

    return rows
