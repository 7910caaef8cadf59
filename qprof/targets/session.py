"""The one way qprof reaches a database from what a user gave: a db string/URI, psql-style
options, a profile, or an open target (the API, the CLI, record and history all connect here)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Union

from qprof.errors import BadInput

if TYPE_CHECKING:
    from qprof.config import Config
    from qprof.conninfo import ConnectionOptions
    from qprof.targets import Target

# a db string/URI, a SQLite file's path, psql-style options (-h/-p/-U with or without --db), or an open target
Database = Union[str, "os.PathLike[str]", "ConnectionOptions", "Target", None]


def allowed(allow_functions: str | Sequence[str] | None) -> frozenset[str]:
    """``--allow-function`` names as the safety gate compares them (one name or several)."""
    from qprof.arguments import several

    return frozenset(name.strip().lower() for name in several(allow_functions, "allow_functions") or () if name.strip())


@contextmanager
def session(
    db: Database = None,
    *,
    profile: str | None = None,
    statement_timeout: str | float = "30s",
    allow_functions: str | Sequence[str] | None = None,
    config: Config | None = None,
) -> Iterator[Target]:
    """An open, read-only target, closed again afterwards — unless the caller passed one open
    (then it is used as it is and left open; ``allow_functions`` are added to what it allows for
    this session only: a later call on the same target is not allowed them).

    ``db``: a ``postgresql://`` URI, a ``host=… dbname=…`` DSN, ``sqlite:///path``, a SQLite file or
    :class:`qprof.conninfo.ConnectionOptions` (psql's -h/-p/-U over them);
    None means ``profile``, then ``$QPROF_DB``, then libpq's PG* variables. ``statement_timeout``: a
    duration (``"30s"``) or seconds.
    """
    from qprof.conninfo import ConnectionOptions
    from qprof.targets import Target

    if isinstance(db, Target):
        # the allowance lasts for the call that gave it: a function that moves a sequence, allowed
        # for one explain, must not run unasked in the next call on the caller's target
        before = db.allowed_functions
        db.allowed_functions = frozenset(before or ()) | allowed(allow_functions)
        try:
            yield db
        finally:
            db.allowed_functions = before
        return
    if isinstance(db, os.PathLike):
        db = os.fspath(db)  # a SQLite file as a Path
    if not (db is None or isinstance(db, (str, ConnectionOptions))):
        raise BadInput(
            f"db must be a connection string or URI, a SQLite file path, ConnectionOptions or an open target; got {type(db).__name__}",
            hint="e.g. qprof.top(db='postgresql://app@localhost/shop') or qprof.top(db='app.sqlite')",
        )
    from qprof.config import load_config
    from qprof.conninfo import resolve_target
    from qprof.targets import open_target
    from qprof.units import parse_duration

    config = config or load_config()
    timeout = parse_duration(statement_timeout) if isinstance(statement_timeout, str) else float(statement_timeout)
    if timeout <= 0:
        raise BadInput(
            f"--statement-timeout must be more than 0, got {statement_timeout!r}",
            hint="it is the safety net on every statement qprof runs; use e.g. 30s or 10min",
        )
    target = open_target(resolve_target(db, profile, config), statement_timeout=timeout)
    target.allowed_functions = allowed(allow_functions)
    try:
        yield target
    finally:
        target.close()
