"""One connection abstraction, two engines: everything engine-specific lives behind a Target."""

from __future__ import annotations

from qprof.conninfo import TargetSpec
from qprof.targets.base import Target, Timing


def open_target(spec: TargetSpec, *, statement_timeout: float = 30.0, lock_timeout: float = 5.0) -> Target:
    """Connect to what ``spec`` names, read-only, with the given timeouts (seconds)."""
    if spec.engine == "sqlite":
        from qprof.targets.sqlite import SqliteTarget

        return SqliteTarget(spec, statement_timeout=statement_timeout)
    from qprof.targets.postgres import PostgresTarget

    return PostgresTarget(spec, statement_timeout=statement_timeout, lock_timeout=lock_timeout)


__all__ = ["Target", "Timing", "open_target"]
