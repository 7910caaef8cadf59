"""Per-interval deltas of cumulative counters, with resets and evictions treated as restarts.

pg_stat_statements, pg_stat_user_tables and pg_stat_user_indexes only ever count up, from the
last reset (or from when an entry was created). Between two consecutive snapshots the activity of
one row is ``current - previous`` unless the counter restarted inside the interval, in which case
it is ``current`` (what accumulated since the restart). A restart is recognised when

* the reset time the server reports changed (pg_stat_statements_info.stats_reset for statements,
  pg_stat_database.stats_reset for tables and indexes),
* any counter of the row went down (a partial reset, or an entry evicted and re-created), or
* the row was absent from the previous snapshot (new, or re-created after eviction).

So a window never shows negative or inflated figures; it may under-count what ran between the
last snapshot before a reset and the reset itself, which no one can know.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

STATEMENT_COUNTERS = [
    "calls",
    "total_ms",
    "rows",
    "shared_blks_hit",
    "shared_blks_read",
    "temp_blks",
    "io_ms",
    "sum_sq",
]
TABLE_COUNTERS = ["seq_scan", "seq_tup_read", "idx_scan", "n_tup_ins", "n_tup_upd", "n_tup_del"]
INDEX_COUNTERS = ["idx_scan"]


def snapshot_order(snapshots: pd.DataFrame, reset_column: str | None) -> pd.DataFrame:
    """Each snapshot with its predecessor, the interval length and whether a reset was reported."""
    order = snapshots.sort_values(["taken_at", "id"]).reset_index(drop=True)[["id", "taken_at"]].copy()
    order["prev_id"] = order["id"].shift()
    order["interval_s"] = order["taken_at"].diff().dt.total_seconds()
    if reset_column is not None and reset_column in snapshots:
        marks = snapshots.sort_values(["taken_at", "id"]).reset_index(drop=True)[reset_column]
        order["reset"] = marks.notna() & (marks != marks.shift()) & order["prev_id"].notna()
    else:
        order["reset"] = False
    return order


def with_sum_of_squares(stats: pd.DataFrame) -> pd.DataFrame:
    """Add Σx² per statement (from calls, mean, stddev) so a window's stddev can be derived."""
    if "sum_sq" in stats:
        return stats
    stats = stats.copy()
    stats["sum_sq"] = stats["calls"] * (stats["stddev_ms"] ** 2 + stats["mean_ms"] ** 2)
    return stats


def counter_deltas(
    snapshots: pd.DataFrame,
    rows: pd.DataFrame,
    keys: Sequence[str],
    counters: Sequence[str],
    reset_column: str | None = None,
) -> pd.DataFrame:
    """Activity per (snapshot, key) in the interval ending at that snapshot.

    ``rows`` holds cumulative counters with ``snapshot_id`` and ``keys``; the first snapshot only
    serves as the starting point. The result has the keys, ``snapshot_id``, ``taken_at``,
    ``interval_s``, the counters as deltas, and ``restarted`` (the counters began again inside).
    """
    keys, counters = list(keys), list(counters)
    order = snapshot_order(snapshots, reset_column)
    columns = ["snapshot_id", *keys, *counters]
    if rows.empty or len(order) < 2:
        return pd.DataFrame(columns=[*columns, "taken_at", "interval_s", "restarted"])
    values = rows[columns].copy()
    values[counters] = values[counters].astype("float64").fillna(0.0)
    current = values.merge(order.rename(columns={"id": "snapshot_id"}), on="snapshot_id", how="inner")
    current = current[current["prev_id"].notna()]
    current["prev_id"] = current["prev_id"].astype(values["snapshot_id"].dtype)
    previous = values.rename(columns={"snapshot_id": "prev_id", **{c: f"{c}__prev" for c in counters}})
    merged = current.merge(previous, on=["prev_id", *keys], how="left")
    now = merged[counters].to_numpy(dtype="float64")
    before = merged[[f"{c}__prev" for c in counters]].to_numpy(dtype="float64")
    absent = np.isnan(before[:, 0])
    with np.errstate(invalid="ignore"):
        went_down = (now < before - 1e-9 * np.abs(before) - 1e-9).any(axis=1)
    restarted = merged["reset"].to_numpy(dtype=bool) | went_down | absent
    delta = np.where(restarted[:, None], now, now - np.nan_to_num(before))
    result = merged[["snapshot_id", *keys, "taken_at", "interval_s"]].copy()
    result[counters] = delta
    result["restarted"] = restarted & ~absent  # a new row is not a reset
    result["new"] = absent
    return result.reset_index(drop=True)


def statement_intervals(snapshots: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    """Per-statement deltas for every interval between consecutive snapshots."""
    return counter_deltas(snapshots, with_sum_of_squares(stats), ["statement_id"], STATEMENT_COUNTERS, "pss_stats_reset")


def statement_totals(intervals: pd.DataFrame) -> pd.DataFrame:
    """One row per statement: counters summed over the window, mean and stddev within it."""
    if intervals.empty:  # typed, so merges on statement_id work on a window without activity
        columns = {"statement_id": "int64", **dict.fromkeys([*STATEMENT_COUNTERS, "mean_ms", "stddev_ms"], "float64"), "restarts": "int64"}
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
    grouped = intervals.groupby("statement_id", sort=False)
    totals = grouped[STATEMENT_COUNTERS].sum()
    totals["restarts"] = grouped["restarted"].sum().astype(int)
    totals = totals[totals["calls"] > 0].copy()
    totals["mean_ms"] = totals["total_ms"] / totals["calls"]
    variance = totals["sum_sq"] / totals["calls"] - totals["mean_ms"] ** 2
    totals["stddev_ms"] = np.sqrt(variance.clip(lower=0.0))
    return totals.reset_index()


def reset_snapshots(snapshots: pd.DataFrame) -> list[int]:
    """Ids of snapshots at which the server reported a full pg_stat_statements reset."""
    order = snapshot_order(snapshots, "pss_stats_reset")
    return [int(i) for i in order.loc[order["reset"], "id"]]


def window_change(intervals: pd.DataFrame, keys: Sequence[str], counters: Sequence[str]) -> pd.DataFrame:
    """Counters of tables or indexes summed over the window (one row per key)."""
    if intervals.empty:
        return pd.DataFrame({**{k: pd.Series(dtype="object") for k in keys}, **{c: pd.Series(dtype="float64") for c in counters}})
    return intervals.groupby(list(keys), sort=False)[list(counters)].sum().reset_index()
