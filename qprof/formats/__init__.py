"""Machine formats other tools read: SARIF (GitHub code scanning), GitLab Code Quality,
OpenMetrics (Prometheus' node_exporter textfile collector).

One module per format, each a pure function from qprof's results to a document or text; the
commands print them. Nothing here connects, reads files or imports a heavy library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qprof.findings import Finding

FINDING_FORMATS = ("csv", "sarif", "gitlab")


def render_findings(fmt: str, findings: Sequence[Finding], *, database: str, root: str, notes: Sequence[str] = ()) -> str:
    """``qprof check``'s findings as ``fmt`` (one of :data:`FINDING_FORMATS`): text for stdout.
    ``root`` is the checkout workload paths are made relative to; ``notes`` the run's warnings."""
    from qprof.output import render_json

    if fmt == "csv":
        from qprof.formats import findings_csv

        return findings_csv.render(findings)
    if fmt == "sarif":
        from qprof import __version__
        from qprof.advisors import all_rules
        from qprof.formats import sarif

        return render_json(sarif.render(findings, all_rules(), version=__version__, database=database, root=root, notifications=notes), schema=False)
    if fmt == "gitlab":
        from qprof.formats import gitlab

        return render_json(gitlab.render(findings, root=root), schema=False)  # type: ignore[arg-type]
    raise ValueError(f"unknown findings format {fmt!r}")
