"""``log_line_prefix`` → a compiled pattern for the stderr log format.

Each ``%`` escape becomes a named group (or a non-capturing one when its value is not needed);
``%q`` makes the rest of the prefix optional, as the server omits it for background processes.
Padding such as ``%-10u`` only adds spaces, which the pattern allows around the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qprof.errors import BadInput

# PostgreSQL's default (since 10) and the forms people most often configure.
DEFAULT_PREFIX = "%m [%p] "
COMMON_PREFIXES = (
    "%m [%p] ",
    "%m [%p] %q%u@%d ",
    "%m [%p] %q%u@%d/%a ",
    "%t [%p] ",
    "%t [%p] %q%u@%d ",
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%m [%p] %q[user=%u,db=%d,app=%a] ",
    "%m [%p-%l] %q%u@%d ",
    "%m %c %v ",
    "%m [%p] %c %v %q%u@%d ",
)

_TIMESTAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Za-z0-9+\-:_/]+)?"
_ESCAPES = {
    "a": ("application", r".*?"),
    "u": ("user", r"[^\s@,\]]*?"),
    "d": ("database", r"[^\s@,/\]]*?"),
    "r": (None, r"\S*?"),
    "h": (None, r"\S*?"),
    "b": (None, r".*?"),
    "p": ("pid", r"\d+"),
    "P": (None, r"\d*"),
    "t": ("timestamp", _TIMESTAMP),
    "m": ("timestamp", _TIMESTAMP),
    "n": ("epoch", r"\d+(?:\.\d+)?"),
    "i": (None, r".*?"),
    "e": (None, r"[0-9A-Z]{5}"),
    "c": ("session", r"[0-9a-f]+\.[0-9a-f]+"),
    "l": (None, r"\d+"),
    "s": (None, _TIMESTAMP),
    "v": ("vxid", r"(?:-?\d+/\d+)?"),
    "x": ("xid", r"\d*"),
    "Q": (None, r"-?\d*"),
}
SEVERITIES = "LOG|STATEMENT|DETAIL|HINT|CONTEXT|ERROR|WARNING|NOTICE|INFO|FATAL|PANIC|LOCATION|QUERY|DEBUG[1-5]?"


@dataclass(frozen=True)
class Prefix:
    """A compiled prefix: the pattern for a whole log line and which fields it yields."""

    text: str
    line: re.Pattern[str]
    fields: frozenset[str]

    @property
    def has_session(self) -> bool:
        return "session" in self.fields or "pid" in self.fields

    @property
    def has_transaction(self) -> bool:
        return "vxid" in self.fields


def compile_prefix(prefix: str) -> Prefix:
    """Compile ``prefix`` (a ``log_line_prefix`` value); an unknown escape is a :class:`BadInput`."""
    parts: list[str] = []
    fields: set[str] = set()
    optional_from: int | None = None
    i = 0
    while i < len(prefix):
        char = prefix[i]
        if char != "%":
            parts.append(re.escape(char) if char != " " else " +")
            i += 1
            continue
        j = i + 1
        while j < len(prefix) and (prefix[j].isdigit() or prefix[j] == "-"):
            j += 1
        if j >= len(prefix):
            raise BadInput(f"log line prefix {prefix!r} ends in a lone '%'")
        padded, escape = j > i + 1, prefix[j]
        i = j + 1
        if escape == "%":
            parts.append("%")
            continue
        if escape == "q":
            optional_from = len(parts)
            continue
        if escape not in _ESCAPES:
            raise BadInput(f"log line prefix {prefix!r} has an unknown escape %{escape}")
        name, pattern = _ESCAPES[escape]
        group = f"(?P<{name}>{pattern})" if name and name not in fields else f"(?:{pattern})"
        if name:
            fields.add(name)
        parts.append(rf" *{group} *" if padded else group)
    if optional_from is not None:
        parts[optional_from:] = ["(?:" + "".join(parts[optional_from:]) + ")?"]
    body = "".join(parts)
    line = re.compile(rf"{body}(?P<severity>{SEVERITIES}): +(?P<message>.*)", re.S)
    return Prefix(prefix, line, frozenset(fields))
