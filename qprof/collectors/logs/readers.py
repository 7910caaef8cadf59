"""Streaming readers for the three server log formats (stderr, csvlog, jsonlog), plain or gzip.

Each reader walks the file once, a block of lines at a time (read in ~1 MB binary chunks,
decoded and split in bulk), and feeds an :class:`Interpreter`; nothing but the current block,
the current message and one pending statement per session is held in memory. Lines that are
not log records (truncated, garbage, another program's output) are counted, never fatal.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import IO

from qprof.errors import BadInput
from qprof.collectors.logs.interpret import NO_META, Interpreter, Meta
from qprof.collectors.logs.prefix import KNOWN_PREFIXES, Prefix, compile_prefix, extended_protocol_group, same_prefix_group

Progress = Callable[[int], None]  # bytes of the (compressed) file read so far
PROGRESS_EVERY = 16_384  # lines
CHUNK_BYTES = 1 << 20  # read and split this much text at a time
_ROWS_PER_YIELD = 4096  # csvlog/jsonlog: hand statements to the caller this often
SNIFF_BYTES = 256 * 1024
_CSV_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^,]*)?,")

# csvlog column positions (PostgreSQL 13+; 14 added backend_type, leader_pid, query_id at the end)
_C_TIME, _C_USER, _C_DB, _C_PID, _C_SESSION, _C_VXID, _C_SEVERITY, _C_MESSAGE, _C_DETAIL = 0, 1, 2, 3, 5, 9, 11, 13, 14
_CSV_MIN_COLUMNS = 15
_MESSAGE = "message"
# A csv line no log holds (a lone surrogate never comes out of decoding): read after a range
# of a csvlog, it is a row of its own exactly when the range ended between rows.
CUT_LINE = "\udbfecut\n"
_CUT_ROW = ["\udbfecut"]


@dataclass
class FileStats:
    """What one file held: for the run summary and for tests."""

    path: str
    format: str = "unknown"
    prefix: str | None = None
    bytes: int = 0
    lines: int = 0
    records: int = 0
    statements: int = 0
    skipped_lines: int = 0
    error: str | None = None
    samples_of_skipped: list[str] = field(default_factory=list)
    prefix_changes: list[tuple[int, str]] = field(default_factory=list)  # (line, the prefix from there on)

    def skip(self, line: str) -> None:
        self.skipped_lines += 1
        if len(self.samples_of_skipped) < 3:
            self.samples_of_skipped.append(line[:120].rstrip("\n"))

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "format": self.format,
            "prefix": self.prefix,
            "bytes": self.bytes,
            "lines": self.lines,
            "statements": self.statements,
            "skipped_lines": self.skipped_lines,
            "error": self.error,
            "prefix_changes": [{"line": line, "prefix": prefix} for line, prefix in self.prefix_changes],
        }


_epoch_cache: dict[str, float] = {}


def parse_timestamp(text: str | None) -> float | None:
    """``2024-05-01 12:00:00.123 UTC`` → seconds; cached per second (a log has few distinct ones)."""
    if not text or len(text) < 19:
        return None
    head = text[:19]
    base = _epoch_cache.get(head)
    if base is None:
        try:
            base = datetime.fromisoformat(head).timestamp()
        except ValueError:
            return None
        if len(_epoch_cache) > 4096:
            _epoch_cache.clear()
        _epoch_cache[head] = base
    if len(text) > 20 and text[19] == ".":
        end = 20
        while end < len(text) and text[end].isdigit():
            end += 1
        try:
            return base + float("0" + text[19:end])
        except ValueError:
            return base
    return base


class _Counted(io.RawIOBase):
    """A raw file that remembers how many bytes were read (progress for plain and gzip files)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        n = self.raw.readinto(buffer)
        self.position += n or 0
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


class _Slice(io.RawIOBase):
    """Bytes ``start`` to ``end`` of a file (one range of a file parsed on several cores)."""

    def __init__(self, raw: IO[bytes], start: int, end: int | None) -> None:
        raw.seek(start)
        self.raw = raw
        self.left = None if end is None else end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        if self.left is None:
            return self.raw.readinto(buffer)
        if self.left <= 0:
            return 0
        view = memoryview(buffer)[: self.left]
        n = self.raw.readinto(view) or 0
        self.left -= n
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as raw:
        return raw.read(2) == b"\x1f\x8b"


