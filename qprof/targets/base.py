"""The interface both engines implement."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qprof.conninfo import TargetSpec


@dataclass(frozen=True)
class Timing:
    """One measured execution of a statement: wall milliseconds and rows returned or affected."""

    ms: float
    rows: int


class Target(ABC):
    """A read-only session on one database, with a statement timeout on everything it runs."""

    engine: str = ""

    def __init__(self, spec: TargetSpec, *, statement_timeout: float) -> None:
        self.spec = spec
        self.statement_timeout = statement_timeout
        # --allow-function names (lower case) and the verdicts of qprof.safety, cached per statement
        self.allowed_functions: frozenset[str] = frozenset()
        self.verdicts: dict[str, Any] = {}

    def describe(self) -> str:
        """Where we are connected, safe to print (no password)."""
        return self.spec.describe()

    @property
    @abstractmethod
    def database_name(self) -> str:
        """A short name for file names and report titles."""

    @abstractmethod
    def fetch_all(self, query: Any, params: Any = None) -> list[dict[str, Any]]:
        """Run a read-only query and return its rows as dicts."""

    @abstractmethod
    def execute_timed(self, sql: str, params: Sequence[Any], *, modifying: bool) -> Timing:
        """Execute a workload statement (``$n`` placeholders) once and time it.

        A data-modifying statement runs in a transaction that is always rolled back. A
        statement that :mod:`qprof.safety` does not clear raises ExecutionRefused instead.
        """

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
