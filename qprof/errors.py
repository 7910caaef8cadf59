"""Expected failures and the exit codes CI can gate on.

Every failure a user can cause (bad connection string, missing extension, unparseable SQL, …)
is raised as a :class:`QprofError` carrying a one-line message and, where there is one, the
exact command that fixes it. The CLI prints those without a traceback; anything else is a bug.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1  # a --fail-on gate matched
EXIT_USAGE = 2  # usage, connection or environment problem
EXIT_INTERNAL = 3  # a bug in qprof: rerun with --debug and report it


class QprofError(Exception):
    """A failure the user can fix; ``hint`` says how."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConnectionFailed(QprofError):
    """The server could not be reached or refused the login."""


class ExtensionMissing(QprofError):
    """A required extension is not installed, created or preloaded."""


class PermissionDenied(QprofError):
    """The role lacks a privilege the command needs."""


class BadInput(QprofError):
    """Unparseable SQL, an unknown table, a file that is not what it claims to be, …"""


class StatementFailed(QprofError):
    """One statement failed (timeout, error); runs over a workload report and skip these."""
