"""Access to the DDL files kept beside this module.

The DDL lives in plain ``.sql`` files (not Python strings) so a reader can see the planted
indexes at a glance and so the schema can be applied with any SQL tool.
"""

from __future__ import annotations

from importlib import resources

_ENGINES = {"postgresql": "postgresql", "postgres": "postgresql", "sqlite": "sqlite"}
CONSTRAINTS_MARKER = "-- @constraints"


def _engine(engine: str) -> str:
    try:
        return _ENGINES[engine.lower()]
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}; expected 'postgresql' or 'sqlite'") from None


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def tables_and_constraints(engine: str) -> tuple[str, str]:
    """Split the schema file at the ``-- @constraints`` marker.

    The PostgreSQL loader creates the tables, COPYs the data and only then adds the
    foreign keys: one validating scan per key instead of a trigger call per loaded row.
    """
    text = _read(f"schema_{_engine(engine)}.sql")
    tables, _, constraints = text.partition(CONSTRAINTS_MARKER)
    return tables, constraints


def index_sql(engine: str) -> str:
    """CREATE INDEX statements (used and planted) for ``engine``."""
    return _read(f"indexes_{_engine(engine)}.sql")


def schema_sql(engine: str, *, indexes: bool = True) -> str:
    """Full DDL of the sample database for ``"postgresql"`` or ``"sqlite"``.

    Tables, primary and foreign keys, and (unless ``indexes=False``) the secondary
    indexes including the planted ones. Runnable as one script on an empty database.
    """
    tables, constraints = tables_and_constraints(engine)
    parts = [tables, constraints] + ([index_sql(engine)] if indexes else [])
    return "\n".join(part.strip() + "\n" for part in parts if part.strip())