def open_binary(path: Path, start: int = 0, end: int | None = None) -> tuple[IO[bytes], _Counted]:
    """The file's bytes, gunzipped when it is gzip, and the counter of (compressed) bytes read.

    ``start``/``end``: only that byte range of a plain file (see :mod:`.ranges`).
    """
    raw = open(path, "rb")  # noqa: SIM115 - closed with the returned reader
    magic = raw.read(2)
    raw.seek(0)
    if start or end is not None:
        raw = _Slice(raw, start, end)  # type: ignore[assignment]
    counted = _Counted(raw)
    binary: IO[bytes] = io.BufferedReader(counted, buffer_size=1 << 20)
    if magic == b"\x1f\x8b":
        binary = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
    return binary, counted


def open_text(path: Path) -> tuple[IO[str], _Counted]:
    """The file as text (UTF-8, undecodable bytes replaced), gunzipped when it is gzip."""
    binary, counted = open_binary(path)
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n"), counted


def _corrupt(path: Path | str, exc: Exception) -> BadInput:
    return BadInput(f"cannot read {path}: corrupt gzip data ({exc})", hint="check the file with: gzip -t FILE")


def _sniff(path: Path) -> str:
    """The first part of the file as text; a truncated gzip still gives what it holds."""
    text, _ = open_text(path)
    binary = text.buffer
    chunks: list[bytes] = []
    size = 0
    try:
        while size < SNIFF_BYTES:
            chunk = binary.read1(16384) if hasattr(binary, "read1") else binary.read(16384)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except zlib.error as exc:
        raise _corrupt(path, exc) from None
    except (EOFError, gzip.BadGzipFile, OSError):
        if not chunks:
            raise BadInput(f"cannot read {path}: not a complete gzip file or not readable") from None
    finally:
        text.close()
    return b"".join(chunks).decode("utf-8", errors="replace")


def detect_format(path: Path, sample: str) -> str:
    """jsonlog, csvlog or stderr — by content first, then by the file name."""
    first = sample.lstrip()[:1]
    if first == "{":
        return "jsonlog"
    if _CSV_START.match(sample) and sample.split("\n", 1)[0].count(",") >= 10:
        return "csvlog"
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".json"):
        return "jsonlog"
    if name.endswith(".csv"):
        return "csvlog"
    return "stderr"


def choose_prefix(path: Path, sample: str, given: str | None) -> Prefix:
    """The given prefix, or the common one that matches most of the sample's record lines."""
    lines = [line for line in sample.split("\n")[:2000] if line and not line.startswith("\t")]
    candidates = [given] if given is not None else list(KNOWN_PREFIXES)
    best, best_hits = None, (False, 0)
    scored = []
    for text in candidates:
        prefix = compile_prefix(text)
        matches = [i for i, line in enumerate(lines) if prefix.line.match(line)]
        scored.append((prefix, matches))
    first = min((matches[0] for _, matches in scored if matches), default=None)
    for prefix, matches in scored:
        # the prefix of the file's first record wins (a later change is read on from where it
        # happens); among those, the one that reads most of the sample
        hits = (bool(matches) and matches[0] == first, len(matches))
        if matches and hits > best_hits:
            best, best_hits = prefix, hits
    if best is None:
        shown = repr(lines[0][:80]) if lines else "(no text lines)"
        if given is not None:
            raise BadInput(
                f"no line of {path} matches the log line prefix {given!r}; first line: {shown}",
                hint="pass the server's setting: --log-prefix \"$(psql -Atc 'SHOW log_line_prefix')\"",
            )
        raise BadInput(
            f"{path} does not look like a PostgreSQL log: no line matches a known log_line_prefix; first line: {shown}",
            hint="pass the server's setting: --log-prefix \"$(psql -Atc 'SHOW log_line_prefix')\" (or give a csvlog/jsonlog file)",
        )
    return best


