"""The answer to "may qprof execute this statement?", with the reasons a user can act on."""

from __future__ import annotations

from dataclasses import dataclass

from qprof.errors import QprofError


@dataclass(frozen=True)
class CalledFunction:
    """One function a statement may call, and by which route (``called``, ``trigger t on x`` …)."""

    schema: str | None
    name: str
    volatility: str  # immutable | stable | volatile | unknown (SQLite: builtin | not builtin)
    via: str = "called"
    owner: str | None = None
    extension: str | None = None
    arguments: str | None = None  # identity arguments, e.g. "tsquery, text"
    first_on_path: bool = False  # what an unqualified call of the name reaches first

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def describe(self) -> str:
        facts = [self.volatility]
        if self.owner:
            facts.append(f"owner {self.owner}")
        if self.extension:
            facts.append(f"extension {self.extension}")
        route = "" if self.via == "called" else f" via {self.via}"
        return f"{self.qualified} ({', '.join(facts)}){route}"


@dataclass(frozen=True)
class Verdict:
    """``allowed``: every function the statement may call is harmless (or allowed by the user).

    ``reasons`` name each function (or construct) that stopped it; ``blocking`` the names
    ``--allow-function`` would accept for them.
    """

    allowed: bool
    reasons: tuple[str, ...] = ()
    blocking: tuple[str, ...] = ()

    def message(self) -> str:
        return "; ".join(self.reasons)

    def to_dict(self) -> dict[str, object]:
        return {"allowed": self.allowed, "reasons": list(self.reasons), "blocking": list(self.blocking)}


class ExecutionRefused(QprofError):
    """A statement qprof will not execute (only a plain EXPLAIN is safe), with the verdict."""

    def __init__(self, verdict: Verdict) -> None:
        names = " ".join(f"--allow-function {name}" for name in verdict.blocking) or "--allow-function NAME"
        super().__init__(
            f"not executed: {verdict.message()}",
            hint=f"if you know it is harmless on this database: {names}",
        )
        self.verdict = verdict
