"""Input files a command reads (workloads, server logs): only regular files.

A FIFO, socket or device passes ``exists()`` but blocks the first read forever (a FIFO with no
writer) or never ends (``/dev/zero``), so every reader checks here before opening.
"""

from __future__ import annotations

import stat
from pathlib import Path

from qprof.errors import BadInput


def is_regular(path: Path) -> bool:
    """Whether ``path`` is a regular file (symlinks followed); False when it cannot be stat'ed."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def require_regular(path: Path, what: str, hint: str = "") -> None:
    """Refuse ``path`` unless it is a regular file: ``{what} '{path}' is not a regular file``."""
    if not is_regular(path):
        raise BadInput(f"{what} {str(path)!r} is not a regular file", hint=hint or "save it to a file first")
