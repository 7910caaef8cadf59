"""GitLab Code Quality report (``qprof check --format gitlab``): a JSON list of issues.

GitLab's fields: ``description``, ``check_name`` (the rule code), ``fingerprint`` (stable across
runs: the rule and what the finding is about, not its numbers), ``severity`` (info, minor, major,
critical, blocker) and ``location.path`` + ``location.lines.begin``: the workload file and line
when the finding is about a statement from a file, else ``database/<table, index or statement>`` (``database`` for the whole database).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qprof.findings import Finding
from qprof.formats.findings_id import database_path, fingerprints, headline, source_file

# as linters' GitLab reporters map theirs: an error blocks a merge as a "major" issue would
SEVERITY = {"error": "major", "warning": "minor", "info": "info"}


def render(findings: Sequence[Finding], *, root: str | None = None) -> list[dict[str, Any]]:
    issues = []
    for finding, digest in zip(findings, fingerprints(findings), strict=True):
        where = source_file(finding, root)
        path, line = where if where is not None else (database_path(finding), 1)
        description = f"{finding.code} {headline(finding)}"
        issues.append(
            {
                "type": "issue",
                "description": description,
                "check_name": finding.code,
                "content": {"body": finding.suggestion or finding.title},
                "categories": ["Performance"],
                "fingerprint": digest,
                "severity": SEVERITY.get(finding.severity, "minor"),
                "location": {"path": path, "lines": {"begin": line}},
            }
        )
    return issues
