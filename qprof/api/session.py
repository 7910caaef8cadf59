"""The API's connection helper (``qprof.session``): :func:`qprof.targets.session.session`, which
every layer that connects (the CLI, record, history) shares."""

from __future__ import annotations

from qprof.targets.session import Database, allowed, session

__all__ = ["Database", "allowed", "session"]
