"""What every rule is: a stable code, a dotted name, a severity, a title, thresholds and a check.

Two scopes:

* ``plan`` rules look at one statement's plan: ``check(plan, ctx, options)``;
* ``database`` rules look at the catalog and statistics: ``check(db, options)``.

Both yield :class:`qprof.findings.Finding` objects made with :meth:`Rule.finding`, so the code,
name and title on a finding always match the rule that produced it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from qprof.findings import Finding

PLAN = "plan"
DATABASE = "database"
BOTH_ENGINES = ("postgresql", "sqlite")


@dataclass
class PlanContext:
    """What a plan rule may know besides the plan: which statement, and table sizes on demand."""

    engine: str
    statement: str | None = None
    source: str | None = None
    table_rows: Callable[[str], int | None] = lambda name: None


@dataclass(frozen=True)
class Rule:
    """One analysis rule. ``options`` holds the default thresholds users may override in config."""

    code: str
    name: str
    severity: str
    title: str
    scope: str
    check: Callable[..., Iterable[Finding]]
    engines: tuple[str, ...] = BOTH_ENGINES
    options: dict[str, Any] = field(default_factory=dict)
    doc: str = ""

    def applies_to(self, engine: str) -> bool:
        return engine in self.engines

    def finding(self, message: str, *, evidence: dict[str, Any], suggestion: str, severity: str | None = None, **refs: Any) -> Finding:
        """A finding of this rule; ``refs`` are table/index/statement/source/node."""
        return Finding(
            code=self.code,
            name=self.name,
            severity=severity or self.severity,
            title=self.title,
            message=message,
            evidence=evidence,
            suggestion=suggestion,
            **refs,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "title": self.title,
            "scope": self.scope,
            "engines": list(self.engines),
            "options": dict(self.options),
            "doc": self.doc,
        }


def make_rule(module_doc: str | None, **fields: Any) -> Rule:
    """A Rule whose ``doc`` is the module docstring (the anti-pattern and the fix)."""
    return Rule(doc=inspect.cleandoc(module_doc or ""), **fields)


def quote_ident(name: str) -> str:
    """An identifier for suggested SQL: bare when it is a plain lower-case name, else double-quoted."""
    if name and name.replace("_", "a").isalnum() and name.islower() and not name[0].isdigit():
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str | None, name: str) -> str:
    if schema and schema not in ("public", "main"):
        return f"{quote_ident(schema)}.{quote_ident(name)}"
    return quote_ident(name)


def fmt_int(value: float | int | None) -> str:
    return "?" if value is None else f"{value:,.0f}"
