"""Windows over the history: which snapshots bound "the last hour", and what ran inside.

``windowed_statements`` is what ``qprof top --since 1h`` ranks: deltas presented as
StatementStats, so the same ranking code applies as for live pg_stat_statements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from qprof.errors import BadInput, QprofError
from qprof.history.store import Store, TargetRow, utcnow
from qprof.model import StatementStats
from qprof.units import parse_duration

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Window:
    """Snapshots ``first_id`` … ``last_id`` of one target; activity is what happened in between."""

    target: TargetRow
    snapshots: pd.DataFrame  # the snapshots inside, oldest first (the first is the starting point)
    requested_start: datetime | None = None

    @property
    def first_id(self) -> int:
        return int(self.snapshots["id"].iloc[0])

    @property
    def last_id(self) -> int:
        return int(self.snapshots["id"].iloc[-1])

    @property
    def start(self) -> datetime:
        return self.snapshots["taken_at"].iloc[0].to_pydatetime()

    @property
    def end(self) -> datetime:
        return self.snapshots["taken_at"].iloc[-1].to_pydatetime()

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def shorter_than_requested(self) -> bool:
        return self.requested_start is not None and self.start > self.requested_start + timedelta(minutes=1)

    def describe(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(timespec="seconds") + "Z",
            "end": self.end.isoformat(timespec="seconds") + "Z",
            "seconds": self.seconds,
            "first_snapshot": self.first_id,
            "last_snapshot": self.last_id,
            "snapshots": len(self.snapshots),
        }


def _too_few(store: Store, target: TargetRow) -> QprofError:
    return QprofError(
        f"need two snapshots of {target.name} in the window, found fewer in {store.description}",
        hint="take snapshots regularly (qprof snapshot from cron, e.g. every 5 minutes), or widen --since",
    )


def window_by_time(store: Store, target: TargetRow, start: datetime, end: datetime | None = None) -> Window | None:
    """The widest span of snapshots inside [start, end]: starting from the last one at or before
    ``start`` (or the first after it when history begins later). None if fewer than two."""
    frame = store.snapshots_frame(target.id)
    if end is not None:
        frame = frame[frame["taken_at"] <= end]
    if frame.empty:
        return None
    before = frame[frame["taken_at"] <= start]
    first_pos = before.index[-1] if not before.empty else frame.index[0]
    chosen = frame.loc[first_pos:].reset_index(drop=True)
    if len(chosen) < 2:
        return None
    return Window(target, chosen, requested_start=start)


def _snapshot_ref(frame: pd.DataFrame, ref: str) -> int:
    """Position of a snapshot given by id, or the last one taken at or before an ISO time."""
    import pandas as pd

    text = ref.strip()
    if text.isdigit():
        matches = frame.index[frame["id"] == int(text)]
        if len(matches) == 0:
            raise BadInput(f"no snapshot {text} for this database", hint="list them with: qprof snapshots list")
        return int(matches[0])
    try:
        when = pd.Timestamp(text)
    except ValueError:
        raise BadInput(f"invalid snapshot {ref!r}", hint="give a snapshot id or a time like 2024-05-01T12:00") from None
    if when.tzinfo is not None:
        when = when.tz_convert("UTC").tz_localize(None)
    earlier = frame.index[frame["taken_at"] <= when]
    if len(earlier) == 0:
        raise BadInput(f"no snapshot taken at or before {ref}")
    return int(earlier[-1])


def select_window(store: Store, target: TargetRow, *, since: str | float | None = None, between: tuple[str, str] | None = None) -> Window:
    """The window ``--since`` (a duration) or ``--between A B`` (ids or times) names."""
    if since is not None and between is not None:
        raise BadInput("use either --since or --between, not both")
    if between is not None:
        frame = store.snapshots_frame(target.id)
        a, b = sorted((_snapshot_ref(frame, between[0]), _snapshot_ref(frame, between[1])))
        if a == b:
            raise BadInput("--between needs two different snapshots")
        return Window(target, frame.loc[a:b].reset_index(drop=True))
    seconds = parse_duration(since if since is not None else "24h")
    window = window_by_time(store, target, utcnow() - timedelta(seconds=seconds))
    if window is None:
        raise _too_few(store, target)
    return window


def load_intervals(store: Store, window: Window) -> pd.DataFrame:
    """Per-statement deltas of every interval in the window."""
    from qprof.history.deltas import statement_intervals

    stats = store.statement_stats_frame(window.target.id, window.first_id, window.last_id)
    stats = stats[stats["snapshot_id"].isin(window.snapshots["id"])]
    return statement_intervals(window.snapshots, stats)


def statement_table(store: Store, window: Window, intervals: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per statement active in the window: text, window counters, mean, stddev, max."""
    from qprof.history.deltas import statement_totals

    intervals = load_intervals(store, window) if intervals is None else intervals
    totals = statement_totals(intervals)
    texts = store.statements_frame(window.target.id)
    table = totals.merge(texts, on="statement_id", how="left")
    last = store.statement_max_frame(window.last_id)
    table = table.merge(last, on="statement_id", how="left")
    table["max_ms"] = table["max_ms"].fillna(table["mean_ms"])
    table["new"] = table["first_snapshot_id"] > window.first_id
    return table


def _int(value: object) -> int:
    return 0 if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)


def to_statement_stats(table: pd.DataFrame, database: str) -> list[StatementStats]:
    """Window rows as the model's StatementStats (max_ms: highest since the last reset)."""
    out = []
    for row in table.itertuples(index=False):
        out.append(
            StatementStats(
                queryid=str(row.queryid),
                query=str(row.query),
                calls=_int(row.calls),
                total_ms=float(row.total_ms),
                mean_ms=float(row.mean_ms),
                stddev_ms=float(row.stddev_ms),
                max_ms=float(row.max_ms),
                rows=_int(row.rows),
                shared_blks_hit=_int(row.shared_blks_hit),
                shared_blks_read=_int(row.shared_blks_read),
                temp_blks=_int(row.temp_blks),
                io_ms=float(row.io_ms),
                database=database,
                user=str(row.user_name) or None,
                text_visible=str(row.query) != "<insufficient privilege>",
            )
        )
    return out


def windowed_statements(
    store_url: str,
    target_identity: str | None,
    since: str | float | None = None,
    between: tuple[str, str] | None = None,
) -> list[StatementStats]:
    """What each statement did inside the window, as StatementStats for ``rank_statements``.

    ``store_url``: path or SQLAlchemy URL; ``target_identity``: name, identity or database of a
    target in the store (None when it holds just one); ``since``: a duration such as ``1h``;
    ``between``: two snapshot ids or times.
    """
    with Store(store_url) as store:
        target = store.find_target(target_identity)
        window = select_window(store, target, since=since, between=between)
        table = statement_table(store, window)
        return to_statement_stats(table, target.database)
