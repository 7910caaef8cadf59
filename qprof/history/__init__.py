"""History: snapshots of cumulative statistics in a store, and what happened between them.

``qprof snapshot`` copies pg_stat_statements, table and index counters into the store (SQLite by
default, any SQLAlchemy URL otherwise); :mod:`qprof.history.deltas` turns consecutive snapshots
into per-interval activity, restarting counters where statistics were reset; windows and reports
are built on those deltas. qprof never resets anybody's statistics to get there.
"""

from __future__ import annotations
