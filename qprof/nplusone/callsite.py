"""The application's line that ran a statement: the first stack frame outside the ORM, the
driver, the standard library and qprof (``app/views.py:42 in list_authors``).

Called once per captured statement, so the verdict "library or application" is cached per
code object and the walk is plain ``f_back`` hops (no ``inspect.stack()``, which reads source
files).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Callable
from types import CodeType, FrameType

# Packages whose frames are never the application's own (ORMs, drivers, their plumbing).
LIBRARIES = (
    "qprof",
    "sqlalchemy",
    "psycopg",
    "psycopg2",
    "psycopg_pool",
    "asyncpg",
    "aiosqlite",
    "pymysql",
    "MySQLdb",
    "greenlet",
    "django",
    "asgiref",
    "pytest_django",
    "_pytest",
    "pluggy",
    "starlette",
    "fastapi",
    "anyio",
)
_roots: tuple[str, ...] | None = None
_verdicts: dict[CodeType, bool] = {}  # code object → is a library frame


def _library_roots() -> tuple[str, ...]:
    global _roots
    if _roots is None:
        import importlib.util

        roots = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
        for name in LIBRARIES:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            for location in (spec.submodule_search_locations or []) if spec is not None else []:
                roots.add(os.path.realpath(location))
                roots.add(location)
        _roots = tuple(sorted(root.rstrip(os.sep) + os.sep for root in roots if root))
    return _roots


def is_library(code: CodeType) -> bool:
    verdict = _verdicts.get(code)
    if verdict is None:
        filename = code.co_filename
        verdict = filename.startswith(("<", *_library_roots()))
        if len(_verdicts) >= 65536:
            _verdicts.clear()
        _verdicts[code] = verdict
    return verdict


_shown: dict[tuple[str, str], str] = {}  # (file, working directory) → the path as shown


def describe(frame: FrameType) -> str:
    """``path:line in function``, the path relative to the working directory when inside it."""
    code = frame.f_code
    filename = code.co_filename
    key = (filename, os.getcwd())
    shown = _shown.get(key)
    if shown is None:
        shown = filename
        try:
            relative = os.path.relpath(filename)
            if not relative.startswith(".."):
                shown = relative
        except ValueError:  # another drive (Windows)
            pass
        if len(_shown) >= 4096:
            _shown.clear()
        _shown[key] = shown
    return f"{shown}:{frame.f_lineno} in {code.co_name}"


def callsite(frame: FrameType | None = None, on_library: Callable[[FrameType], None] | None = None) -> str | None:
    """Where the application ran the statement being executed (``None``: only library frames).

    ``frame``: where to start (default: the caller's caller). ``on_library`` sees every
    library frame passed on the way (Django reads its related-object descriptors there).
    """
    if frame is None:
        frame = sys._getframe(2)
    verdicts = _verdicts
    while frame is not None:
        code = frame.f_code
        library = verdicts.get(code)
        if library is None:
            library = is_library(code)
        if not library:
            return describe(frame)
        if on_library is not None:
            on_library(frame)
        frame = frame.f_back
    return None
