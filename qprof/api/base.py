"""What every API result shares: the JSON contract's version and ``to_dict``.

``SCHEMA_VERSION`` is the one version of every JSON document qprof prints (``--format json``,
the ``.json`` report files). It goes up when a key is removed or changes meaning; adding a key
does not change it, so scripts should ignore keys they do not know.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

SCHEMA_VERSION = 1


def versioned(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with ``schema_version`` as its first key (kept when it has one already)."""
    if "schema_version" in document:
        return document
    return {"schema_version": SCHEMA_VERSION, **document}


class Result:
    """A command's result: ``to_dict()`` is exactly the document ``--format json`` prints."""

    def document(self) -> dict[str, Any]:  # pragma: no cover - every result defines it
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return versioned(self.document())


# ``qprof.advise`` and ``qprof.record`` are also subpackages, and importing a subpackage sets the
# parent's attribute to it; so those two packages are made callable instead, calling the API.
_PACKAGE_CALLS = {"qprof.advise": ("qprof.api.advise", "advise"), "qprof.record": ("qprof.api.record", "record")}


class CallablePackage(ModuleType):
    """A package that is also its API function: ``qprof.advise(...)`` is :func:`qprof.api.advise.advise`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from importlib import import_module

        module, name = _PACKAGE_CALLS[self.__name__]
        return getattr(import_module(module), name)(*args, **kwargs)


def make_callable(package: str) -> None:
    """Called by the package itself, from its ``__init__``."""
    sys.modules[package].__class__ = CallablePackage