def text_chunks(binary: IO[bytes], *, keep_continuations: bool = False) -> Iterator[str]:
    """The stream as text in blocks of about ``CHUNK_BYTES`` that end at a line end (the last
    one may not): lines are then split in bulk with ``str.split``, not read one by one.

    Splitting at ``\n`` keeps UTF-8 decoding exact (a newline byte is never inside a
    character). ``keep_continuations`` (stderr logs) also keeps a tab-indented continuation
    line in the same block as the line it continues, when the block allows. When the stream
    breaks (a truncated gzip), the complete lines read so far are still given before the
    error propagates — the same "keep what was read" as reading line by line.
    """
    read = binary.read1 if hasattr(binary, "read1") else binary.read
    leftover = b""
    while True:
        parts = [leftover]
        size = 0  # read in this round (at least one read, however long the leftover)
        ended = False
        try:
            while size < CHUNK_BYTES:
                block = read(CHUNK_BYTES)
                if not block:
                    ended = True
                    break
                parts.append(block)
                size += len(block)
        except (OSError, EOFError):
            data = b"".join(parts)
            cut = data.rfind(b"\n")
            if cut >= 0:
                yield data[: cut + 1].decode("utf-8", errors="replace")
            raise
        data = b"".join(parts)
        if ended:
            if data:
                yield data.decode("utf-8", errors="replace")
            return
        cut = data.rfind(b"\n")
        if keep_continuations:
            while cut >= 0 and (cut + 1 == len(data) or data[cut + 1] == 9):  # 9: tab
                cut = data.rfind(b"\n", 0, cut)
            if cut < 0 and len(data) > 64 * CHUNK_BYTES:  # no line start in 64 MB: give up keeping them together
                cut = data.rfind(b"\n")
        if cut < 0:  # one very long line: keep reading until it ends
            leftover = data
            continue
        leftover = data[cut + 1 :]
        yield data[: cut + 1].decode("utf-8", errors="replace")


# Stands for "\n\t" (a continuation line) inside a block of stderr log: a lone surrogate never
# comes out of UTF-8 decoding, so it cannot be in the text itself.
_JOIN = "\ud800"
_NEVER = "\udbff"  # a prefix no line starts with
_DONE = "done"  # the record being read was already handed over (it only counts as a record)


def _group_names(group: re.Pattern[str]) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """The groups to read from an extended-protocol match, and which of session/vxid/timestamp/
    database/user it has (``parse`` stands in for the missing ones)."""
    index = group.groupindex
    session = next((n for n in ("session0", "pid0", "session3", "pid3") if n in index), None)
    fields = [session, "vxid3", "timestamp3", "database3", "user3"]
    present = tuple(name is not None and name in index for name in fields)
    names = ("parse", "bind", "bound", "execute", "sql", "detail", *(n if ok else "parse" for n, ok in zip(fields, present, strict=True)))
    return names, present


_RECORD_LIKE = re.compile(r"(?:LOG|STATEMENT|DETAIL|ERROR|WARNING|FATAL|HINT|CONTEXT): {2}")
MAX_PREFIX_CHANGES = 50  # per file; past that, lines of other prefixes are skipped (and counted)
MAX_RESYNC_TRIES = 2000  # record-like lines tried against other prefixes without a match


def resynchroniser(current: Prefix) -> Callable[[str], Prefix | None]:
    """For a line that does not match ``current``: the known prefix it matches, if any.

    A log whose ``log_line_prefix`` changed mid-file (a reload, another server's file appended)
    is read on with the new prefix instead of skipping the rest. Only record-like lines are
    tried, and only so many, so a file full of foreign text stays cheap.
    """
    candidates = [compile_prefix(text) for text in dict.fromkeys((*KNOWN_PREFIXES, current.text)) if text != current.text]
    tries = 0

    def resync(line: str) -> Prefix | None:
        nonlocal tries
        if tries >= MAX_RESYNC_TRIES or _RECORD_LIKE.search(line) is None:
            return None
        tries += 1
        for candidate in candidates:
            if candidate.line.match(line):
                return candidate
        return None

    return resync


