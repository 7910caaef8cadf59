"""The one loader of the SQL qprof runs from ``.sql`` files.

Collectors keep their catalog SQL as files in a ``sql/`` folder beside them (reviewable, versioned
where catalog columns differ, never assembled from user input); each package ships that folder as
package data (pyproject ``[tool.setuptools.package-data]``), so it is read through
importlib.resources and works from a wheel as from the source tree.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_sql(package: str, name: str) -> str:
    """The text of ``sql/<name>`` in ``package`` (e.g. ``load_sql("qprof.collectors", "tables.sql")``)."""
    return resources.files(package).joinpath("sql", name).read_text(encoding="utf-8")
