"""N+1 detection for Django: ``with qprof.django.capture(): …``, the middleware
``qprof.django.middleware.QprofMiddleware`` and the pytest plugin's Django side.

Importing ``qprof`` never imports Django; this package does, on first use of a name.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "capture": "qprof.django.recorder",
    "DjangoCapture": "qprof.django.recorder",
    "install": "qprof.django.recorder",
}

__all__ = ["DjangoCapture", "capture", "install"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qprof.django' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
