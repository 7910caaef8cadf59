"""Arguments as the Python API takes them, checked as the CLI's options are: one value or several,
and counts with the CLI's bounds (typer's ``min=`` guards only the command line)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, Union

from qprof.errors import BadInput

Strings = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], None]


def several(value: Strings, option: str) -> list[Any] | None:
    """``value`` as a list: one string or path is one item (a string is not split into its
    characters), a list or tuple its items; None stays None (the caller's default applies)."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return [value]
    if isinstance(value, (bytes, dict)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise BadInput(f"{option} must be a string or a list of strings, got {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise BadInput(f"{option} must be a string or a list of strings, got an item of type {type(item).__name__}")
    return items


def at_least(option: str, value: int | float | None, minimum: int | float, meaning: str = "") -> None:
    """Refuse a count or amount below the CLI option's ``min=`` (None: not given, allowed)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"{option} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < minimum:
        raise BadInput(f"{option} must be at least {minimum}, got {value!r}" + (f" ({meaning})" if meaning else ""))