def read_stderr(
    chunks: Iterable[str],
    prefix: Prefix,
    interpreter: Interpreter,
    stats: FileStats,
    progress: Callable[[], None],
    first_line: int = 0,
) -> Iterator[None]:
    """Records of a stderr log: a prefixed line and its tab-indented continuation lines.

    Per-line Python work is what limits the speed, so three things keep it small:

    * each block's continuation lines are first joined to the line they continue (one C-level
      ``replace`` with ``_JOIN``), so the loop sees one item per record;
    * consecutive lines of a backend usually share their prefix text (same process, same
      millisecond), so the prefix regex runs only when a line does not start with the prefix
      of the last line it parsed; otherwise the fields parsed then are reused and the severity
      is recognized with ``startswith``;
    * at a parse/bind line, one regex tries the whole ``[parse] bind [DETAIL] execute DETAIL``
      run of that session (see :mod:`prefix`), handled by one :meth:`Interpreter.extended`.

    A record is handed to the interpreter when the next one starts (a continuation can still
    follow a line that is not a record), except a matched run's final DETAIL when nothing can
    continue it. Yields after each block so the caller can drain statements. ``first_line``:
    the number of lines before ``chunks`` (when they are a range of the file, see :mod:`.ranges`).

    A record-like line that does not match ``prefix`` but another known one switches to that
    prefix from there on (noted in ``stats.prefix_changes``): the rest of the file is read with
    it, by a fresh call of this function.
    """
    chunks = iter(chunks)
    resync = resynchroniser(prefix) if len(stats.prefix_changes) < MAX_PREFIX_CHANGES else None
    match_line = prefix.line.match
    session_group = "session" if "session" in prefix.fields else ("pid" if "pid" in prefix.fields else None)
    wanted = [name for name in (session_group, "vxid", "timestamp", "database", "user") if name and name in prefix.fields]
    names = ("severity", "message", *wanted)
    where = {name: 2 + i for i, name in enumerate(wanted)}
    at_session, at_vxid, at_time, at_db, at_user = (where.get(n) for n in (session_group, "vxid", "timestamp", "database", "user"))
    interpreter.parse_timestamp = parse_timestamp
    interpreter.file = stats.path
    log, detail = interpreter.log, interpreter.detail_record
    skip = stats.skip

    # [parse] bind [DETAIL] execute DETAIL of one session at once: same prefix text, else any
    groups = [same_prefix_group(prefix.text), extended_protocol_group(prefix.text)]
    group_plans = [(group.match, _group_names(group)) for group in groups if group is not None]
    extended = interpreter.extended

    head, head_length, head_session, head_meta = _NEVER, 0, "", NO_META  # the last prefix the regex parsed
    # the record being read: severity (None: no record yet), message, session, meta, line number
    severity, message, session, meta, at = None, "", "", NO_META, 0
    number, records = first_line, stats.records
    switch: tuple[Prefix, str, int] | None = None  # a prefix change: the new prefix, the text from there, its line

    try:
        for text in chunks:
            joined = "\n\t" in text
            if joined:
                text = text.replace("\n\t", _JOIN)
            if not text.endswith("\n"):  # the last line of the file
                text += "\n"
            position, size = 0, len(text)
            find = text.find
            if text.startswith("\t"):  # continuation lines at the start of the file (or of a huge block)
                position = find("\n") + 1
                parts = text[1 : position - 1].split(_JOIN)
                for part in parts:
                    number += 1
                    if severity is not None:
                        message += "\n" + part
                    else:
                        skip("\t" + part)
            while position < size:
                newline = find("\n", position)
                line_at = position
                line = text[position:newline]
                number += 1
                here = number
                kind = None
                if line.startswith(head):
                    if line.startswith("LOG:  ", head_length) and not line.startswith(" ", head_length + 6):
                        if line.startswith("duration: ", head_length + 6) and (" ms  parse " in line or " ms  bind " in line):
                            for match_group, (group_names, has_meta) in group_plans:  # noqa: B007 - the matching plan's names are read after the break
                                found = match_group(text, position)
                                if found is not None:
                                    break
                            if found is not None and joined and _JOIN in found.group():
                                found = None  # a continuation line inside: line by line
                            if found is not None:
                                # all but the execute's DETAIL now; that one is the record being read
                                values = found.group(*group_names)
                                if severity == "LOG":
                                    log(session, message, meta, at)
                                elif severity == "DETAIL":
                                    detail(session, message)
                                execute_line = here + (values[0] is not None) + (values[2] is not None) + 1
                                group_session = (values[6] or "") if has_meta[0] else ""
                                extended(
                                    group_session,
                                    values[0],
                                    values[1],
                                    values[3],
                                    values[4],
                                    (
                                        values[7] if has_meta[1] else None,
                                        values[8] if has_meta[2] else None,
                                        values[9] if has_meta[3] else None,
                                        values[10] if has_meta[4] else None,
                                    ),
                                    execute_line,
                                )
                                records += execute_line - here + 2  # with the DETAIL
                                number = execute_line + 1
                                position = found.end()
                                if joined or position == size:  # a continuation could still extend the DETAIL
                                    severity, message, session, meta, at = "DETAIL", values[5], group_session, NO_META, number
                                else:  # none in this block after it: the record is complete, apply it now
                                    detail(group_session, values[5])
                                    severity = _DONE
                                continue
                        kind, body = "LOG", line[head_length + 6 :]
                    elif line.startswith("DETAIL:  ", head_length) and not line.startswith(" ", head_length + 9):
                        kind, body = "DETAIL", line[head_length + 9 :]
                position = newline + 1
                if kind is not None:
                    fields, where_meta = head_session, head_meta
                    if joined and _JOIN in body:
                        number += body.count(_JOIN)
                        body = body.replace(_JOIN, "\n")
                else:
                    rest = ""
                    if joined and _JOIN in line:
                        cut = line.index(_JOIN)
                        line, rest = line[:cut], line[cut:]
                    match = match_line(line)
                    if match is None and resync is not None and line:
                        switched = resync(line)
                        if switched is not None:
                            # the record being read is complete; the rest goes on with the new prefix
                            if severity == "LOG":
                                log(session, message, meta, at)
                            elif severity == "DETAIL":
                                detail(session, message)
                            severity = None
                            rest = text[line_at:]
                            switch = (switched, rest.replace(_JOIN, "\n\t") if joined else rest, here)
                            break
                    if match is None:
                        if line:
                            skip(line)
                        for part in rest.split(_JOIN)[1:]:  # continuation lines after a line that is not a record
                            number += 1
                            if severity is not None:
                                message += "\n" + part
                            else:
                                skip("\t" + part)
                        continue
                    values = match.group(*names)
                    kind, body = values[0], values[1]
                    if rest:
                        number += rest.count(_JOIN)
                        body += rest.replace(_JOIN, "\n")
                    fields = (values[at_session] or "") if at_session else ""
                    where_meta = (
                        values[at_vxid] if at_vxid else None,
                        values[at_time] if at_time else None,
                        values[at_db] if at_db else None,
                        values[at_user] if at_user else None,
                    )
                    start = match.start("severity")
                    if start > 0:
                        head, head_length, head_session, head_meta = line[:start], start, fields, where_meta
                # a new record: the previous one is complete
                if severity == "LOG":
                    log(session, message, meta, at)
                elif severity == "DETAIL":
                    detail(session, message)
                records += 1
                severity, message, session, meta, at = kind, body, fields, where_meta, here
            stats.records = records
            if switch is not None:
                break
            progress()
            yield
    except BaseException:  # a broken stream: the record being read was not complete
        stats.records = records - (severity is not None)
        raise
    if switch is not None:
        switched, rest, here = switch
        stats.prefix_changes.append((here, switched.text))
        yield from read_stderr(chain((rest,), chunks), switched, interpreter, stats, progress, here - 1)
        stats.lines += here - 1 - first_line
        return
    if severity == "LOG":
        log(session, message, meta, at)
    elif severity == "DETAIL":
        detail(session, message)
    stats.lines = number - first_line


