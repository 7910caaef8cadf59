"""Findings for people (ruff-like lines), for PRs (markdown), for CI (GitHub annotations), as JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from qprof.findings import SEVERITIES, Finding


def summary(findings: Sequence[Finding]) -> str:
    counts = Counter(f.severity for f in findings)
    parts = [f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts[s]]
    total = len(findings)
    return f"{total} finding{'s' if total != 1 else ''}" + (f" ({', '.join(parts)})" if parts else "")


def _where(finding: Finding) -> str:
    place = finding.target
    if finding.source and finding.statement:
        place += f" ({finding.source})"
    return place


def render_text(findings: Sequence[Finding]) -> str:
    """One block per finding: code, severity, where; the message; the fix."""
    lines = []
    for f in findings:
        lines.append(f"{f.code} {f.severity:<7} {_where(f)}")
        lines.append(f"    {f.message}")
        if f.suggestion:
            lines.append(f"    fix: {f.suggestion}")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(findings: Sequence[Finding]) -> str:
    rows = ["| severity | code | where | finding | fix |", "| --- | --- | --- | --- | --- |"]
    for f in findings:
        fix = f"`{_md(f.suggestion)}`" if f.suggestion else ""
        rows.append(f"| {f.severity} | {f.code} | {_md(_where(f))} | {_md(f.message)} | {fix} |")
    return "\n".join(rows)


_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: Sequence[Finding]) -> str:
    """GitHub Actions workflow commands: ``::warning file=…,line=…,title=…::message``."""
    lines = []
    for f in findings:
        props = []
        if f.source and ":" in f.source and not f.source.startswith("<"):
            path, _, line = f.source.rpartition(":")
            props.append(f"file={_escape_property(path)}")
            if line.isdigit():
                props.append(f"line={line}")
        props.append(f"title={_escape_property(f'{f.code} {f.name}')}")
        body = f"{f.target}: {f.message}" + (f" — fix: {f.suggestion}" if f.suggestion else "")
        lines.append(f"::{_LEVEL.get(f.severity, 'warning')} {','.join(props)}::{_escape_data(body)}")
    return "\n".join(lines)
