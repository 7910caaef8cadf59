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

Speed matters here (a busy server writes gigabytes of this), so the per-record path is plain
string operations rather than regular expressions — ``str.find``/``startswith``/``partition``
run in C without building match objects — and the readers call :meth:`Interpreter.log` and
:meth:`Interpreter.detail_record` with positional arguments. The grammar they implement is the
one the regular expressions below spell out; those remain the reference (and the slow path).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_DURATION = re.compile(r"duration: (\d+(?:\.\d+)?) ms(?:  (.*))?\Z", re.S)
_STATEMENT = re.compile(r"(statement|execute|parse|bind)( [^:]*)?: (.*)\Z", re.S)
_PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*'?)")
_KINDS = frozenset(("statement", "execute", "parse", "bind"))
_IN_ORDER = [str(n) for n in range(1, 101)]  # "$1, $2, …" as printed: the common case
# parameters: "$1 = '" + v1 + "', $2 = '" + v2 + "'": the text between the values, for n values
_SEPARATORS = [[], *(["$1 = ", *(f", ${n} = " for n in range(2, count + 1)), ""] for count in range(1, 101))]
MAX_PENDING_SESSIONS = 20_000

# A record's metadata as the readers pass it: (vxid, timestamp text, database, user).
Meta = tuple[str | None, str | None, str | None, str | None]
NO_META: Meta = (None, None, None, None)


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
    if "''" not in detail and "NULL" not in detail:
        # no quote inside a value and no NULL: "$1 = 'a', $2 = 'b'" splits at the quotes into
        # the expected separators and the values (anything else takes the general path)
        parts = detail[12:].split("'")
        count = len(parts) // 2
        if count and parts[0::2] == _SEPARATORS[count]:
            return tuple(parts[1::2])
    pairs = _PARAM.findall(detail, 12)
    if not pairs:
        return None
    if [number for number, _ in pairs] == _IN_ORDER[: len(pairs)]:  # $1, $2, … $n: no gaps, no repeats
        return tuple(None if raw == "NULL" else raw[1:-1].replace("''", "'") for _, raw in pairs)
    values: dict[int, str | None] = {}
    for number, raw in pairs:
        values[int(number)] = None if raw == "NULL" else raw[1:-1].replace("''", "'")
    return tuple(values.get(n) for n in range(1, max(values) + 1))


def defer_parameters(detail: str) -> str | None:
    """``detail`` itself when :func:`parse_parameters` would find parameters in it, else ``None``.

    For a reader whose statements are analyzed in another process: the cheap test (one regex
    search) stays with the reader, the parsing moves to the consumer, which calls
    :func:`parse_parameters` on a ``str`` ``params``. ``None`` exactly when parsing would give
    ``None``, so a later DETAIL of the same statement is still tried as it would be.
    """
    if detail.startswith("$1 = '", 12):  # the usual first parameter: found at once
        return detail
    return detail if _PARAM.search(detail, 12) is not None else None


def _number(text: str) -> bool:
    """``text`` is ``\\d+(?:\\.\\d+)?`` (what the server prints for a duration)."""
    whole, dot, fraction = text.partition(".")
    return whole.isdecimal() and (not dot or fraction.isdecimal())


