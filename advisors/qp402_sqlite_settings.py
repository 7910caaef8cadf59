"""QP402 sqlite.settings — SQLite file not in WAL mode, never ANALYZEd, or foreign keys unenforced.

Anti-patterns:

* ``journal_mode`` other than WAL: readers and the writer block each other, and every commit
  rewrites a rollback journal;
* no ``sqlite_stat1`` table: ``ANALYZE`` never ran, so the planner guesses table sizes and index
  selectivity (and may pick the wrong index);
* the schema declares foreign keys, but ``PRAGMA foreign_keys`` is off by default on every new
  connection, so nothing enforces them unless the application turns it on.

Fix: ``PRAGMA journal_mode = WAL;`` (persistent), ``ANALYZE;`` (then ``PRAGMA optimize;`` when
connections close), and ``PRAGMA foreign_keys = ON;`` in the application's connection setup.

Options: ``require_wal``, ``require_analyze``, ``check_foreign_keys`` (booleans).

Example: ``journal_mode is delete, not WAL: readers and the writer block each other``, fix
``PRAGMA journal_mode = WAL;``.

Known problems: ``PRAGMA foreign_keys`` is a per-connection setting; qprof sees its own
connection's value (off), not the application's, so the finding is ``info``.
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding

from .base import DATABASE, make_rule
from .context import DatabaseContext


def check(db: DatabaseContext, options: dict) -> Iterator[Finding]:
    settings = db.settings
    mode = settings.get("journal_mode")
    if options["require_wal"] and mode is not None and mode != "wal":
        yield RULE.finding(
            f"journal_mode is {mode}, not WAL: readers and the writer block each other",
            evidence={"setting": "journal_mode", "value": mode},
            suggestion="PRAGMA journal_mode = WAL;",
        )
    if options["require_analyze"] and settings.get("has_stat1") is False and db.tables:
        yield RULE.finding(
            "the database was never ANALYZEd (no sqlite_stat1): the planner guesses table sizes and selectivity",
            evidence={"setting": "sqlite_stat1", "value": None, "tables": len(db.tables)},
            suggestion="ANALYZE;  and run PRAGMA optimize; when long-lived connections close",
        )
    if options["check_foreign_keys"] and db.foreign_keys and not settings.get("foreign_keys"):
        yield RULE.finding(
            f"{len(db.foreign_keys)} foreign keys are declared but PRAGMA foreign_keys is off by default: "
            "nothing enforces them unless every connection enables it",
            evidence={"setting": "foreign_keys", "value": False, "foreign_keys": len(db.foreign_keys)},
            suggestion="PRAGMA foreign_keys = ON;  in the application's connection setup",
            severity="info",
        )


RULE = make_rule(
    __doc__,
    code="QP402",
    name="sqlite.settings",
    severity="warning",
    title="SQLite settings: not WAL, never ANALYZEd, foreign keys off",
    scope=DATABASE,
    engines=("sqlite",),
    options={"require_wal": True, "require_analyze": True, "check_foreign_keys": True},
    check=check,
)
