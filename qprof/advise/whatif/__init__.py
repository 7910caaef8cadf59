"""What-if evaluation: what would a statement cost if these indexes existed?

Four evaluators share one cache and one pair of counters:

* :class:`HypoPGWhatIf` — HypoPG's hypothetical indexes (session-local, nothing is built), costs
  from the planner (generic plans for ``$n`` statements). Hypothetical indexes are created and
  dropped as configurations change, reset in batches (HypoPG hands out a limited range of fake
  OIDs) and always reset when the evaluator closes, even after an error.
* :class:`BuildWhatIf` — ``--whatif build`` for servers without HypoPG: each configuration is
  built for real inside a transaction that is rolled back (it takes a SHARE lock on the table
  while it builds; ``lock_timeout`` bounds the wait).
* :class:`HeuristicWhatIf` — no server help at all: a rough page-count model, clearly labelled.
* :class:`SqliteWhatIf` — SQLite: indexes built on a scratch copy of the file (never the
  original), cost = measured time, re-measured only when EXPLAIN QUERY PLAN changes.

The cache key is (statement, the candidate indexes of the configuration that sit on the
statement's tables): indexes elsewhere cannot change its plan, so no configuration that matters
to a statement is costed twice.
"""

from __future__ import annotations

from typing import Any

from qprof.advise.catalog import Catalog
from qprof.advise.whatif.base import (
    BYTES_PER_PAGE,
    WhatIf,
    estimated_size,
    indexed_columns,
    maintains,
    planner_cost,
    useful_columns,
    written_tables,
)
from qprof.advise.whatif.build import BuildWhatIf
from qprof.advise.whatif.heuristic import HeuristicWhatIf
from qprof.advise.whatif.hypopg import HYPOPG_BATCH, HypoPGWhatIf
from qprof.advise.whatif.sqlite import SqliteWhatIf
from qprof.errors import BadInput, QprofError

__all__ = [
    "BYTES_PER_PAGE",
    "HYPOPG_BATCH",
    "BuildWhatIf",
    "HeuristicWhatIf",
    "HypoPGWhatIf",
    "SqliteWhatIf",
    "WhatIf",
    "estimated_size",
    "indexed_columns",
    "maintains",
    "make_whatif",
    "planner_cost",
    "useful_columns",
    "written_tables",
]


def make_whatif(target: Any, catalog: Catalog, mode: str, *, lock_timeout: float = 5.0, warn=lambda message: None) -> WhatIf:
    """The evaluator ``--whatif`` asks for (auto: HypoPG when created, else the heuristic)."""
    if target.engine == "sqlite":
        return SqliteWhatIf(target.path, catalog, statement_timeout=target.statement_timeout)
    if mode in ("auto", "hypopg"):
        version = target.extension_version("hypopg")
        if version is not None:
            return HypoPGWhatIf(target, catalog)
        from qprof.extension_hints import hypopg_create_hint, hypopg_missing_message

        if mode == "hypopg":
            raise QprofError(
                f"the hypopg extension is not created in database {target.database_name!r}",
                hint=hypopg_create_hint(target) + " (or --whatif build on staging, or --whatif heuristic)",
            )
        warn(hypopg_missing_message(target))
        return HeuristicWhatIf(catalog, target)
    if mode == "build":
        warn(
            "--whatif build creates each candidate index for real inside a transaction that is rolled back; "
            f"CREATE INDEX holds a SHARE lock on the table while it builds (writes wait; lock_timeout {lock_timeout:g} s)"
        )
        return BuildWhatIf(target, catalog, lock_timeout=lock_timeout)
    if mode == "heuristic":
        return HeuristicWhatIf(catalog, target)
    raise BadInput(f"unknown --whatif mode {mode!r}", hint="use auto, hypopg, build or heuristic")