def _csv_meta(row: list[str]) -> Meta:
    return row[_C_VXID], row[_C_TIME], row[_C_DB] or None, row[_C_USER] or None


def read_csvlog(chunks: Iterable[str], interpreter: Interpreter, stats: FileStats, progress: Callable[[], None], first_line: int = 0) -> Iterator[None]:
    """Rows of a csvlog: the C csv reader over the blocks' lines; only 8 of ~26 columns are read.

    The row itself goes to the interpreter as the record's metadata; it reads the four fields
    it needs (``_csv_meta``) only for the rows that are statements. A row that is just
    :data:`CUT_LINE` (which no decoded text holds) sets ``interpreter.at_cut``: the reader was
    between rows there (see :mod:`.ranges`).
    """
    reader = csv.reader(chain.from_iterable(map(io.StringIO, chunks)))
    interpreter.parse_timestamp = parse_timestamp
    interpreter.file = stats.path
    interpreter.meta_of = _csv_meta
    log, detail, bound = interpreter.log, interpreter.detail_record, interpreter.bound
    carry, durations = interpreter.carry, interpreter.durations
    settled = interpreter.settled  # None: every session's state is here (see ranges.RangeInterpreter)
    valid_time = ""  # the last first column that looked like a timestamp (most rows repeat it)
    count = records = 0
    try:
        while True:
            try:
                for row in reader:
                    if len(row) < _CSV_MIN_COLUMNS:
                        if row:
                            if row == _CUT_ROW:
                                interpreter.at_cut = True
                                continue
                            stats.skip(",".join(row))
                        continue
                    stamp = row[_C_TIME]
                    if stamp != valid_time:
                        if not _CSV_START.match(stamp + ","):
                            stats.skip(",".join(row))
                            continue
                        valid_time = stamp
                    records += 1
                    severity = row[_C_SEVERITY]
                    if severity == "LOG":
                        session = row[_C_SESSION]
                        text = row[_C_MESSAGE]
                        if text.startswith("duration: ") and (settled is None or session in settled):
                            # parse and bind rows (2 of 3 with the extended protocol) inline: what
                            # Interpreter.log does for them, then the row's DETAIL
                            end = text.find(" ms", 10)
                            ms = durations.get(text[10:end])
                            if ms is not None:
                                if text.startswith("  bind ", end + 3):
                                    colon = text.find(":", end + 10)
                                    if colon > 0 and text.startswith(" ", colon + 1):
                                        carry[session] = carry.get(session, 0.0) + ms
                                        if row[_C_DETAIL]:
                                            bound.discard(session)  # bound by the LOG, dropped by its DETAIL
                                        else:
                                            bound.add(session)
                                        continue_row = True
                                    else:
                                        continue_row = False
                                elif text.startswith("  parse ", end + 3):
                                    colon = text.find(":", end + 11)
                                    if colon > 0 and text.startswith(" ", colon + 1):
                                        if bound:
                                            bound.discard(session)
                                        carry[session] = carry.get(session, 0.0) + ms
                                        if row[_C_DETAIL]:
                                            detail(session, row[_C_DETAIL])
                                        continue_row = True
                                    else:
                                        continue_row = False
                                else:
                                    continue_row = False
                            else:
                                continue_row = False
                        else:
                            continue_row = False
                        if not continue_row:
                            log(session, text, row, first_line + reader.line_num)
                            text = row[_C_DETAIL]
                            if text:
                                if session in bound:  # a bind's parameters (what detail_record does first)
                                    bound.discard(session)
                                else:
                                    detail(session, text)
                    elif severity == "DETAIL":
                        detail(row[_C_SESSION], row[_C_MESSAGE])
                    count += 1
                    if count >= _ROWS_PER_YIELD:
                        count = 0
                        stats.records = records
                        progress()
                        yield
            except csv.Error as exc:
                stats.skip(f"csv error: {exc}")
                continue
            break
    finally:
        stats.records = records
    stats.lines = reader.line_num - getattr(interpreter, "at_cut", False)


