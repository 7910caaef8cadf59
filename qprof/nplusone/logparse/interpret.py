"""From log messages to executed statements, whatever the log format.

What the server writes for one execution depends on the settings and the protocol:

* ``log_min_duration_statement = 0``, simple protocol: ``duration: 0.1 ms  statement: SQL``
* extended protocol: ``duration: … parse <name>: SQL``, ``… bind <name>: SQL`` and
  ``… execute <name>: SQL``, each followed by ``DETAIL:  parameters: $1 = '…'`` — only the
  execute is an execution; parse and bind time is added to it.
* ``log_statement = all``: ``statement: SQL`` / ``execute <name>: SQL`` and, with
  ``log_duration``/``log_min_duration_statement``, a separate bare ``duration: 0.1 ms``.

So each session keeps one *pending* statement that later DETAIL and duration lines complete;
it is emitted when the session's next statement arrives (or at the end of the input).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_DURATION = re.compile(r"duration: (\d+(?:\.\d+)?) ms(?:  (.*))?\Z", re.S)
_STATEMENT = re.compile(r"(statement|execute|parse|bind)( [^:]*)?: (.*)\Z", re.S)
_PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*'?)")
MAX_PENDING_SESSIONS = 20_000


@dataclass(slots=True)
class LoggedStatement:
    """One statement execution read from a server log."""

    sql: str
    params: tuple[str | None, ...] | None = None
    duration_ms: float | None = None
    session: str = ""
    vxid: str | None = None
    timestamp: float | None = None  # seconds; only differences between lines are meaningful
    database: str | None = None
    user: str | None = None
    file: str = ""
    line: int = 0


def parse_parameters(detail: str) -> tuple[str | None, ...] | None:
    """``parameters: $1 = '5', $2 = NULL`` → ``('5', None)`` (values as the server printed them)."""
    if not detail.startswith("parameters: "):
        return None
    values: dict[int, str | None] = {}
    for match in _PARAM.finditer(detail, 12):
        raw = match.group(2)
        values[int(match.group(1))] = None if raw == "NULL" else raw[1:-1].replace("''", "'")
    if not values:
        return None
    return tuple(values.get(n) for n in range(1, max(values) + 1))


class Interpreter:
    """Turns (session, severity, message) records into :class:`LoggedStatement` via ``emit``."""

    def __init__(self, emit: Callable[[LoggedStatement], None]) -> None:
        self.emit = emit
        self.pending: dict[str, LoggedStatement] = {}
        self.carry: dict[str, float] = {}  # parse/bind time waiting for its execute
        self.ignored = 0  # LOG messages that are not statements (checkpoints, connections, …)
        self.bound: set[str] = set()  # sessions whose next DETAIL belongs to a bind, not a statement
        self.parse_timestamp: Callable[[str], float | None] = lambda text: None

    def message(
        self,
        session: str,
        severity: str,
        text: str,
        *,
        vxid: str | None = None,
        timestamp: str | None = None,
        database: str | None = None,
        user: str | None = None,
        file: str = "",
        line: int = 0,
    ) -> None:
        if severity == "DETAIL":
            if session in self.bound:
                self.bound.discard(session)
            else:
                self.detail(session, text)
            return
        if severity != "LOG":
            return
        self.bound.discard(session)
        duration: float | None = None
        rest: str | None = text
        if text.startswith("duration: "):
            match = _DURATION.match(text)
            if match is None:  # e.g. auto_explain's "duration: … ms  plan:"
                self.ignored += 1
                return
            duration = float(match.group(1))
            rest = match.group(2)
            if rest is None:  # a bare duration completes the statement logged before it
                pending = self.pending.get(session)
                if pending is not None and pending.duration_ms is None:
                    pending.duration_ms = duration + self.carry.pop(session, 0.0)
                return
        match = _STATEMENT.match(rest)
        if match is None:
            self.ignored += 1
            return
        kind, name, sql = match.groups()
        if kind in ("parse", "bind"):
            if duration is not None:
                self.carry[session] = self.carry.get(session, 0.0) + duration
            if kind == "bind":
                self.bound.add(session)
            return
        if kind == "execute" and name and name.startswith(" fetch from"):
            pending = self.pending.get(session)  # more rows from an open portal: same execution
            if pending is not None and duration is not None:
                pending.duration_ms = (pending.duration_ms or 0.0) + duration
            return
        if duration is not None:
            duration += self.carry.pop(session, 0.0)
        previous = self.pending.pop(session, None)
        if previous is not None:
            self.emit(previous)
        self.pending[session] = LoggedStatement(
            sql, None, duration, session, vxid or None, self.parse_timestamp(timestamp) if timestamp else None,
            database, user, file, line
        )
        if len(self.pending) > MAX_PENDING_SESSIONS:  # bound memory: oldest sessions first
            oldest = next(iter(self.pending))
            self.emit(self.pending.pop(oldest))
            self.carry.pop(oldest, None)
            self.bound.discard(oldest)

    def detail(self, session: str, text: str) -> None:
        pending = self.pending.get(session)
        if pending is not None and pending.params is None and text.startswith("parameters: "):
            pending.params = parse_parameters(text)

    def finish(self) -> None:
        for statement in self.pending.values():
            self.emit(statement)
        self.pending.clear()
        self.carry.clear()
        self.bound.clear()
