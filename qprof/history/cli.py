"""Options the history commands share (snapshot, report, baseline, bench, top --since)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from qprof.config import load_config
from qprof.history.location import resolve_store

if TYPE_CHECKING:
    from qprof.history.store import Store, TargetRow

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="History store: a SQLite file or SQLAlchemy URL (postgresql://…). "
        "Default: $QPROF_STORE, then store = in the config, then $XDG_DATA_HOME/qprof/history.db.",
        show_default=False,
    ),
]
TargetOption = Annotated[
    str | None,
    typer.Option(
        "--target",
        "-t",
        help="Which database of the store (its snapshot --name, identity or database name); needed when the store holds several and --db is not given.",
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (for cron).")]


def store_location(store: str | None) -> str:
    return resolve_store(store, load_config())


SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Window: the last DURATION of history (e.g. 1h, 24h, 7d)."),
]
BetweenOption = Annotated[
    tuple[str, str] | None,
    typer.Option("--between", help="Window: between two snapshots, by id (qprof snapshots list) or time (2024-05-01T12:00).", show_default=False),
]


def history_target(history: Store, target: str | None, db: str | None, profile: str | None, statement_timeout: str) -> TargetRow:
    """The store's entry for --target, else for the database --db/--profile names, else the only one."""
    if target or not (db or profile):
        return history.find_target(target)
    from qprof.history.collect import identify
    from qprof.targets.session import session

    with session(db, profile=profile, statement_timeout=statement_timeout) as live:
        who = identify(live)
    return history.find_target(who.identity)


def windowed_source(
    store: str | None,
    target: str | None,
    db: str | None,
    profile: str | None,
    statement_timeout: str,
    since: str | None,
    between: tuple[str, str] | None,
) -> tuple[list, str]:
    """``qprof top --since/--between``: the window's statements and a description of where from."""
    from qprof.history.store import Store
    from qprof.history.window import select_window, statement_table, to_statement_stats

    with Store(store_location(store)) as history:
        chosen = history_target(history, target, db, profile, statement_timeout)
        window = select_window(history, chosen, since=since, between=between)
        statements = to_statement_stats(statement_table(history, window), chosen.database)
        span = window.describe()
        return statements, f"history {chosen.name} {span['start']} → {span['end']} ({history.description})"
