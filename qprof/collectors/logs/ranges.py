"""One big log file parsed on several cores, with the result of a single pass.

The file is cut into byte ranges where a record starts; worker processes parse the ranges
and this process stitches their results together in file order. A worker cannot know
the state its range starts in (a session's pending statement, parse/bind time waiting for the
execute, a bind whose DETAIL is still to come), so its interpreter (:class:`RangeInterpreter`)
works out a session itself only from the session's first execution *with a duration* in the
range on — after it nothing that came before can change what the session does. Until then
the session's records are passed on as they are, and this process applies them to the real
state (:class:`Stitcher`); the execution that settles a session gets the parse/bind time of
the real state added here (then its cursor fetches', in the order one pass adds them). What
a range cannot guarantee (more sessions than the interpreter keeps pending, so that one pass
would have pushed some out; a csvlog cut that turns out to be inside a quoted field; a read
error; a worker that failed) makes this process parse the rest of the file itself, from the
real state: slower, never different. Line numbers in a range count from its start; the
offset is added per block of rows, not per row.

Where a range may start: stderr — a line the prefix pattern matches (not a tab-indented
continuation, so the previous record is complete there); jsonlog — any line; csvlog — a line
that starts with a timestamp and a comma, which is a row start unless it is inside a quoted
multi-line field: the worker of the range before reads :data:`readers.CUT_LINE` after its
range, which comes out as a row of its own exactly when its csv reader ended between rows.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qprof.collectors.logs.interpret import MAX_PENDING_SESSIONS, Interpreter, LoggedStatement
from qprof.collectors.logs.prefix import Prefix, compile_prefix
from qprof.collectors.logs.readers import FileStats, _csv_meta, is_gzip, parse_timestamp, stream_range
from qprof.owntag import OWN_TAG

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

SPLIT_MIN_BYTES = 32 * 1024 * 1024  # smaller files: one pass in this process
RANGE_BYTES = 4 * 1024 * 1024  # about this much per range (many ranges: the workers end together)
CUT_SEARCH_BYTES = 1 << 20  # look this far after a planned cut for a record start
_CSV_CUT = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^,\n]*)?,")

_ROW = attrgetter("sql", "params", "duration_ms", "session", "vxid", "timestamp", "file", "line")  # a statement as a plain tuple


def splittable(path: Path) -> bool:
    """A plain (not gzip) file big enough to be worth parsing on several cores."""
    try:
        return path.is_file() and path.stat().st_size >= SPLIT_MIN_BYTES and not is_gzip(path)
    except OSError:
        return False


def find_cuts(path: Path, fmt: str, prefix: Prefix | None, size: int) -> list[int]:
    """Byte positions, about :data:`RANGE_BYTES` apart, where a record starts (see module doc)."""
    cuts: list[int] = []
    pieces = max(1, size // RANGE_BYTES)
    with open(path, "rb") as raw:
        for i in range(1, pieces):
            target = size * i // pieces
            if cuts and target <= cuts[-1]:
                continue
            raw.seek(target)
            data = raw.read(CUT_SEARCH_BYTES)
            position = data.find(b"\n") + 1
            while 0 < position < len(data):
                end = data.find(b"\n", position)
                if end < 0:
                    break
                if _record_start(data[position:end], fmt, prefix):
                    cut = target + position
                    if cut < size:
                        cuts.append(cut)
                    break
                position = end + 1
    return cuts


def _record_start(line: bytes, fmt: str, prefix: Prefix | None) -> bool:
    if fmt == "jsonlog":
        return True
    if fmt == "csvlog":
        return _CSV_CUT.match(line) is not None
    if line.startswith(b"\t") or prefix is None:
        return False
    return prefix.line.match(line.decode("utf-8", errors="replace")) is not None


class RangeInterpreter(Interpreter):
    """The interpreter of one range: sessions are handled here once settled (see module doc).

    ``items`` is what this process replays, in order: lists of statement rows (complete
    statements of settled sessions) and tuples — ``("L", session, text, meta, line)`` and
    ``("D", session, text)``: a record of a session not settled yet; ``("S", session,
    parse/bind ms)``: the session settles here (its state so far is ended, the time added to
    the statement); ``("F", row, own ms, fetch ms)``: the statement that settled a session, complete,
    to get that time (its own time + that + the cursor fetches', in the order one pass adds them).
    """

    def __init__(self, file: str, include_own: bool) -> None:
        super().__init__(self._emit, file)
        self.items: list[Any] = []
        self.run: list[tuple] = []
        self.settled = set()
        self.raw_created: set[str] = set()  # unsettled sessions that got a statement (applied there)
        # session → [its settling statement, the statement's own ms, ms added later (cursor fetches)]
        self.fixing: dict[str, list] = {}
        self.risky = False
        self.include_own = include_own
        self.at_cut = False
        self.strings: dict[str, str] = {}
        self.durations = _durations  # a cache of what a duration text means: kept from range to range
        self.probe = _Probe(self.durations)

    def _emit(self, statement: LoggedStatement) -> None:
        fixing = self.fixing
        if fixing:
            entry = fixing.get(statement.session)
            if entry is not None and entry[0] is statement:
                del fixing[statement.session]
                self._check(entry)
                self._control(("F", _ROW(statement), entry[1], entry[2]))
                return
        sql = statement.sql
        if self.include_own or not sql.startswith(OWN_TAG):
            # the same text is pickled once (and unpickled once there) when it is the same object
            strings = self.strings
            if len(strings) > 50_000:
                strings.clear()
            session = statement.session
            self.run.append(
                (
                    strings.setdefault(sql, sql),
                    statement.params,
                    statement.duration_ms,
                    strings.setdefault(session, session),
                    statement.vxid,
                    statement.timestamp,
                    statement.file,
                    statement.line,
                )
            )

    def _check(self, entry: list) -> None:
        """The settling statement's time is its own plus the fetches' (else this process can't fix it)."""
        statement, duration, added = entry
        for ms in added:
            duration += ms
        self.risky |= statement.duration_ms != duration

    def _control(self, item: tuple) -> None:
        if self.run:
            self.items.append(self.run)
            self.run = []
        self.items.append(item)

    def log(self, session: str, text: str, meta: Any, line: int) -> None:
        if session in self.settled:
            Interpreter.log(self, session, text, meta, line)
            return
        probe = self.probe  # what the record is, without touching this state
        probe.called = None
        Interpreter.log(probe, session, text, meta, line)
        probe.carry.clear()
        probe.bound.clear()
        called = probe.called
        if called is not None and called[1] is not None:  # an execution with a duration
            self._settle(session, (), *called)
            return
        if called is not None:  # an execution without: it depends on the state before the range
            self.raw_created.add(session)
        self._control(("L", session, text, meta, line))

    def detail_record(self, session: str, text: str) -> None:
        if session in self.settled:
            Interpreter.detail_record(self, session, text)
        else:
            self._control(("D", session, text))

    def extended(self, session: str, parse: str | None, bind: str, execute: str, sql: str, meta: Any, line: int) -> None:
        if session in self.settled:
            Interpreter.extended(self, session, parse, bind, execute, sql, meta, line)
        else:
            added = (float(parse), float(bind)) if parse is not None else (float(bind),)
            self._settle(session, added, sql, float(execute), meta, line)

    def _log(self, session: str, text: str, meta: Any, line: int) -> None:
        entry = self.fixing.get(session) if self.fixing else None
        if entry is None:
            Interpreter._log(self, session, text, meta, line)
            return
        statement = entry[0]
        before = statement.duration_ms
        Interpreter._log(self, session, text, meta, line)
        if statement.duration_ms is not before and self.pending.get(session) is statement:
            # a cursor fetch added its time (the only change to a statement with a duration)
            entry[2].append(float(text[10 : text.find(" ms", 10)]))

    def _settle(self, session: str, added: tuple[float, ...], sql: str, duration: float, meta: Any, line: int) -> None:
        self._control(("S", session, added))
        self.settled.add(session)
        self.carry.pop(session, None)
        self.bound.discard(session)
        Interpreter._statement(self, session, sql, duration, meta, line)
        self.fixing[session] = [self.pending[session], duration, []]

    def result(self, stats: FileStats) -> dict:
        if self.run:
            self.items.append(self.run)
            self.run = []
        pending = []
        for session, statement in self.pending.items():
            entry = self.fixing.get(session)
            if entry is not None and entry[0] is statement:
                self._check(entry)
                pending.append((statement, entry[1], entry[2]))
            else:
                pending.append((statement, None, None))
        return {
            "items": self.items,
            "pending": pending,
            "carry": self.carry,
            "bound": self.bound,
            "created": len(self.settled | self.raw_created),
            "risky": self.risky,
            "at_cut": self.at_cut,
            "lines": stats.lines,
            "records": stats.records,
            "skipped": stats.skipped_lines,
            "samples": stats.samples_of_skipped,
            "error": stats.error,
            "prefix_changes": stats.prefix_changes,
        }


class _Probe(Interpreter):
    """Tells what a LOG record of a session not settled yet is: ``called`` is the execution it
    starts as ``(sql, duration, meta, line)``, ``None`` if it starts none."""

    def __init__(self, durations: dict[str, float]) -> None:
        super().__init__(lambda statement: None)
        self.durations = durations
        self.called: tuple | None = None

    def _statement(self, session: str, sql: str, duration: float | None, meta: Any, line: int) -> None:
        self.called = (sql, duration, meta, line)


_durations: dict[str, float] = {}
_prefixes: dict[str, Prefix] = {}


def parse_range(task: tuple) -> dict:
    """A worker's job: parse one range of a file into a :class:`RangeInterpreter` result."""
    path, fmt, prefix_text, start, end, include_own = task
    compiled = None
    if fmt == "stderr":
        compiled = _prefixes.get(prefix_text)
        if compiled is None:
            compiled = _prefixes[prefix_text] = compile_prefix(prefix_text)
    stats = FileStats(path, format=fmt)
    interpreter = RangeInterpreter(path, include_own)
    cut_line = fmt == "csvlog" and end is not None
    for _ in stream_range(Path(path), interpreter, stats, compiled, start=start, end=end, cut_line=cut_line):
        pass
    result = interpreter.result(stats)
    # an interpreter refers to itself (its emit is its own bound method): without this, each
    # range's statements would wait for the cyclic collector, and a worker's memory would grow
    # with the length of the file (2× the parse's own size per 200 MB of pgbench log)
    interpreter.probe.__dict__.clear()
    interpreter.__dict__.clear()
    return result


class RangePool:
    """Worker processes that parse ranges; results come back in the order asked.

    The workers are fresh interpreters that import only the log parser (``fork=False``): a
    forked copy of this process would share its memory at first but count it again in its
    RSS, and copy it page by page as it touches it. ``fork=True`` (tests) forks instead, so
    the workers see the module settings of this process.
    """

    def __init__(self, workers: int, *, fork: bool = False) -> None:
        self.workers: list[tuple[Any, Connection, Connection]] = []
        self.asked: list[int] = []  # the worker of each task asked and not yet collected, in order
        self.next = 0
        self.broken = False
        try:
            for n in range(workers):
                self.workers.append(_fork_worker(n) if fork else _start_worker())
        except BaseException:
            self.close()
            raise

    def ask(self, task: tuple) -> None:
        _, send, _ = self.workers[self.next]
        send.send_bytes(pickle.dumps(task, pickle.HIGHEST_PROTOCOL))
        self.asked.append(self.next)
        self.next = (self.next + 1) % len(self.workers)

    def collect(self) -> dict | None:
        """The result of the oldest task asked; ``None`` when the worker failed."""
        _, _, receive = self.workers[self.asked.pop(0)]
        try:
            status, result = pickle.loads(receive.recv_bytes())
        except (EOFError, OSError):
            self.broken = True
            return None
        return result if status == "ok" else None

    def drain(self) -> None:
        """Collect (and drop) every result still to come, so the workers can take new tasks."""
        while self.asked and not self.broken:
            self.collect()

    def close(self) -> None:
        """Stop the workers: a busy one finds its result pipe closed and ends."""
        for _, send, receive in self.workers:
            try:
                send.send_bytes(b"")
            except OSError:
                pass
            send.close()
            receive.close()
        for process, _, _ in self.workers:
            forked = not hasattr(process, "wait")
            try:
                process.join(timeout=5) if forked else process.wait(timeout=5)
            except Exception:  # noqa: BLE001 - a worker that does not stop is killed
                pass
            if process.is_alive() if forked else process.poll() is None:
                process.kill()
                process.join() if forked else process.wait()
        self.workers = []


def _start_worker() -> tuple[Any, Connection, Connection]:
    import os
    import subprocess
    import sys
    from multiprocessing.connection import Connection

    import qprof

    task_read, task_write = os.pipe()
    result_read, result_write = os.pipe()
    env = dict(os.environ)
    source = str(Path(qprof.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = source + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    code = "import sys; from qprof.collectors.logs.ranges import _main; _main(int(sys.argv[1]), int(sys.argv[2]))"
    try:
        process = subprocess.Popen(
            # -P: not the working directory's qprof (another checkout) but this one, from PYTHONPATH
            [sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), "-c", code, str(task_read), str(result_write)],
            pass_fds=(task_read, result_write),
            stdin=subprocess.DEVNULL,
            env=env,
        )
    except BaseException:
        for fd in (task_write, result_read):
            os.close(fd)
        raise
    finally:
        os.close(task_read)
        os.close(result_write)
    return process, Connection(task_write, readable=False), Connection(result_read, writable=False)


def _fork_worker(n: int) -> tuple[Any, Connection, Connection]:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    task_receive, task_send = context.Pipe(duplex=False)
    result_receive, result_send = context.Pipe(duplex=False)
    process = context.Process(target=_serve, args=(task_receive, result_send), name=f"qprof-log-parse-{n}", daemon=True)
    process.start()
    task_receive.close()
    result_send.close()
    return process, task_send, result_receive


def _main(task_fd: int, result_fd: int) -> None:
    """The entry point of a worker started by :func:`_start_worker`."""
    from multiprocessing.connection import Connection

    _serve(Connection(task_fd, writable=False), Connection(result_fd, readable=False))


def _serve(tasks: Connection, results: Connection) -> None:
    """A worker process of :class:`RangePool`: parse the ranges asked until told to stop."""
    while True:
        try:
            data = tasks.recv_bytes()
        except (EOFError, OSError):
            return
        if not data:
            return
        try:
            report = pickle.dumps(("ok", parse_range(pickle.loads(data))), pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - the parent parses the range itself
            import traceback

            report = pickle.dumps(("error", traceback.format_exc()))
        try:
            results.send_bytes(report)
        except OSError:
            return


def _fixed(own: float, added: float, fetches: list[float]) -> float:
    """A settling statement's time as one pass computes it: own + parse/bind, then each fetch."""
    duration = own + added
    for ms in fetches:
        duration += ms
    return duration


class Stitcher:
    """This process's side: the real interpreter state, the ranges' results applied to it."""

    def __init__(self, path: Path, stats: FileStats, include_own: bool) -> None:
        self.out: list[tuple] = []
        self.interpreter = Interpreter(self._emit, str(path))
        self.interpreter.parse_timestamp = parse_timestamp
        if stats.format == "csvlog":
            self.interpreter.meta_of = _csv_meta
        self.stats = stats
        self.include_own = include_own
        self.lines = 0  # lines of the ranges applied so far

    def _emit(self, statement: LoggedStatement) -> None:
        if self.include_own or not statement.sql.startswith(OWN_TAG):
            self.out.append(_ROW(statement))

    def _keep(self, row: tuple) -> None:
        if self.include_own or not row[0].startswith(OWN_TAG):
            self.out.append(row)

    def usable(self, result: dict | None, last: bool) -> bool:
        """Whether applying ``result`` gives what one pass would (see module doc)."""
        if result is None or result["error"] is not None or result["risky"]:
            return False
        if not last and self.stats.format == "csvlog" and not result["at_cut"]:
            return False
        # no session can have been pushed out of the pending ones while the range was read
        return len(self.interpreter.pending) + result["created"] <= MAX_PENDING_SESSIONS

    def apply(self, result: dict) -> list[tuple[list[tuple], int]]:
        """Apply one range's result; the statements completed by it, in order, as lists of rows
        with the number of lines to add to their line numbers (the workers count from the
        range's start: adding it here, per list, costs nothing per row)."""
        interpreter = self.interpreter
        pending, carry, bound = interpreter.pending, interpreter.carry, interpreter.bound
        offset = self.lines
        fixes: dict[str, float | None] = {}
        pieces: list[tuple[list[tuple], int]] = []
        for item in result["items"]:
            if type(item) is list:
                if self.out:
                    pieces.append((self.out, 0))
                    self.out = []
                pieces.append((item, offset))
                continue
            tag = item[0]
            if tag == "L":
                interpreter.log(item[1], item[2], item[3], item[4] + offset)
            elif tag == "D":
                interpreter.detail_record(item[1], item[2])
            elif tag == "S":
                session = item[1]
                bound.discard(session)
                for ms in item[2]:
                    carry[session] = carry.get(session, 0.0) + ms
                fixes[session] = carry.pop(session, None)
                previous = pending.pop(session, None)
                if previous is not None:
                    self._emit(previous)
            else:  # "F"
                sql, params, duration, session, vxid, ts, file, line = item[1]
                added = fixes.pop(session)
                if added is not None:
                    duration = _fixed(item[2], added, item[3])
                self._keep((sql, params, duration, session, vxid, ts, file, line + offset))
        created = []
        for statement, own, fetches in result["pending"]:
            statement.line += offset
            if own is not None:
                added = fixes.pop(statement.session)
                if added is not None:
                    statement.duration_ms = _fixed(own, added, fetches)
            created.append((statement.session, statement))
        if created:
            merged = sorted([*pending.items(), *created], key=lambda item: item[1].line)
            pending.clear()
            pending.update(merged)
        carry.update(result["carry"])
        bound.update(result["bound"])
        stats = self.stats
        stats.prefix_changes += [(line + self.lines, text) for line, text in result.get("prefix_changes", ())]
        self.lines += result["lines"]
        stats.lines = self.lines
        stats.records += result["records"]
        stats.skipped_lines += result["skipped"]
        for sample in result["samples"]:
            if len(stats.samples_of_skipped) < 3:
                stats.samples_of_skipped.append(sample)
        if self.out:
            pieces.append((self.out, 0))
            self.out = []
        return pieces

    def rest(self, path: Path, compiled: Prefix | None, start: int, progress: Any) -> Iterator[tuple[list[tuple], int]]:
        """Parse from ``start`` to the end of the file here, one pass from the real state."""
        rest = FileStats(self.stats.path, format=self.stats.format)
        report = (lambda position: progress(start + position)) if progress else None
        for _ in stream_range(path, self.interpreter, rest, compiled, start=start, first_line=self.lines, progress=report):
            if self.out:
                rows, self.out = self.out, []
                yield rows, 0
        self.interpreter.finish()
        stats = self.stats
        stats.prefix_changes += rest.prefix_changes
        self.lines += rest.lines
        stats.lines = self.lines
        stats.records += rest.records
        stats.skipped_lines += rest.skipped_lines
        for sample in rest.samples_of_skipped:
            if len(stats.samples_of_skipped) < 3:
                stats.samples_of_skipped.append(sample)
        stats.error = rest.error
        if self.out:
            rows, self.out = self.out, []
            yield rows, 0


def parallel_rows(
    path: Path, stats: FileStats, compiled: Prefix | None, pool: RangePool, include_own: bool, progress: Any
) -> Iterator[tuple[list[tuple], int]]:
    """The statement rows of ``path`` (checked by ``inspect_file``), parsed by ``pool``'s workers,
    as lists of rows and the number to add to their line numbers (see :meth:`Stitcher.apply`).

    ``stats`` is filled as one pass would fill it (``statements`` is the caller's).
    """
    starts = [0, *find_cuts(path, stats.format, compiled, stats.bytes)]
    ends: list[int | None] = [*starts[1:], None]
    count = len(starts)
    stitcher = Stitcher(path, stats, include_own)
    ahead = 2 * len(pool.workers)
    asked = 0

    def ask() -> None:
        nonlocal asked
        pool.ask((str(path), stats.format, compiled.text if compiled else "", starts[asked], ends[asked], include_own))
        asked += 1

    try:
        while asked < min(ahead, count):
            ask()
        for k in range(count):
            result = pool.collect()
            if asked < count and result is not None:
                ask()
            if not stitcher.usable(result, k == count - 1):
                pool.drain()
                yield from stitcher.rest(path, compiled, starts[k], progress)
                return
            yield from stitcher.apply(result)
            if progress:
                progress(ends[k] if ends[k] is not None else stats.bytes)
    finally:
        pool.drain()
    stitcher.interpreter.finish()
    if stitcher.out:
        yield stitcher.out, 0
        stitcher.out = []
