"""qprof's Python API: each command as a typed function returning a result object.

One module per command (``qprof.api.top``, ``.explain``, ``.check``, ``.advise``, ``.snapshot``,
``.report``, ``.record``, ``.bench``), one connection helper (``qprof.api.session``). Call them as
``qprof.top(...)`` etc.: :data:`EXPORTS` is what ``qprof`` exports, each imported on first use.
``result.to_dict()`` is exactly the document ``qprof <command> --format json`` prints, led by
``schema_version`` (:data:`qprof.api.base.SCHEMA_VERSION`).
"""

from __future__ import annotations

# name exported by ``qprof`` -> the module under qprof.api that defines it (the modules are named
# after the functions, so the package itself exports nothing: an imported submodule would shadow it)
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
    "bench": "bench",
    "BenchResult": "bench",
    "session": "session",
    "SCHEMA_VERSION": "base",
}
