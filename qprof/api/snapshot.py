"""``qprof.snapshot``: record cumulative statistics into the history store (what cron runs)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from qprof.api.base import Result
from qprof.api.session import Database, session

# For tests of crash safety: seconds to hold the snapshot transaction open before COMMIT.
HOLD_ENV = "QPROF_SNAPSHOT_HOLD_SECONDS"


@dataclass
class SnapshotResult(Result):
    """What :func:`snapshot` returns; ``to_dict()`` is ``qprof snapshot --format json``."""

    snapshot: int  # its id in the store (what top/report --between take)
    target: str  # the name the database has in the store
    identity: str
    taken_at: datetime  # UTC
    statements: int
    tables: int
    indexes: int
    pss_stats_reset: datetime | None
    pruned: int
    store: str  # the store, without secrets

    def document(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot,
            "target": self.target,
            "identity": self.identity,
            "taken_at": self.taken_at.isoformat(timespec="seconds") + "Z",
            "statements": self.statements,
            "tables": self.tables,
            "indexes": self.indexes,
            "pss_stats_reset": self.pss_stats_reset.isoformat(timespec="seconds") + "Z" if self.pss_stats_reset else None,
            "pruned": self.pruned,
            "store": self.store,
        }


def _hold(snapshot_id: int) -> None:
    seconds = float(os.environ.get(HOLD_ENV, "0") or 0)
    if seconds > 0:
        sys.stderr.write(f"holding snapshot {snapshot_id} uncommitted for {seconds:g} s\n")
        sys.stderr.flush()
        time.sleep(seconds)


def snapshot(
    db: Database = None,
    *,
    name: str | None = None,
    keep: str | None = None,
    store: str | None = None,
    profile: str | None = None,
    statement_timeout: str | float = "30s",
) -> SnapshotResult:
    """Save pg_stat_statements, table and index counters, sizes and settings into the history store.

    All or nothing, safe when two runs overlap, and it never resets any statistics. ``name``
    labels the database in the store (default: its name); ``keep`` (e.g. ``"30d"``) then deletes
    this database's snapshots older than that; ``store`` is a SQLite path or a database URL
    (default: ``$QPROF_STORE``, the configuration, then the user's data folder).
    """
    from qprof.config import load_config
    from qprof.history.collect import collect_snapshot
    from qprof.history.location import resolve_store
    from qprof.history.store import Store, utcnow
    from qprof.units import parse_duration

    keep_seconds = parse_duration(keep) if keep else None
    with session(db, profile=profile, statement_timeout=statement_timeout) as target:
        data = collect_snapshot(target, name)
    with Store(resolve_store(store, load_config())) as history:
        snapshot_id = history.save_snapshot(data, before_commit=_hold)
        pruned = 0
        if keep_seconds is not None:
            target_row = history.find_target(data.identity)
            pruned = history.prune(utcnow() - timedelta(seconds=keep_seconds), target_row.id)
        description = history.description
    return SnapshotResult(
        snapshot=snapshot_id,
        target=data.name,
        identity=data.identity,
        taken_at=data.taken_at,
        statements=len(data.statements),
        tables=len(data.tables),
        indexes=len(data.indexes),
        pss_stats_reset=data.pss_stats_reset,
        pruned=pruned,
        store=description,
    )
