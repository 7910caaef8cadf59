"""Streaming readers for the three server log formats (stderr, csvlog, jsonlog), plain or gzip.

Each reader walks the file once, line by line, and feeds an :class:`Interpreter`; nothing but
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from qprof.errors import BadInput
from qprof.nplusone.logparse.interpret import Interpreter
from qprof.nplusone.logparse.prefix import COMMON_PREFIXES, Prefix, compile_prefix

Progress = Callable[[int], None]  # bytes of the (compressed) file read so far
PROGRESS_EVERY = 16_384  # lines
SNIFF_BYTES = 256 * 1024
_CSV_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^,]*)?,")

# csvlog column positions (PostgreSQL 13+; 14 added backend_type, leader_pid, query_id at the end)
_C_TIME, _C_USER, _C_DB, _C_PID, _C_SESSION, _C_VXID, _C_SEVERITY, _C_MESSAGE, _C_DETAIL = 0, 1, 2, 3, 5, 9, 11, 13, 14
_CSV_MIN_COLUMNS = 15
_MESSAGE = "message"


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


def open_text(path: Path) -> tuple[IO[str], _Counted]:
    """The file as text (UTF-8, undecodable bytes replaced), gunzipped when it is gzip."""
    raw = open(path, "rb")  # noqa: SIM115 - closed with the text wrapper
    magic = raw.read(2)
    raw.seek(0)
    counted = _Counted(raw)
    binary: IO[bytes] = io.BufferedReader(counted, buffer_size=1 << 20)
    if magic == b"\x1f\x8b":
        binary = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
    text = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n")
    return text, counted


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
    candidates = [given] if given is not None else list(COMMON_PREFIXES)
    best, best_hits = None, 0
    for text in candidates:
        prefix = compile_prefix(text)
        hits = sum(1 for line in lines if prefix.line.match(line))
        if hits > best_hits:
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
            hint="pass the server's setting: --log-prefix \"$(psql -Atc 'SHOW log_line_prefix')\" "
            "(or give a csvlog/jsonlog file)",
        )
    return best


def read_stderr(
    text: IO[str], prefix: Prefix, interpreter: Interpreter, stats: FileStats, progress: Callable[[], None]
) -> Iterator[None]:
    match_line = prefix.line.match
    session_group = "session" if "session" in prefix.fields else ("pid" if "pid" in prefix.fields else None)
    wanted = [name for name in (session_group, "vxid", "timestamp", "database", "user") if name and name in prefix.fields]
    names = ("severity", "message", *wanted)
    where = {name: 2 + i for i, name in enumerate(wanted)}
    at_session, at_vxid, at_time, at_db, at_user = (where.get(n) for n in (session_group, "vxid", "timestamp", "database", "user"))
    interpreter.parse_timestamp = parse_timestamp
    current = None  # (match, [message parts], line number)
    number = 0
    handle = interpreter.message
    path = stats.path

    def finish(record) -> None:  # noqa: ANN001
        match, parts, at = record
        stats.records += 1
        values = match.group(*names)
        handle(
            values[at_session] or "" if at_session else "",
            values[0],
            parts[0] if len(parts) == 1 else "\n".join(parts),
            vxid=values[at_vxid] if at_vxid else None,
            timestamp=values[at_time] if at_time else None,
            database=values[at_db] if at_db else None,
            user=values[at_user] if at_user else None,
            file=path,
            line=at,
        )

    for line in text:
        number += 1
        if number % PROGRESS_EVERY == 0:
            progress()
        line = line.rstrip("\n")
        if line.startswith("\t"):
            if current is not None:
                current[1].append(line[1:])
            else:
                stats.skip(line)
            continue
        match = match_line(line)
        if match is None:
            if line:
                stats.skip(line)
            continue
        if current is not None:
            finish(current)
            yield
        current = (match, [match.group(_MESSAGE)], number)
    if current is not None:
        finish(current)
    stats.lines = number


def read_csvlog(text: IO[str], interpreter: Interpreter, stats: FileStats, progress: Callable[[], None]) -> Iterator[None]:
    reader = csv.reader(text)
    interpreter.parse_timestamp = parse_timestamp
    handle = interpreter.message
    path = stats.path
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            stats.skip(f"csv error: {exc}")
            continue
        if reader.line_num % PROGRESS_EVERY < 1:
            progress()
        if len(row) < _CSV_MIN_COLUMNS or not _CSV_START.match(row[0] + ","):
            if row:
                stats.skip(",".join(row))
            continue
        stats.records += 1
        session = row[_C_SESSION]
        severity = row[_C_SEVERITY]
        handle(
            session,
            severity,
            row[_C_MESSAGE],
            vxid=row[_C_VXID],
            timestamp=row[_C_TIME],
            database=row[_C_DB] or None,
            user=row[_C_USER] or None,
            file=path,
            line=reader.line_num,
        )
        if severity == "LOG" and row[_C_DETAIL]:
            handle(session, "DETAIL", row[_C_DETAIL])
        yield
    stats.lines = reader.line_num


def read_jsonlog(text: IO[str], interpreter: Interpreter, stats: FileStats, progress: Callable[[], None]) -> Iterator[None]:
    handle = interpreter.message
    interpreter.parse_timestamp = parse_timestamp
    loads = json.loads
    path = stats.path
    number = 0
    for line in text:
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
        yield
    stats.lines = number


def stream_file(
    path: Path, interpreter: Interpreter, stats: FileStats, *, prefix: str | None = None, progress: Progress | None = None
) -> Iterator[None]:
    """Parse one log file into ``interpreter``, yielding after each record so the caller can
    drain the statements it emitted; ``stats`` is filled as the file is read."""
    if not path.exists():
        raise BadInput(f"log file not found: {path}")
    if path.is_dir():
        raise BadInput(f"{path} is a folder; give the log files (e.g. {path}/*.log)")
    stats.bytes = os.path.getsize(path)
    sample = _sniff(path)
    if not sample.strip():
        stats.format = "empty"
        return
    if sample.count("\x00") > len(sample) // 100:
        raise BadInput(f"{path} is binary data, not a PostgreSQL log")
    stats.format = detect_format(path, sample)
    compiled = choose_prefix(path, sample, prefix) if stats.format == "stderr" else None
    stats.prefix = compiled.text if compiled else None
    text, counted = open_text(path)
    report = (lambda: progress(counted.position)) if progress else (lambda: None)
    try:
        if compiled is not None:
            yield from read_stderr(text, compiled, interpreter, stats, report)
        elif stats.format == "csvlog":
            yield from read_csvlog(text, interpreter, stats, report)
        else:
            yield from read_jsonlog(text, interpreter, stats, report)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:  # truncated gzip, I/O error: keep what was read
        stats.skip(f"read stopped: {exc}")
        stats.error = f"read stopped early: {exc}"
    finally:
        text.close()
    if progress:
        progress(counted.position)
