"""The version of qprof's JSON contracts.

``SCHEMA_VERSION`` is the one version of every JSON document qprof prints (``--format json``,
the ``.json`` report files, ``to_dict()`` of the Python API's results). It goes up when a key is
removed or changes meaning; adding a key does not change it, so scripts should ignore keys they
do not know.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1


def versioned(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with ``schema_version`` as its first key (kept when it has one already)."""
    if "schema_version" in document:
        return document
    return {"schema_version": SCHEMA_VERSION, **document}