def read_jsonlog(chunks: Iterable[str], interpreter: Interpreter, stats: FileStats, progress: Callable[[], None], first_line: int = 0) -> Iterator[None]:
    handle = interpreter.message
    interpreter.parse_timestamp = parse_timestamp
    loads = json.loads
    path = stats.path
    number = first_line
    for line in chain.from_iterable(map(io.StringIO, chunks)):
        number += 1
        if number % PROGRESS_EVERY == 0:
            progress()
        try:
            record = loads(line)
            session = str(record.get("session_id", ""))
            severity = record["error_severity"]
            message = record["message"]
        except (ValueError, KeyError, TypeError, AttributeError):
            if line.strip():
                stats.skip(line)
            continue
        stats.records += 1
        handle(
            session,
            severity,
            message,
            vxid=record.get("vxid"),
            timestamp=record.get("timestamp"),
            database=record.get("dbname"),
            user=record.get("user"),
            file=path,
            line=number,
        )
        if severity == "LOG" and record.get("detail"):
            handle(session, "DETAIL", record["detail"])
        if number % _ROWS_PER_YIELD == 0:
            yield
    stats.lines = number - first_line


def stream_file(path: Path, interpreter: Interpreter, stats: FileStats, *, prefix: str | None = None, progress: Progress | None = None) -> Iterator[None]:
    """Parse one log file into ``interpreter``, yielding after each record so the caller can
    drain the statements it emitted; ``stats`` is filled as the file is read."""
    compiled = inspect_file(path, stats, prefix)
    if stats.format == "empty":
        return
    yield from stream_range(path, interpreter, stats, compiled, progress=progress)