class Interpreter:
    """Turns (session, severity, message) records into :class:`LoggedStatement` via ``emit``."""

    def __init__(self, emit: Callable[[LoggedStatement], None], file: str = "") -> None:
        self.emit = emit
        self.file = file
        self.pending: dict[str, LoggedStatement] = {}
        self.carry: dict[str, float] = {}  # parse/bind time waiting for its execute
        self.bound: set[str] = set()  # sessions whose next DETAIL belongs to a bind, not a statement
        self.parse_timestamp: Callable[[str], float | None] = lambda text: None
        self._last_time: tuple[str | None, float | None] = (None, None)
        self.durations: dict[str, float] = {}  # duration text → ms, for the texts seen valid (readers share it)
        # "parameters: …" DETAIL text → the statement's params (see defer_parameters)
        self.parameters: Callable[[str], Any] = parse_parameters
        # how a reader's record metadata becomes a Meta (csvlog passes its row as it is)
        self.meta_of: Callable[[Any], Meta] | None = None
        # the sessions whose state this interpreter holds; None: all (see ranges.RangeInterpreter)
        self.settled: set[str] | None = None

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
        """One record of any severity (the general entry point; readers use the two below)."""
        if severity == "DETAIL":
            self.detail_record(session, text)
        elif severity == "LOG":
            self.file = file
            self.log(session, text, (vxid, timestamp, database, user), line)

    def detail_record(self, session: str, text: str) -> None:
        """A ``DETAIL`` record: a bind's parameters are dropped, a statement's are kept."""
        bound = self.bound
        if session in bound:
            bound.discard(session)
            return
        pending = self.pending.get(session)
        if pending is not None and pending.params is None and text.startswith("parameters: "):
            pending.params = self.parameters(text)

    def log(self, session: str, text: str, meta: Meta, line: int) -> None:
        """A ``LOG`` record: a statement, a parse/bind step, a duration — or something else.

        The common shapes (``duration: N ms  parse|bind|execute <name>: …`` and ``… statement:
        …``) are recognized with ``startswith`` at known offsets; anything else goes through
        :meth:`_log`, the general form of the same grammar.
        """
        bound = self.bound
        if bound:
            bound.discard(session)
        if text.startswith("duration: "):
            end = text.find(" ms", 10)
            duration = self.durations.get(text[10:end])
            if duration is not None and text.startswith("  ", end + 3):
                at = end + 5
                if text.startswith("execute ", at):
                    colon = text.find(":", at + 8)
                    if colon > 0 and text.startswith(" ", colon + 1) and not text.startswith("fetch from", at + 8):
                        self._statement(session, text[colon + 2 :], duration, meta, line)
                        return
                elif text.startswith("bind ", at):
                    colon = text.find(":", at + 5)
                    if colon > 0 and text.startswith(" ", colon + 1):
                        carry = self.carry
                        carry[session] = carry.get(session, 0.0) + duration
                        bound.add(session)
                        return
                elif text.startswith("parse ", at):
                    colon = text.find(":", at + 6)
                    if colon > 0 and text.startswith(" ", colon + 1):
                        carry = self.carry
                        carry[session] = carry.get(session, 0.0) + duration
                        return
                elif text.startswith("statement: ", at):
                    self._statement(session, text[at + 11 :], duration, meta, line)
                    return
        elif text.startswith("statement: "):
            self._statement(session, text[11:], None, meta, line)
            return
        self._log(session, text, meta, line)

    def extended(self, session: str, parse: str | None, bind: str, execute: str, sql: str, meta: Meta, line: int) -> None:
        """``[parse] bind [DETAIL] execute`` of one session, read at once (durations as text).

        The same effects as :meth:`log`/:meth:`detail_record` on each line: parse and bind
        time is carried to the execute, the bind's DETAIL is dropped, and the execute is the
        new statement (its own DETAIL comes next, as a record of its own).
        """
        self.bound.discard(session)
        carry = self.carry
        if parse is not None:
            carry[session] = carry.get(session, 0.0) + float(parse)
        carry[session] = carry.get(session, 0.0) + float(bind)
        self._statement(session, sql, float(execute), meta, line)

    def _log(self, session: str, text: str, meta: Meta, line: int) -> None:
        duration: float | None = None
        rest = text
        if text.startswith("duration: "):
            # "duration: 0.1 ms" or "duration: 0.1 ms  <statement>" (see _DURATION)
            end = text.find(" ms", 10)
            after = end + 3
            if end < 0 or not _number(text[10:end]) or (after != len(text) and not text.startswith("  ", after)):
                return  # not a statement: e.g. auto_explain's "duration: … ms  plan:"
            duration = float(text[10:end])
            if len(self.durations) >= 65536:
                self.durations.clear()
            self.durations[text[10:end]] = duration
            if after == len(text):  # a bare duration completes the statement logged before it
                pending = self.pending.get(session)
                if pending is not None and pending.duration_ms is None:
                    pending.duration_ms = duration + self.carry.pop(session, 0.0)
                return
            rest = text[after + 2 :]
        # "<kind>[ <name>]: <sql>" (see _STATEMENT)
        colon = rest.find(":")
        if colon < 0 or not rest.startswith(" ", colon + 1):
            return  # not a statement (checkpoints, connections, …)
        kind, space, name = rest[:colon].partition(" ")
        if kind not in _KINDS:
            return  # not a statement (checkpoints, connections, …)
        if kind == "parse" or kind == "bind":
            if duration is not None:
                self.carry[session] = self.carry.get(session, 0.0) + duration
            if kind == "bind":
                self.bound.add(session)
            return
        if kind == "execute" and name.startswith("fetch from"):
            pending = self.pending.get(session)  # more rows from an open portal: same execution
            if pending is not None and duration is not None:
                pending.duration_ms = (pending.duration_ms or 0.0) + duration
            return
        self._statement(session, rest[colon + 2 :], duration, meta, line)

    def _statement(self, session: str, sql: str, duration: float | None, meta: Meta, line: int) -> None:
        """A new execution: the session's previous one is complete and goes out."""
        if duration is not None and self.carry:
            duration += self.carry.pop(session, 0.0)
        pending = self.pending
        previous = pending.pop(session, None)
        if previous is not None:
            self.emit(previous)
        vxid, stamp, database, user = meta if self.meta_of is None else self.meta_of(meta)
        if stamp:
            last_text, seconds = self._last_time
            if stamp != last_text:
                seconds = self.parse_timestamp(stamp)
                self._last_time = (stamp, seconds)
        else:
            seconds = None
        pending[session] = LoggedStatement(sql, None, duration, session, vxid or None, seconds, database, user, self.file, line)
        if len(pending) > MAX_PENDING_SESSIONS:  # bound memory: oldest sessions first
            oldest = next(iter(pending))
            self.emit(pending.pop(oldest))
            self.carry.pop(oldest, None)
            self.bound.discard(oldest)

    def finish(self) -> None:
        for statement in self.pending.values():
            self.emit(statement)
        self.pending.clear()
        self.carry.clear()
        self.bound.clear()
