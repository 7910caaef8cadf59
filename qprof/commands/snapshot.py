"""``qprof snapshot``: record cumulative statistics into the history store (for cron).

Also ``qprof snapshots list`` and ``qprof snapshots prune --keep 30d``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from qprof.cli.options import DbOption, DebugOption, FormatOption, ProfileOption, StatementTimeoutOption, connection_options, handle_errors
from qprof.history.cli import QuietOption, StoreOption, TargetOption, store_location
from qprof.output import Column, OutputFormat, emit, emit_listing, note, num, render_json, text
from qprof.units import parse_duration

KeepOption = Annotated[
    str | None,
    typer.Option("--keep", help="Afterwards delete snapshots older than this (e.g. 30d, 12w) for this database."),
]


@connection_options
def snapshot(
    name: Annotated[str | None, typer.Option("--name", help="Label for this database in the store and reports (default: its name).")] = None,
    keep: KeepOption = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: FormatOption = OutputFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Record pg_stat_statements, table and index counters, sizes and settings into the history store.

    All or nothing, safe when two runs overlap, and it never resets any statistics.

    \b
    Examples:
      qprof snapshot --db postgresql://monitor@db1/shop -q
      qprof snapshot --store postgresql://qprof@history/qprof --keep 30d
    """
    from qprof.api.snapshot import snapshot as take

    result = take(db, name=name, keep=keep, store=store, profile=profile, statement_timeout=statement_timeout)
    if fmt is OutputFormat.json:
        emit(render_json(result.to_dict()))
    elif not quiet:
        note(
            f"snapshot {result.snapshot} of {result.target}: {result.statements} statements, {result.tables} tables, "
            f"{result.indexes} indexes → {result.store}" + (f" (pruned {result.pruned} old)" if result.pruned else "")
        )


snapshots_app = typer.Typer(help="List or prune the snapshots in the history store.", no_args_is_help=True)

LIST_COLUMNS = [
    Column("id", "id"),
    Column("target", "database", align="left"),
    Column("taken_at", "taken at (UTC)", align="left"),
    Column("statements", "statements", num),
    Column("pss_stats_reset", "pg_stat_statements reset", text, "left"),
]


@snapshots_app.command("list")
@handle_errors
def list_snapshots(
    target: TargetOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show the newest N snapshots.")] = 50,
    store: StoreOption = None,
    fmt: FormatOption = OutputFormat.table,
    debug: DebugOption = False,
) -> None:
    """List snapshots, newest last (ids are what top/report --between take)."""
    from qprof.history.store import Store

    with Store(store_location(store)) as history:
        chosen = [history.find_target(target)] if target else history.targets()
        rows = []
        for row in chosen:
            frame = history.snapshots_frame(row.id)
            for snap in frame.itertuples(index=False):
                rows.append(
                    {
                        "id": int(snap.id),
                        "target": row.name,
                        "taken_at": snap.taken_at.isoformat(timespec="seconds") + "Z",
                        "statements": int(snap.statement_count),
                        "pss_stats_reset": None
                        if snap.pss_stats_reset is None or str(snap.pss_stats_reset) == "NaT"
                        else snap.pss_stats_reset.isoformat(timespec="seconds") + "Z",
                    }
                )
        description = history.description
    rows.sort(key=lambda r: (r["taken_at"], r["id"]))
    rows = rows[-limit:]
    emit_listing({"store": description, "snapshots": rows}, "snapshots", LIST_COLUMNS, fmt)


@snapshots_app.command("prune")
@handle_errors
def prune_snapshots(
    keep: Annotated[str, typer.Option("--keep", help="Delete snapshots older than this (e.g. 30d).")],
    target: TargetOption = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
    fmt: FormatOption = OutputFormat.table,
    debug: DebugOption = False,
) -> None:
    """Delete old snapshots (of every database in the store, or of --target)."""
    from qprof.history.store import Store, utcnow

    cutoff = utcnow() - timedelta(seconds=parse_duration(keep))
    with Store(store_location(store)) as history:
        target_id = history.find_target(target).id if target else None
        count = history.prune(cutoff, target_id)
    if fmt is OutputFormat.json:
        emit(render_json({"pruned": count, "older_than": cutoff.isoformat(timespec="seconds") + "Z"}))
    elif not quiet:
        note(f"pruned {count} snapshot(s) taken before {cutoff.isoformat(timespec='seconds')}Z")


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(snapshot))
    app.add_typer(snapshots_app, name="snapshots")
