"""``qprof indexes``: every index, and which ones are unused, duplicate, redundant or invalid."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from qprof.cli.options import DbOption, DebugOption, FormatOption, ProfileOption, StatementTimeoutOption, connect, connection_options, handle_errors
from qprof.index_classes import classify
from qprof.output import Column, OutputFormat, emit_listing, note, num, size, text, warn


class IndexClass(str, Enum):
    unused = "unused"
    duplicate = "duplicate"
    redundant = "redundant"
    invalid = "invalid"


COLUMNS = [
    Column("table", "table", align="left"),
    Column("index", "index", align="left"),
    Column("size_bytes", "size", size),
    Column("idx_scan", "scans", num),
    Column("constraint", "constraint", text, "left"),
    Column("valid", "valid", lambda v: "yes" if v else "NO", "left"),
    Column("classes", "class", text, "left"),
    Column("covered_by", "covered by", text, "left"),
    Column("definition", "definition", text, "left"),
]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    days, rest = divmod(int(seconds), 86400)
    return f"{days} d {rest // 3600} h" if days else f"{rest // 3600} h {rest % 3600 // 60} min"


@connection_options
def indexes(
    only: Annotated[list[IndexClass] | None, typer.Option("--only", help="Show only indexes of this class (repeatable).")] = None,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: FormatOption = OutputFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Show every index with size, scans and definition, classified as unused, duplicate, redundant or invalid.

    Unused means no scans since the statistics were last reset (the reset's age is shown);
    indexes backing a primary key, unique or exclusion constraint are never called unused.
    Redundant means its columns are a leading prefix of another valid index on the same table.

    \b
    Examples:
      qprof indexes --only unused --only duplicate
      qprof indexes --db app.sqlite --format json
    """
    stats: dict[str, Any] = {}
    with connect(db, profile, statement_timeout) as target:
        if target.engine == "postgresql":
            from qprof.collectors.pg_catalog import collect_indexes, collect_stats_reset

            stats = collect_stats_reset(target)
        else:
            from qprof.collectors.sqlite_catalog import collect_indexes
        found = classify(collect_indexes(target))
        description = target.describe()
        from qprof.advise.leftovers import report_leftovers

        earlier = report_leftovers(target, warn)  # indexes killed qprof runs left behind
    wanted = {c.value for c in only or []}
    shown = [i for i in found if not wanted or wanted & set(i.classes)]
    document = {
        "target": description,
        "stats_reset": stats.get("stats_reset"),
        "stats_age_seconds": stats.get("age_seconds"),
        "indexes": [i.to_dict() for i in shown],
        "qprof_leftovers": [item.to_dict() for item in earlier],
    }
    if fmt is OutputFormat.table and stats:
        if stats.get("stats_reset"):
            note(f"usage counted since the statistics reset at {stats['stats_reset'][:19]} ({_age(stats.get('age_seconds'))} ago)")
        else:
            note(f"usage counted since the statistics began (never reset; server up since {str(stats.get('server_started'))[:19]})")
    emit_listing(document, "indexes", COLUMNS, fmt)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(indexes))
