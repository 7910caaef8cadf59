"""Parse the human quantities users type: durations (``30s``), sizes (``500MB``), percentages."""

from __future__ import annotations

import math
import re

from qprof.errors import BadInput

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h|d|w)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_duration(text: str | float | int, *, default_unit: str = "s") -> float:
    """Seconds in ``text``: ``250ms``, ``30s``, ``5min``, ``1h``, ``7d``; a bare number uses ``default_unit``."""
    if isinstance(text, (int, float)):
        return float(text) * _DURATION_UNITS[default_unit]
    match = _DURATION.match(text)
    if not match:
        raise BadInput(f"invalid duration {text!r}", hint="use e.g. 500ms, 30s, 5min, 1h, 7d")
    unit = (match.group(2) or default_unit).lower()
    return float(match.group(1)) * _DURATION_UNITS[unit]


def timeout_ms(seconds: float) -> int:
    """A PostgreSQL timeout in whole milliseconds, never 0 (which PostgreSQL reads as "no limit")."""
    return max(1, math.ceil(seconds * 1000))


def parse_size(text: str | int) -> int:
    """Bytes in ``text``: ``500MB``, ``2GiB``, ``64k``; powers of 1024 as PostgreSQL counts them."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise BadInput(f"invalid size {text!r}", hint="use e.g. 500MB, 2GB, 64kB")
    unit = (match.group(2) or "").lower()[:1]
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_percent(text: str | float) -> float:
    """The fraction a percentage stands for: ``20%`` and ``20`` → 0.2, ``1`` → 0.01, ``0.5`` → 0.005.

    A number is always a percentage, with or without ``%``: reading ``1`` as a fraction (100 %)
    and ``2`` as a percentage would make one number mean two things.
    """
    stripped = str(text).strip()
    try:
        number = float(stripped.removesuffix("%"))
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:  # float() reads "nan", "inf" and "-5" too
        raise BadInput(f"invalid percentage {text!r}: use a number from 0 up, e.g. 20% (or 20: a number is a percentage)")
    return number / 100


def format_bytes(size: float | None) -> str:
    """``1.5 MB`` style, matching pg_size_pretty's units."""
    if size is None:
        return ""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
