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
    "%t:%r:%u@%d:[%p]:",  # Amazon RDS / Aurora (fixed, not configurable there)
)
# CloudWatch Logs exports put an ISO-8601 timestamp of their own before each line: ``%Z`` (not
# a PostgreSQL escape) stands for it, and each common prefix is also tried behind it.
CLOUDWATCH = "%Z "
KNOWN_PREFIXES = COMMON_PREFIXES + tuple(CLOUDWATCH + prefix for prefix in COMMON_PREFIXES)

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
    "Z": (None, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"),  # CLOUDWATCH
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


def _prefix_body(prefix: str, suffix: str | None = "", same_session: str | None = None, session_field: str = "pid") -> tuple[str, set[str], bool]:
    """The regex of ``prefix``, the fields it names, and whether its session field ends clearly.

    ``suffix`` is appended to the group names (``None``: no named groups except the session's,
    see below); ``same_session`` names a group the session field must repeat (a backreference).
    """
    parts: list[str] = []
    fields: set[str] = set()
    optional_from: int | None = None
    clear_end = True
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
        first = bool(name) and name not in fields
        if first and name == session_field:
            following = prefix[i : i + 1]
            clear_end = not following or not (following.isalnum() or following in "%._")
            if same_session is not None:
                group = f"(?P={same_session})"
            elif suffix is None:
                group = f"(?P<{name}0>{pattern})"
            else:
                group = f"(?P<{name}{suffix}>{pattern})"
        elif first and suffix is not None:
            group = f"(?P<{name}{suffix}>{pattern})"
        else:
            group = f"(?:{pattern})"
        if name:
            fields.add(name)
        parts.append(rf" *{group} *" if padded else group)
    if optional_from is not None:
        parts[optional_from:] = ["(?:" + "".join(parts[optional_from:]) + ")?"]
    return "".join(parts), fields, clear_end


def compile_prefix(prefix: str) -> Prefix:
    """Compile ``prefix`` (a ``log_line_prefix`` value); an unknown escape is a :class:`BadInput`."""
    body, fields, _ = _prefix_body(prefix)
    line = re.compile(rf"{body}(?P<severity>{SEVERITIES}): +(?P<message>.*)", re.S)
    return Prefix(prefix, line, frozenset(fields))


def extended_protocol_group(prefix: str) -> re.Pattern[str] | None:
    """One pattern for the lines a backend writes for one extended-protocol execution.

    With ``log_min_duration_statement = 0`` that is ``[parse] bind [DETAIL] execute DETAIL``,
    five lines with the same session, usually next to each other. Matching them at once (in C)
    instead of line by line is what makes big logs fast. Each line's prefix is matched the way
    :func:`compile_prefix`'s pattern matches it (an atomic group: the same split of prefix and
    message), the session must repeat (backreference to ``pid0``/``session0``), and the execute
    line's fields are captured with the suffix ``3``; the messages must be exactly what the
    line-by-line interpreter reads as parse/bind/execute with durations, on single lines (no
    continuation: the reader checks the match holds no ``\ud800``). ``None`` when the session
    field is not clearly delimited in the prefix (a backreference could then match part of
    another pid).
    """
    _, fields, _ = _prefix_body(prefix)
    field = "session" if "session" in fields else "pid"
    first, _, clear_end = _prefix_body(prefix, None, None, field)
    if not clear_end:
        return None
    session = f"{field}0" if field in fields else None
    other, _, _ = _prefix_body(prefix, None, session, field)
    execute, _, _ = _prefix_body(prefix, "3", session, field)
    text = r"[^\n]*"

    def line(body: str, severity: str) -> str:
        return rf"(?>{body}(?:{SEVERITIES}): +)(?<={severity}:  )"

    pattern = (
        rf"(?=(?>{first}))"
        rf"(?:{line(other, 'LOG')}duration: (?P<parse>\d+(?:\.\d+)?) ms  parse [^:\n]*: {text}\n)?"
        rf"{line(other, 'LOG')}duration: (?P<bind>\d+(?:\.\d+)?) ms  bind [^:\n]*: {text}\n"
        rf"(?P<bound>{line(other, 'DETAIL')}{text}\n)?"
        rf"{line(execute, 'LOG')}duration: (?P<execute>\d+(?:\.\d+)?) ms  execute (?!fetch from)[^:\n]*: (?P<sql>{text})\n"
        rf"{line(other, 'DETAIL')}(?P<detail>{text})\n"
    )
    return re.compile(pattern)


def same_prefix_group(prefix: str) -> re.Pattern[str]:
    """:func:`extended_protocol_group` for lines that also share their prefix text.

    A fast query's parse, bind and execute are logged within the same millisecond, so their
    prefixes are the same text: the prefix pattern runs once and the other lines only compare
    it (a backreference). The prefix is an atomic group, so when this matches, the prefix is
    split where the line-by-line pattern splits it. The execute line's fields are the first
    line's, with the suffix ``3``.
    """
    body, _, _ = _prefix_body(prefix, "3")
    number = r"\d+(?:\.\d+)?"
    pattern = (
        rf"(?P<head>(?>{body}))"
        rf"(?:LOG:  duration: (?P<parse>{number}) ms  parse [^:\n]*: [^\n]*\n(?P=head))?"
        rf"LOG:  duration: (?P<bind>{number}) ms  bind [^:\n]*: [^\n]*\n"
        rf"(?P<bound>(?P=head)DETAIL: +[^\n]*\n)?"
        rf"(?P=head)LOG:  duration: (?P<execute>{number}) ms  execute (?!fetch from)[^:\n]*: (?P<sql>[^\n]*)\n"
        rf"(?P=head)DETAIL:  (?! )(?P<detail>[^\n]*)\n"
    )
    return re.compile(pattern)
