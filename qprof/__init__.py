"""qprof: find the database statements that cost the most, learn why, and fix them with proof.

The Python API (``qprof.top``, ``qprof.explain``, ``qprof.check``, ``qprof.advise``,
``qprof.snapshot``, ``qprof.report``, ``qprof.record``) lives in :mod:`qprof.api`; each name is
imported on first use so ``import qprof`` stays cheap.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType

__version__ = "0.1.0"

_NPLUSONE = ("capture", "trace_sqlite3", "NPlusOneError")


def __getattr__(name: str) -> object:
    """``qprof.capture``, ``qprof.top`` and friends, imported on first use so ``import qprof`` stays cheap."""
    if name in _NPLUSONE:
        return getattr(import_module("qprof.nplusone"), name)
    from qprof.api import EXPORTS  # the API's names; qprof.api itself imports nothing

    if name in EXPORTS:
        return getattr(import_module(f"qprof.api.{EXPORTS[name]}"), name)
    raise AttributeError(f"module 'qprof' has no attribute {name!r}")


def __dir__() -> list[str]:
    from qprof.api import EXPORTS

    return sorted({*globals(), *_NPLUSONE, *EXPORTS, *_Qprof.ENTRIES})


class _Entry:
    """``qprof.advise`` and ``qprof.record``: calling one is the API function
    (``qprof.api.advise.advise``); its attributes are the subpackage's of the same name
    (``qprof.advise.advisor``), so both uses of the name work."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __call__(self, *args: object, **kwargs: object) -> object:
        return getattr(import_module(f"qprof.api.{self._name}"), self._name)(*args, **kwargs)

    def __getattr__(self, attr: str) -> object:
        return getattr(import_module(f"qprof.{self._name}"), attr)

    def __setattr__(self, attr: str, value: object) -> None:
        setattr(import_module(f"qprof.{self._name}"), attr, value)

    def __repr__(self) -> str:
        return f"<qprof.{self._name}: the API call qprof.api.{self._name}.{self._name} and the package qprof.{self._name}>"


class _Qprof(ModuleType):
    """The package module: importing ``qprof.advise`` would set the attribute to the subpackage;
    these properties keep it the :class:`_Entry` (the subpackage stays in ``sys.modules``)."""

    ENTRIES = ("advise", "record")
    advise = property(lambda self: _ENTRIES["advise"], lambda self, value: None)
    record = property(lambda self: _ENTRIES["record"], lambda self, value: None)


_ENTRIES = {name: _Entry(name) for name in _Qprof.ENTRIES}
sys.modules[__name__].__class__ = _Qprof
