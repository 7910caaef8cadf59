"""What makes two findings "the same" from one run to the next, for the formats that track them."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePath

from qprof.findings import Finding


# Evidence that says WHICH thing a database finding is about (QP402's setting, QP401's problem, a
# foreign key's constraint), unlike the numbers beside it, which change every run.
_IDENTITY = ("setting", "problem", "constraint", "columns", "detail")


def finding_key(finding: Finding) -> str:
    """The rule and what the finding is about — never its numbers, which change every run: a
    workload statement by its normalized text and file (not its line or its positional name, so
    that editing the file above it keeps it), a database finding by its object and evidence."""
    path = finding.source.rpartition(":")[0] if finding.source and ":" in finding.source else finding.source
    which = [f"{key}={finding.evidence[key]}" for key in _IDENTITY if finding.evidence.get(key) is not None]
    statement = finding.query if finding.query is not None else finding.statement
    parts = (finding.code, finding.table, finding.index, statement, path, finding.node, *which)
    return "\x1f".join("" if part is None else str(part) for part in parts)


def fingerprints(findings: Sequence[Finding]) -> list[str]:
    """A stable 32-hex-digit digest of each finding's :func:`finding_key`, unique within the run:
    the second finding with the same key (one rule, two plan nodes alike) gets ``#2`` in its key."""
    seen: Counter[str] = Counter()
    digests = []
    for finding in findings:
        key = finding_key(finding)
        seen[key] += 1
        if seen[key] > 1:
            key += f"#{seen[key]}"
        digests.append(hashlib.sha256(key.encode()).hexdigest()[:32])
    return digests


def source_file(finding: Finding, root: str | None = None) -> tuple[str, int] | None:
    """``(path, line)`` of the workload statement a finding is about, when it came from a file;
    the path relative to ``root`` (the repository checkout, where code scanning resolves it)
    when it lies inside, with forward slashes."""
    if not finding.source or finding.source.startswith("<") or ":" not in finding.source:
        return None
    path, _, line = finding.source.rpartition(":")
    if not path or not line.isdigit():
        return None
    if root:  # a relative path is the cwd's, which may be a folder below the checkout's root
        relative = os.path.relpath(os.path.abspath(path), root)
        path = path if relative.startswith("..") else relative
    return PurePath(path).as_posix(), max(1, int(line))


def checkout_root() -> str:
    """The folder code scanning resolves paths from: the git work tree's top level when the cwd is
    inside one (run from ``svc/``, a workload is ``svc/queries/x.sql``), else the cwd."""
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # no git installed: the cwd
        return os.getcwd()
    top = done.stdout.strip()
    return top if done.returncode == 0 and top else os.getcwd()


def headline(finding: Finding) -> str:
    """``target: message`` — without saying the target twice when the message starts with it."""
    if finding.message.startswith(finding.target):
        return finding.message
    return f"{finding.target}: {finding.message}"


def database_path(finding: Finding) -> str:
    """Where a finding with no workload file points: ``database/<table, index or statement>``.

    Not a file in the repository: GitHub code scanning rejects a result without an artifact
    location and GitLab needs a path, so the database object stands in for one.
    """
    return "database" if finding.target == "database" else f"database/{finding.target}"
