"""Collectors read statistics, schema and plans into the model.

The SQL they run lives in ``sql/*.sql`` beside them, chosen by server/extension version and
bound with parameters, never assembled from user input.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def load_sql(name: str) -> str:
    """The text of ``collectors/sql/<name>``."""
    return resources.files(__package__).joinpath("sql", name).read_text(encoding="utf-8")
