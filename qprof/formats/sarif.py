"""SARIF 2.1.0 for GitHub code scanning (``qprof check --format sarif``).

One run; the driver lists every rule qprof has (id = the rule code, with its title, its
documentation as help, and its default level), each finding is a result with the rule's id and
index, its level, the message with the fix, and a location: the workload file and line when the
finding is about a statement from a file, else a logical location naming the table, index or
statement. ``partialFingerprints`` carry qprof's own stable key, so code scanning tracks a
finding across runs even when the message's numbers change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from qprof.findings import Finding
from qprof.formats.findings_id import database_path, fingerprints, headline, source_file

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _rule(rule: Any) -> dict[str, Any]:
    doc = rule.doc or rule.title
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": doc.split("\n\n")[0].replace("\n", " ")},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": LEVEL.get(rule.severity, "warning")},
        "properties": {"tags": ["performance", f"{rule.scope}-rule"], "engines": list(rule.engines)},
    }


def _location(finding: Finding, root: str | None, database: str) -> dict[str, Any]:
    where = source_file(finding, root)
    path, line = where if where is not None else (database_path(finding), 1)
    logical: dict[str, Any] = {"name": finding.target, "kind": "resource"}
    if where is None:
        logical["fullyQualifiedName"] = f"{database}/{finding.target}"
    return {
        "physicalLocation": {"artifactLocation": {"uri": quote(path)}, "region": {"startLine": line}},
        "logicalLocations": [logical],
    }


def _message(finding: Finding) -> str:
    return headline(finding) + (f" — fix: {finding.suggestion}" if finding.suggestion else "")


def render(
    findings: Sequence[Finding],
    rules: Iterable[Any],
    *,
    version: str,
    database: str,
    root: str | None = None,
    notifications: Sequence[str] = (),
) -> dict[str, Any]:
    """The SARIF log: ``rules`` are every rule (``qprof.advisors.all_rules()``), ``database`` names
    the target (redacted), ``notifications`` are warnings of the run (skipped statements, …)."""
    catalogue = [_rule(rule) for rule in rules]
    index = {entry["id"]: i for i, entry in enumerate(catalogue)}
    results = []
    for finding, digest in zip(findings, fingerprints(findings), strict=True):
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "level": LEVEL.get(finding.severity, "warning"),
            "message": {"text": _message(finding)},
            "locations": [_location(finding, root, database)],
            "partialFingerprints": {"qprofFinding/v1": digest},
            "properties": {"severity": finding.severity, "evidence": dict(finding.evidence)},
        }
        if finding.code in index:
            result["ruleIndex"] = index[finding.code]
        results.append(result)
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notifications:
        invocation["toolExecutionNotifications"] = [{"level": "warning", "message": {"text": text}} for text in notifications]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "qprof", "version": version, "rules": catalogue}},
                "invocations": [invocation],
                "results": results,
                "properties": {"database": database},
            }
        ],
    }
