"""qprof's Python API: each command as a typed function returning a result object.

``result.to_dict()`` is exactly the document ``qprof <command> --format json`` prints, led by
``schema_version`` (:data:`qprof.api.base.SCHEMA_VERSION`). The functions are also exported
from ``qprof`` itself (``qprof.top(...)``), imported on first use.
"""

from __future__ import annotations

from typing import Any

from qprof.api.base import SCHEMA_VERSION

# public name -> module under qprof.api that defines it
EXPORTS = {
    "top": "top",
    "TopResult": "top",
    "explain": "explain",
    "ExplainResult": "explain",
    "check": "check",
    "CheckResult": "check",
    "advise": "advise",
    "AdviseResult": "advise",
    "cleanup": "advise",
    "CleanupResult": "advise",
    "snapshot": "snapshot",
    "SnapshotResult": "snapshot",
    "report": "report",
    "ReportResult": "report",
    "record": "record",
    "RecordResult": "record",
    "session": "session",
}

__all__ = ["SCHEMA_VERSION", *EXPORTS]


def __getattr__(name: str) -> Any:
    module = EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qprof.api' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"qprof.api.{module}"), name)
