"""N+1 detection: the detector core, in-application capture (SQLAlchemy, sqlite3, pytest,
WSGI/ASGI middleware) and the analysis of server logs (``qprof nplusone --log``; the logs
themselves are read by :mod:`qprof.collectors.logs`, which ``advise --log`` and ``record`` share).

Submodules are imported on first use so ``import qprof`` stays cheap.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "capture": "qprof.nplusone.sqlalchemy_capture",
    "Capture": "qprof.nplusone.sqlalchemy_capture",
    "NPlusOneError": "qprof.nplusone.recording",
    "trace_sqlite3": "qprof.nplusone.sqlite3_trace",
    "detect": "qprof.nplusone.detector",
    "Executed": "qprof.nplusone.detector",
    "NPlusOne": "qprof.nplusone.detector",
    "fingerprint": "qprof.fingerprint",
    "pg_fingerprint": "qprof.fingerprint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qprof.nplusone' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
