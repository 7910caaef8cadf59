"""``qprof check --format csv``: one row per finding, raw values, like every other listing."""

from __future__ import annotations

from collections.abc import Sequence

from qprof.findings import Finding
from qprof.output import Column, OutputFormat, render_rows

COLUMNS = [Column(key, key) for key in ("severity", "code", "name", "target", "table", "index", "statement", "source", "node", "message", "suggestion")]


def render(findings: Sequence[Finding]) -> str:
    return render_rows([finding.to_dict() for finding in findings], COLUMNS, OutputFormat.csv)
