"""Findings: what an advisor reports — a rule code, the numbers that triggered it, and a fix.

Plain data, no I/O. ``to_dict()`` keys are the JSON shape of ``qprof check``/``explain``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "error")


def severity_rank(severity: str) -> int:
    """info < warning < error; unknown severities sort lowest."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


@dataclass
class Finding:
    """One problem found by rule ``code``, with the evidence behind it and a concrete suggestion."""

    code: str  # QP101
    name: str  # plan.seq-scan-large-table
    severity: str  # info | warning | error
    title: str  # the rule's one-line title
    message: str  # this occurrence, with its numbers
    evidence: dict[str, Any] = field(default_factory=dict)
    suggestion: str = ""
    table: str | None = None
    index: str | None = None
    statement: str | None = None  # workload statement name, or queryid
    source: str | None = None  # file:line of the statement
    node: str | None = None  # plan node label
    query: str | None = None  # the workload statement's normalized text (what keeps its fingerprint)

    @property
    def target(self) -> str:
        """What the finding is about, for one table column: statement, index or table."""
        parts = [p for p in (self.statement, self.index or self.table) if p]
        return " · ".join(parts) if parts else "database"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "evidence": dict(self.evidence),
            "suggestion": self.suggestion,
            "table": self.table,
            "index": self.index,
            "statement": self.statement,
            "source": self.source,
            "node": self.node,
            "target": self.target,
        }
