"""``qprof.top``: the statements that cost the most."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qprof.api.base import Result
from qprof.api.session import Database, session
from qprof.errors import BadInput, QprofError

if TYPE_CHECKING:  # qprof.runner brings sqlglot: imported where it runs
    from qprof.runner import Skipped
    from qprof.model import StatementStats

RANK_BY = ("total", "mean", "calls", "rows", "io", "stddev", "max", "temp")


class NoStatements(QprofError):
    """Nothing to rank in the scope asked for (a metrics file then says so by being empty)."""


@dataclass
class TopResult(Result):
    """What :func:`top` returns; ``to_dict()`` is ``qprof top --format json``."""

    target: str
    source: str  # pg_stat_statements | workload | history
    by: str
    statements: list[StatementStats]  # ranked, at most ``limit``
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def hidden(self) -> list[StatementStats]:
        """Statements of other roles whose text this role may not read."""
        return [s for s in self.statements if not s.text_visible]

    def document(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "source": self.source,
            "by": self.by,
            "statements": [s.to_dict() for s in self.statements],
            "skipped": [s.to_dict() for s in self.skipped],
        }


def top(
    db: Database = None,
    *,
    by: str = "total",
    limit: int = 20,
    min_calls: int = 1,
    all_databases: bool = False,
    role: str | None = None,
    workload: str | Path | None = None,
    runs: int = 5,
    since: str | None = None,
    between: tuple[str, str] | None = None,
    store: str | None = None,
    target: str | None = None,
    profile: str | None = None,
    statement_timeout: str | float = "30s",
    allow_functions: str | Sequence[str] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> TopResult:
    """Rank statements by ``by`` (total, mean, calls, rows, io, stddev, max, temp).

    Sources: pg_stat_statements of the database (default); ``workload`` timed ``runs`` times
    (required on SQLite); or with ``since``/``between`` the snapshots in the history ``store``
    (``target`` names the database there). ``role`` keeps one role's statements; shares stay
    relative to everybody's time. Raises :class:`qprof.errors.QprofError` when there is nothing to rank.
    """
    from qprof.arguments import at_least
    from qprof.ranking import rank_statements

    at_least("--limit", limit, 1)
    at_least("--min-calls", min_calls, 1)
    at_least("--runs", runs, 1)
    if by not in RANK_BY:
        raise BadInput(f"cannot rank by {by!r}", hint="one of " + ", ".join(RANK_BY))
    if role is not None and workload is not None:  # a workload is timed by qprof's own session, as -U
        raise BadInput(
            "--role keeps the statements one role ran from pg_stat_statements or history; "
            "a --workload is timed by qprof's own login, so the two cannot be combined"
        )
    skipped: list[Skipped] = []
    total_ms: float | None = None
    if since is not None or between is not None:
        if workload is not None:
            raise BadInput("--since/--between rank stored history; they cannot be combined with --workload")
        from qprof.history.cli import windowed_source

        from qprof.targets import Target

        timeout = statement_timeout if isinstance(statement_timeout, str) else f"{statement_timeout}s"
        # the store's entry for the database db names (an open target cannot be identified here)
        statements, description = windowed_source(store, target, None if isinstance(db, Target) else db, profile, timeout, since, between)
        source = "history"
    else:
        with session(db, profile=profile, statement_timeout=statement_timeout, allow_functions=allow_functions) as live:
            if workload is not None:
                statements, skipped = _from_workload(live, Path(workload), runs, on_progress)
                source = "workload"
            else:
                statements, total_ms = _from_server(live, all_databases)
                source = "pg_stat_statements"
            description = live.describe()
    if role is not None:  # shares stay relative to everybody's time
        total_ms = sum(s.total_ms for s in statements) if total_ms is None else total_ms
        statements = [s for s in statements if s.user == role]
    if not any(s.calls >= min_calls for s in statements):
        scope = ("any database" if all_databases else "this database") + (f" run by role {role!r}" if role is not None else "")
        raise NoStatements(
            f"no statement statistics yet for {scope}" + (f" with at least {min_calls} calls" if min_calls > 1 else ""),
            hint="run the application's workload first, or lower --min-calls",
        )
    ranked = rank_statements(statements, by, limit, min_calls, total_ms=total_ms)
    return TopResult(description, source, by, list(ranked), skipped)


def _from_server(target: Any, all_databases: bool) -> tuple[list[StatementStats], float]:
    """The scope's statements and the top-level time that shares are computed against."""
    if target.engine != "postgresql":
        raise BadInput(
            "SQLite keeps no statement statistics",
            hint="time a workload instead: qprof top --db app.sqlite --workload queries/shop.sql",
        )
    from qprof.collectors.pg_statements import collect_statement_scope

    scope = collect_statement_scope(target, all_databases=all_databases)
    return scope.statements, scope.total_ms


def _from_workload(target: Any, workload: Path, runs: int, on_progress: Callable[[str], None] | None) -> tuple[list[StatementStats], list[Skipped]]:
    from qprof.runner import time_workload
    from qprof.workload import load_workload

    statements = load_workload(workload)
    return time_workload(target, statements, runs, on_progress=(lambda s: on_progress(s.name)) if on_progress else None)
