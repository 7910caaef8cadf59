"""The N+1 detector: one core that every source (capture, pytest, middleware, logs) feeds.

A *unit* is a request, a test, a transaction or a session: the stream of statements one
thread of work ran, in order. An N+1 is a *pattern*, whatever it costs on today's data: one
SELECT fingerprint that ran at least ``threshold`` times with different parameters as one
**burst** — consecutive, or separated only by a short loop body of at most ``max_body`` other
statements (a grandchild lookup per child) — **driven by a source**: the SELECT that ran right
before the burst, whose rows the loop walks. A burst ends at transaction control, at a gap
longer than the body, or when its source's shape runs again (then it was a fixed script run
over and over — pgbench's transactions — not a loop over rows). The total time decides the
severity, never the finding: at least ``min_ms`` is a warning, below it info ("cheap on this
data; grows with rows").

:class:`LoopTracker` holds a unit's state as it streams: the last SELECT (the next burst's
source) and the few bursts still open — nothing else, so a session that never idles costs
the same memory after a minute as after a day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qprof.fingerprint import Shape, fingerprint, shape, short_id
from qprof.sqltext import one_line

DEFAULT_THRESHOLD = 5
DEFAULT_MIN_MS = 50.0
DEFAULT_MAX_BODY = 3  # statements a loop body may run between two repeats (grandchild lookups)
MAX_KEYS = 4096  # distinct parameter sets remembered per burst (more only counts as "more")
_TRANSACTION_WORDS = frozenset(("begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare"))


@dataclass
class Executed:
    """A statement recorded by an in-application source, with everything known about it."""

    sql: str
    params: Any = None
    duration_ms: float = 0.0
    rows: int | None = None
    unit: str = ""
    relationship: str | None = None
    callsite: str | None = None
    loader: str | None = None
    thread: int = 0  # statements of one unit from different threads are separate streams

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.sql)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "params": _jsonable(self.params),
            "duration_ms": round(self.duration_ms, 3),
            "rows": self.rows,
            "unit": self.unit,
            "relationship": self.relationship,
            "callsite": self.callsite,
        }


def params_key(params: Any, sql: str) -> Hashable | None:
    """What makes two executions "different values": the bound parameters, else the raw text.

    Drivers that inline literals send a different text per value; a text with placeholders
    but no known parameters gives no way to tell, so it is unknown (``None``).
    """
    if params:
        if type(params) is tuple:
            try:
                return hash(params)
            except TypeError:
                pass
        try:
            return hash(_freeze(params))
        except TypeError:
            return repr(params)
    if "$1" in sql or "?" in sql or "%s" in sql or "%(" in sql:
        return None
    return hash(sql)


def _freeze(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


@dataclass
class NPlusOne:
    """One N+1 loop in one unit (or, after :func:`aggregate`, the same loop over many units)."""

    fingerprint: str
    statement: str  # the first execution's text
    executions: int
    distinct_params: int
    total_ms: float
    unit: str
    source_statement: str | None = None
    source_fingerprint: str | None = None
    source_rows: int | None = None
    source_share: float = 1.0  # kept for the JSON shape: a burst always follows its source
    relationship: str | None = None
    sample_params: list[Any] = field(default_factory=list)
    units: int = 1
    max_per_unit: int = 0
    callsite: str | None = None
    loader: str | None = None
    min_ms: float = DEFAULT_MIN_MS
    body: list[str] = field(default_factory=list)  # fingerprints of the loop body's other statements

    @property
    def fingerprint_id(self) -> str:
        return short_id(self.fingerprint)

    @property
    def shape(self) -> Shape:
        return shape(self.fingerprint)

    @property
    def per_loop(self) -> int:
        """Lookups one loop ran (the worst one, after aggregation)."""
        return self.max_per_unit or self.executions

    @property
    def severity(self) -> str:
        """The pattern is found whatever it costs; what it costs today decides how loud."""
        return "warning" if self.total_ms >= self.min_ms else "info"

    @property
    def fix(self) -> str:
        return suggest_fix(self)

    @property
    def message(self) -> str:
        per_unit = f"{self.executions}×" if self.units == 1 else f"{self.executions}× over {self.units} units (up to {self.max_per_unit}× in one)"
        text = f"N+1: {one_line(self.statement, 100)} ran {per_unit}, {self.total_ms:.1f} ms in total"
        if self.severity == "info":
            text += " (cheap on this data; grows with rows)"
        if self.relationship:
            text += f", lazy-loading {self.relationship}"
        if self.callsite:
            text += f" at {self.callsite}"
        if self.source_statement:
            text += f"; after {one_line(self.source_statement, 80)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        source = None
        if self.source_statement is not None:
            source = {
                "statement": self.source_statement,
                "fingerprint_id": short_id(self.source_fingerprint or ""),
                "rows": self.source_rows,
                "share": round(self.source_share, 3),
            }
        return {
            "statement": self.statement,
            "fingerprint": self.fingerprint,
            "fingerprint_id": self.fingerprint_id,
            "executions": self.executions,
            "distinct_params": self.distinct_params,
            "total_ms": round(self.total_ms, 3),
            "severity": self.severity,
            "unit": self.unit,
            "units": self.units,
            "max_per_unit": self.per_loop,
            "source": source,
            "relationship": self.relationship,
            "callsite": self.callsite,
            "body": list(self.body),
            "tables": list(self.shape.tables),
            "sample_params": _jsonable(self.sample_params),
            "fix": self.fix,
        }

    def describe(self) -> str:
        """A multi-line report for people (pytest failures, logs, ``cap.report()``)."""
        head = f"N+1 in {self.unit}: {self.executions} executions ({self.distinct_params} different parameter sets), {self.total_ms:.1f} ms — {self.severity}"
        lines = [head]
        if self.units > 1:
            lines[0] += f" over {self.units} units"
        if self.severity == "info":
            lines[0] += f" (below {self.min_ms:g} ms: cheap on this data; grows with rows)"
        if self.callsite:
            lines.append(f"  at:       {self.callsite}")
        lines.append(f"  repeated: {one_line(self.statement, 200)}")
        if self.source_statement:
            rows = f" ({self.source_rows} rows)" if self.source_rows is not None else ""
            lines.append(f"  source:   {one_line(self.source_statement, 200)}{rows}")
        if self.relationship:
            lines.append(f"  relationship: {self.relationship}")
        lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


def suggest_fix(finding: NPlusOne) -> str:
    """One JOIN, one batched lookup, or the ORM loader option that does either — with what one loop ran."""
    n = finding.per_loop
    if finding.loader:  # Django: select_related(...) / prefetch_related(...)
        model = (finding.relationship or "").split(".", 1)[0]
        parents = f"the {model} queryset" if model else "the queryset that loads the parents"
        return f"add .{finding.loader} to {parents}, so {n} lookups become one"
    if finding.relationship:
        return (
            f"eager-load it: add .options(selectinload({finding.relationship})) (or joinedload) to the query that loads the parents, so {n} lookups become one"
        )
    info = finding.shape
    if info.single_table and info.key_columns:
        table, column = info.tables[0], info.key_columns[0]
        return (
            f"{n} lookups by {column} → one: SELECT … FROM {table} WHERE {column} = ANY($1) (or IN (…)) with all "
            f"{n} keys, or JOIN {table} into the source statement"
        )
    return f"{n} lookups → one: batch them into one statement (a JOIN, or IN (…)/= ANY($1) over all keys)"


_KINDS: dict[str, str] = {}


def statement_kind(fp: str) -> str:
    """``select`` (a read), ``txn`` (transaction control) or ``other``; cached per fingerprint."""
    kind = _KINDS.get(fp)
    if kind is None:
        first = fp.split(None, 1)[0] if fp.strip() else ""
        if first in _TRANSACTION_WORDS:
            kind = "txn"
        elif first in ("select", "with", "values", "table", "("):
            kind = "select" if shape(fp).kind == "select" else "other"
        else:
            kind = "other"
        if len(_KINDS) >= 65536:
            _KINDS.clear()
        _KINDS[fp] = kind
    return kind


class Burst:
    """One fingerprint repeating, consecutive but for a short loop body, after its source."""

    __slots__ = (
        "body",
        "callsite",
        "count",
        "fingerprint",
        "keys",
        "last",
        "loader",
        "params",
        "relationships",
        "source",
        "sql",
        "total_ms",
        "unknown",
        "where",
    )

    def __init__(self, fp: str, sql: str, params: Any, source: tuple, position: int, where: Any) -> None:
        self.fingerprint, self.sql, self.params, self.source = fp, sql, params, source
        self.count, self.unknown, self.total_ms, self.last = 0, 0, 0.0, position
        self.keys: set = set()
        self.body: set[str] = set()
        self.relationships: Counter[str] | None = None
        self.callsite: str | None = None
        self.loader: str | None = None
        self.where = where

    @property
    def distinct(self) -> int:
        return len(self.keys) + self.unknown

    def finding(self, unit: str, min_ms: float) -> NPlusOne:
        source_fp, source_sql, source_rows = self.source
        relationship = self.relationships.most_common(1)[0][0] if self.relationships else None
        return NPlusOne(
            fingerprint=self.fingerprint,
            statement=self.sql,
            executions=self.count,
            distinct_params=self.distinct,
            total_ms=self.total_ms,
            unit=unit,
            source_statement=source_sql,
            source_fingerprint=source_fp,
            source_rows=source_rows,
            relationship=relationship,
            sample_params=[] if self.params is None else [self.params],
            max_per_unit=self.count,
            callsite=self.callsite,
            loader=self.loader,
            min_ms=min_ms,
            body=sorted(self.body),
        )


class LoopTracker:
    """A unit's statements in order → its finished bursts (``done``), in bounded memory.

    :meth:`add` is the per-statement path of log analysis (millions of calls), hence plain
    positional arguments. ``where`` is anything the caller wants back with a burst (a file
    and line). Call :meth:`close` at the end of the unit.
    """

    __slots__ = ("bursts", "done", "max_body", "position", "source", "threshold")

    def __init__(self, threshold: int = DEFAULT_THRESHOLD, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.threshold, self.max_body = threshold, max_body
        self.source: tuple | None = None  # (fingerprint, sql, rows) of the last SELECT
        self.bursts: dict[str, Burst] = {}
        self.position = 0
        self.done: list[Burst] = []

    def add(
        self,
        fp: str,
        key: Hashable | None,
        duration_ms: float,
        rows: int | None,
        sql: str,
        params: Any = None,
        relationship: str | None = None,
        callsite: str | None = None,
        loader: str | None = None,
        where: Any = None,
    ) -> None:
        self.position = position = self.position + 1
        kind = _KINDS.get(fp) or statement_kind(fp)
        bursts = self.bursts
        if bursts:
            limit = position - self.max_body - 1
            for other in [b for b in bursts.values() if b.last < limit or kind == "txn" or b.source[0] == fp]:
                self._end(other)
        burst = bursts.get(fp)
        if burst is None:
            if kind != "select":
                for other in bursts.values():
                    other.body.add(fp)
                return
            source = self.source
            self.source = (fp, sql, rows)
            if source is None or source[0] == fp:
                return  # nothing before it drives a loop (pgbench -S: one statement, over and over)
            burst = bursts[fp] = Burst(fp, sql, params, source, position, where)
        else:
            self.source = (fp, sql, rows)
        for other in bursts.values():
            if other is not burst:
                other.body.add(fp)
        burst.count += 1
        burst.total_ms += duration_ms
        burst.last = position
        if key is None:
            burst.unknown += 1
        elif len(burst.keys) < MAX_KEYS:
            burst.keys.add(key)
        if relationship is not None:
            if burst.relationships is None:
                burst.relationships = Counter()
            burst.relationships[relationship] += 1
        if callsite is not None and burst.callsite is None:
            burst.callsite, burst.loader = callsite, loader
        elif loader is not None and burst.loader is None:
            burst.loader = loader

    def _end(self, burst: Burst) -> None:
        del self.bursts[burst.fingerprint]
        if burst.count >= self.threshold and burst.distinct >= self.threshold and burst.source[0] not in burst.body:
            self.done.append(burst)

    def close_finished(self) -> list[Burst]:
        """The bursts finished so far (and forget them); the open ones stay open."""
        done, self.done = self.done, []
        return done

    def close(self) -> list[Burst]:
        """End the unit: every open burst is judged; the finished ones are returned (and cleared)."""
        for burst in list(self.bursts.values()):
            self._end(burst)
        done, self.done = self.done, []
        return done


def detect(
    statements: Iterable[Executed],
    *,
    threshold: int = DEFAULT_THRESHOLD,
    min_ms: float = DEFAULT_MIN_MS,
    max_body: int = DEFAULT_MAX_BODY,
) -> list[NPlusOne]:
    """N+1 loops in recorded statements, per ``unit`` (and per thread within a unit), worst first."""
    trackers: dict[tuple[str, int], LoopTracker] = {}
    for statement in statements:
        tracker = trackers.get((statement.unit, statement.thread))
        if tracker is None:
            tracker = trackers[(statement.unit, statement.thread)] = LoopTracker(threshold, max_body)
        fp = statement.fingerprint
        tracker.add(
            fp,
            params_key(statement.params, statement.sql),
            statement.duration_ms,
            statement.rows,
            statement.sql,
            statement.params,
            statement.relationship,
            statement.callsite,
            statement.loader,
        )
    found = [burst.finding(unit, min_ms) for (unit, _), tracker in trackers.items() for burst in tracker.close()]
    return sorted(found, key=lambda f: (-f.total_ms, -f.executions))


class Aggregate:
    """The same N+1 (repeated statement + source) over many units, in constant memory per pair."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str | None], NPlusOne] = {}

    def add(self, finding: NPlusOne) -> None:
        key = (finding.fingerprint, finding.source_fingerprint)
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = NPlusOne(**{**finding.__dict__, "sample_params": list(finding.sample_params)})
            return
        group.units += 1
        group.executions += finding.executions
        group.distinct_params += finding.distinct_params
        group.total_ms += finding.total_ms
        if finding.executions > group.max_per_unit:
            group.max_per_unit = finding.executions
            group.unit = finding.unit  # the worst unit is the example
        if len(group.sample_params) < 3:
            group.sample_params.extend(finding.sample_params[: 3 - len(group.sample_params)])

    def results(self) -> list[NPlusOne]:
        return sorted(self._groups.values(), key=lambda f: (-f.total_ms, -f.executions))


def aggregate(findings: Iterable[NPlusOne]) -> list[NPlusOne]:
    """Merge per-unit findings of the same statement and source (for logs of many requests)."""
    groups = Aggregate()
    for finding in findings:
        groups.add(finding)
    return groups.results()
