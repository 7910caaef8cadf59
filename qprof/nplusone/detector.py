"""The N+1 detector: one core that every source (capture, pytest, middleware, logs) feeds.

A *unit* is a request, a test, a transaction or a session: the scope inside which "the same
statement ran again and again with different values" means a loop issued it. Within a unit a
SELECT fingerprint that ran with at least ``threshold`` different parameter sets and took at
least ``min_ms`` in total (Sentry's rule: ≥ 5 repeats, ≥ 50 ms) is an N+1. Its *source* is the
statement that most often ran right before the repeats (ignoring other repeats): the query
whose rows drove the loop.

Events are kept small (fingerprint, parameter key, duration, rows, relationship) so a log
analyzer can hold many open units in bounded memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from operator import itemgetter
from typing import Any, NamedTuple

from qprof.nplusone.fingerprint import Shape, fingerprint, shape, short_id
from qprof.sqltext import one_line

DEFAULT_THRESHOLD = 5
DEFAULT_MIN_MS = 50.0

_unknown = count()
_first = itemgetter(0)


class Event(NamedTuple):
    """One executed statement as the detector sees it."""

    fingerprint: str
    params_key: Hashable | None  # None: values unknown (each execution counts as different)
    duration_ms: float
    rows: int | None = None
    relationship: str | None = None  # ORM relationship that issued it (capture only)


@dataclass
class Executed:
    """A statement recorded by an in-application source, with everything known about it."""

    sql: str
    params: Any = None
    duration_ms: float = 0.0
    rows: int | None = None
    unit: str = ""
    relationship: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.sql)

    def event(self) -> Event:
        return Event(self.fingerprint, params_key(self.params, self.sql), self.duration_ms, self.rows, self.relationship)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "params": _jsonable(self.params),
            "duration_ms": round(self.duration_ms, 3),
            "rows": self.rows,
            "unit": self.unit,
            "relationship": self.relationship,
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
    """One N+1 in one unit (or, after :func:`aggregate`, the same N+1 over many units)."""

    fingerprint: str
    statement: str  # the first execution's text
    executions: int
    distinct_params: int
    total_ms: float
    unit: str
    source_statement: str | None = None
    source_fingerprint: str | None = None
    source_rows: int | None = None
    source_share: float = 0.0  # fraction of the repeats that ran right after the source
    relationship: str | None = None
    sample_params: list[Any] = field(default_factory=list)
    units: int = 1
    max_per_unit: int = 0

    @property
    def fingerprint_id(self) -> str:
        return short_id(self.fingerprint)

    @property
    def shape(self) -> Shape:
        return shape(self.fingerprint)

    @property
    def fix(self) -> str:
        return suggest_fix(self)

    @property
    def message(self) -> str:
        per_unit = f"{self.executions}×" if self.units == 1 else f"{self.executions}× over {self.units} units (up to {self.max_per_unit}× in one)"
        text = f"N+1: {one_line(self.statement, 100)} ran {per_unit}, {self.total_ms:.1f} ms in total"
        if self.relationship:
            text += f", lazy-loading {self.relationship}"
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
            "unit": self.unit,
            "units": self.units,
            "max_per_unit": self.max_per_unit or self.executions,
            "source": source,
            "relationship": self.relationship,
            "tables": list(self.shape.tables),
            "sample_params": _jsonable(self.sample_params),
            "fix": self.fix,
        }

    def describe(self) -> str:
        """A multi-line report for people (pytest failures, logs, ``cap.report()``)."""
        lines = [f"N+1 in {self.unit}: {self.executions} executions ({self.distinct_params} different parameter sets), {self.total_ms:.1f} ms"]
        if self.units > 1:
            lines[0] += f" over {self.units} units"
        lines.append(f"  repeated: {one_line(self.statement, 200)}")
        if self.source_statement:
            rows = f" ({self.source_rows} rows)" if self.source_rows is not None else ""
            lines.append(f"  source:   {one_line(self.source_statement, 200)}{rows}")
        if self.relationship:
            lines.append(f"  relationship: {self.relationship}")
        lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


def suggest_fix(finding: NPlusOne) -> str:
    """One JOIN, one batched lookup, or the SQLAlchemy loader option that does either."""
    if finding.relationship:
        return (
            f"eager-load it: add .options(selectinload({finding.relationship})) (or joinedload) to the query that "
            f"loads the parents, so {finding.executions} lookups become one"
        )
    info = finding.shape
    if info.single_table and info.key_columns:
        table, column = info.tables[0], info.key_columns[0]
        return (
            f"fetch all rows at once: SELECT … FROM {table} WHERE {column} = ANY($1) (or IN (…)) with the "
            f"{finding.executions} keys, or JOIN {table} into the source statement"
        )
    return "batch the lookups into one statement (a JOIN, or IN (…)/= ANY($1) over all keys) instead of one per row"


def detect_events(
    events: Sequence[Event],
    samples: Mapping[str, tuple[str, Any]],
    unit: str,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    min_ms: float = DEFAULT_MIN_MS,
) -> list[NPlusOne]:
    """The N+1s of one unit. ``samples`` maps a fingerprint to its first (text, params).

    ``events`` are :class:`Event` or plain tuples in the same order (the log analyzer keeps
    millions of them short-lived, and a tuple is cheaper to build); most units have no
    candidate, so that is decided first, with one C-level count.
    """
    if len(events) < threshold:
        return []
    executions: Counter[str] = Counter(map(_first, events))
    candidates = {fp for fp, n in executions.items() if n >= threshold and shape(fp).kind == "select"}
    if not candidates:
        return []
    total_ms: Counter[str] = Counter()
    distinct: dict[str, set] = {}
    for fp, key, duration, _rows, _relationship in events:
        if fp in candidates:
            total_ms[fp] += duration
            if key is None:
                key = ("unknown", next(_unknown))
            distinct.setdefault(fp, set()).add(key)
    candidates = {fp for fp in candidates if len(distinct[fp]) >= threshold and total_ms[fp] >= min_ms}
    if not candidates:
        return []
    votes: dict[str, Counter[str]] = {fp: Counter() for fp in candidates}
    source_rows: dict[str, int | None] = {}
    relationships: dict[str, Counter[str]] = {fp: Counter() for fp in candidates}
    last_source: str | None = None
    for fp, _key, _duration, rows, relationship in events:
        if fp in candidates:
            votes[fp][last_source or ""] += 1
            if relationship:
                relationships[fp][relationship] += 1
        elif shape(fp).kind == "select":
            last_source = fp
            source_rows[fp] = rows
    found = []
    for fp in sorted(candidates, key=lambda f: -total_ms[f]):
        sql, params = samples.get(fp, (fp, None))
        source_fp, share = None, 0.0
        ranked = [(s, n) for s, n in votes[fp].most_common() if s]
        if ranked:
            source_fp, n = ranked[0]
            share = n / executions[fp]
        rel = relationships[fp].most_common(1)
        found.append(
            NPlusOne(
                fingerprint=fp,
                statement=sql,
                executions=executions[fp],
                distinct_params=len(distinct[fp]),
                total_ms=total_ms[fp],
                unit=unit,
                source_statement=samples.get(source_fp, (source_fp, None))[0] if source_fp else None,
                source_fingerprint=source_fp,
                source_rows=source_rows.get(source_fp) if source_fp else None,
                source_share=share,
                relationship=rel[0][0] if rel else None,
                sample_params=[] if params is None else [params],
                max_per_unit=executions[fp],
            )
        )
    return found


def detect(
    statements: Iterable[Executed], *, threshold: int = DEFAULT_THRESHOLD, min_ms: float = DEFAULT_MIN_MS
) -> list[NPlusOne]:
    """N+1s in recorded statements, grouped by their ``unit``."""
    by_unit: dict[str, tuple[list[Event], dict[str, tuple[str, Any]]]] = {}
    for statement in statements:
        events, samples = by_unit.setdefault(statement.unit, ([], {}))
        event = statement.event()
        events.append(event)
        samples.setdefault(event.fingerprint, (statement.sql, statement.params))
    found: list[NPlusOne] = []
    for unit, (events, samples) in by_unit.items():
        found.extend(detect_events(events, samples, unit, threshold=threshold, min_ms=min_ms))
    return found


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