def inspect_file(path: Path, stats: FileStats, prefix: str | None) -> Prefix | None:
    """Check ``path`` and find its format (``stats.format``, ``"empty"`` for no text) and, for a
    stderr log, its line prefix; unreadable or foreign input raises :class:`BadInput`."""
    if not path.exists():
        raise BadInput(f"log file not found: {path}")
    if path.is_dir():
        raise BadInput(f"{path} is a folder; give the log files (e.g. {path}/*.log)")
    from qprof.inputfiles import require_regular

    require_regular(path, "log file", "copy the log to a file first (a FIFO or device would block the read)")
    stats.bytes = os.path.getsize(path)
    sample = _sniff(path)
    if not sample.strip():
        stats.format = "empty"
        return None
    if sample.count("\x00") > len(sample) // 100:
        raise BadInput(f"{path} is binary data, not a PostgreSQL log")
    stats.format = detect_format(path, sample)
    compiled = choose_prefix(path, sample, prefix) if stats.format == "stderr" else None
    stats.prefix = compiled.text if compiled else None
    return compiled


def stream_range(
    path: Path,
    interpreter: Interpreter,
    stats: FileStats,
    compiled: Prefix | None,
    *,
    start: int = 0,
    end: int | None = None,
    first_line: int = 0,
    cut_line: bool = False,
    progress: Progress | None = None,
) -> Iterator[None]:
    """Parse bytes ``start`` to ``end`` (``None``: the end) of a file :func:`inspect_file` has
    checked; ``start`` is where a record starts and ``first_line`` the number of lines before it.
    ``cut_line`` (csvlog): read :data:`CUT_LINE` after the range (see :func:`read_csvlog`)."""
    binary, counted = open_binary(path, start, end)
    report = (lambda: progress(counted.position)) if progress else (lambda: None)
    chunks: Iterable[str] = text_chunks(binary, keep_continuations=compiled is not None)
    if cut_line:
        chunks = chain(chunks, (CUT_LINE,))
    try:
        if compiled is not None:
            yield from read_stderr(chunks, compiled, interpreter, stats, report, first_line)
        elif stats.format == "csvlog":
            yield from read_csvlog(chunks, interpreter, stats, report, first_line)
        else:
            yield from read_jsonlog(chunks, interpreter, stats, report, first_line)
    except (zlib.error, gzip.BadGzipFile) as exc:  # corrupt data (or CRC), not a cut: what was read may be garbage
        raise _corrupt(path, exc) from None
    except (OSError, EOFError) as exc:  # truncated gzip, I/O error: keep what was read
        stats.skip(f"read stopped: {exc}")
        stats.error = f"read stopped early: {exc}"
    finally:
        binary.close()
    if progress:
        progress(counted.position)
