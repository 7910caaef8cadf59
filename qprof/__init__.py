"""qprof: find the database statements that cost the most, learn why, and fix them with proof.

The Python API (``qprof.top``, ``qprof.explain``, ``qprof.check``, ``qprof.advise``,
``qprof.snapshot``, ``qprof.report``, ``qprof.record``) lives in :mod:`qprof.api`; each name is
imported on first use so ``import qprof`` stays cheap.
"""

__version__ = "0.1.0"

_NPLUSONE = ("capture", "trace_sqlite3", "NPlusOneError")


def __getattr__(name: str):
    """``qprof.capture``, ``qprof.top`` and friends, imported on first use so ``import qprof`` stays cheap."""
    if name in _NPLUSONE:
        import qprof.nplusone as nplusone

        return getattr(nplusone, name)
    from importlib import import_module

    if name in ("advise", "record"):  # callable subpackages (see qprof.api.base.CallablePackage)
        return import_module(f"qprof.{name}")
    from qprof.api import EXPORTS  # the API's names; qprof.api itself imports nothing

    if name in EXPORTS:
        return getattr(import_module(f"qprof.api.{EXPORTS[name]}"), name)
    raise AttributeError(f"module 'qprof' has no attribute {name!r}")


def __dir__() -> list[str]:
    from qprof.api import EXPORTS

    return sorted({*globals(), *_NPLUSONE, *EXPORTS})
