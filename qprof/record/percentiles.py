"""Per-statement percentiles of a window, from the durations the server logged in it.

pg_stat_statements keeps no percentiles, and none is ever estimated here from a mean and a
standard deviation: each logged duration is joined to its pg_stat_statements entry by the
statement's fingerprint (:func:`qprof.fingerprint.fingerprint` of both texts — the
log's with literal values, pg_stat_statements' with ``$n`` — gives the same key), and the
percentiles (:mod:`qprof.stats`, nearest rank) are of those measurements.

With ``log_min_duration_statement = 0`` every execution is measured. With a threshold T > 0
only executions of at least T ms are logged; knowing each statement's calls from
pg_stat_statements, a percentile whose rank falls among the logged ones is still exact and
the others are reported as "below T" (:func:`qprof.stats.tail_percentile`).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from qprof.stats import percentile, tail_percentile

if TYPE_CHECKING:
    import pandas as pd

FRACTIONS = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}
HOW_TO_ENABLE = (
    "percentiles need measured durations: set log_min_duration_statement = 0 on the server "
    "(ALTER SYSTEM SET log_min_duration_statement = 0; SELECT pg_reload_conf();) and give "
    "qprof record --log FILE (the server's log file, readable by you)"
)


# What PostgreSQL's parser folds into one constant, and pg_stat_statements therefore shows as
# one $n, but a log line spells out: a unary minus on a number (``abalance + -1234``) and the
# boolean literals. Both are made plain literals before the fingerprint, on the log side only.
_UNARY_MINUS = re.compile(r"([+*/%(,=<>]\s*|\b(?:and|or|not|then|else|when|select|values|return|limit|offset|by|between|in)\s+)-\s*(?=[\d.])", re.IGNORECASE)
_BOOLEAN = re.compile(r"\b(?:true|false)\b", re.IGNORECASE)


@lru_cache(maxsize=20_000)
def log_fingerprint(sql: str) -> str:
    """The fingerprint of a statement as the server logged it, comparable with the fingerprint
    of its pg_stat_statements text (see the constants above)."""
    from qprof.fingerprint import fingerprint

    if "-" in sql:
        sql = _UNARY_MINUS.sub(r"\1", sql)
    if "rue" in sql or "alse" in sql or "RUE" in sql or "ALSE" in sql:
        sql = _BOOLEAN.sub("0", sql)
    return fingerprint(sql)


@dataclass
class Measured:
    """What the window's log measured."""

    source: str | None = None  # None: no measurements (percentile columns say "—")
    threshold_ms: float | None = None
    statements: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    window: dict[str, Any] = field(default_factory=dict)  # all matched durations together
    nplusone: list[dict[str, Any]] = field(default_factory=list)
    logged: int = 0  # statements with a duration read from the log
    unmatched: int = 0  # … that matched no pg_stat_statements entry of the window
    ambiguous: int = 0  # entries sharing their text (and user) with another: no percentiles
    nplusone_unsourced: int = 0  # repeats with no source statement: not reported as loops
    notes: list[str] = field(default_factory=list)


def _summary(values: array, calls: int, threshold_ms: float) -> dict[str, Any]:
    ordered = sorted(values)
    row: dict[str, Any] = {"samples": len(ordered), "max_ms": float(ordered[-1]) if ordered else None}
    for key, fraction in FRACTIONS.items():
        if not ordered:
            row[key] = None
        elif threshold_ms <= 0:
            row[key] = percentile(ordered, fraction, presorted=True)
        else:
            row[key] = tail_percentile(ordered, calls, fraction)
    if threshold_ms > 0 and calls > 0 and any(row[key] is None for key in FRACTIONS):
        # the executions the log did not show took less than T: a null percentile is "< below_ms"
        row["below_ms"] = threshold_ms
    return row


def measure(
    batches: Iterable[list[Any]],
    table: pd.DataFrame,
    *,
    database: str | None,
    threshold_ms: float,
    source: str,
    nplusone: bool = True,
) -> Measured:
    """Join the logged statements (lists of LoggedStatement, in log order) to the window's
    ``table`` rows (queryid, user_name, query, calls) by fingerprint and summarise each
    statement's durations."""
    from qprof.fingerprint import fingerprint

    # One pg_stat_statements entry per (user, queryid); the log names the user only when
    # log_line_prefix has %u. Durations are kept per (user, fingerprint), or per fingerprint
    # for lines without a user, and never given to an entry that shares its key with another
    # (same text in two schemas through search_path, or two users unseen in the log).
    by_fingerprint: dict[str, list[tuple[str, str]]] = {}
    calls: dict[tuple[str, str], int] = {}
    texts: dict[str, str] = {}  # fingerprint → pg_stat_statements' text ($n for values)
    for row in table.itertuples(index=False):
        fp, user = fingerprint(str(row.query)), str(row.user_name)
        texts.setdefault(fp, str(row.query))
        by_fingerprint.setdefault(fp, []).append((str(row.queryid), user))
        calls[(user, fp)] = calls.get((user, fp), 0) + int(row.calls)
    by_user: dict[tuple[str, str], array] = {}
    pooled: dict[str, array] = {}
    analyzer = None
    if nplusone:
        from qprof.nplusone.loganalysis import LogAnalyzer

        analyzer = LogAnalyzer()
    measured = Measured(source=source, threshold_ms=threshold_ms)
    everything = array("d")
    other_database = no_database = 0
    logged = unmatched = 0
    for batch in batches:
        if database is not None:
            kept = [s for s in batch if s.database is None or s.database == database]
            other_database += len(batch) - len(kept)
            batch = kept
        if analyzer is not None:
            analyzer.feed_all(batch)
        for statement in batch:
            duration = statement.duration_ms
            if duration is None:
                continue
            logged += 1
            fp = log_fingerprint(statement.sql)
            if fp not in by_fingerprint or (statement.user is not None and (statement.user, fp) not in calls):
                unmatched += 1
                continue
            if statement.user is None:
                bucket = pooled.setdefault(fp, array("d"))
            else:
                bucket = by_user.setdefault((statement.user, fp), array("d"))
            if statement.database is None:
                no_database += 1
            bucket.append(duration)
            everything.append(duration)
    measured.logged, measured.unmatched = logged, unmatched
    ambiguous = 0
    for fp, keys in by_fingerprint.items():
        for queryid, user in keys:
            same_user = sum(1 for _, u in keys if u == user)
            unnamed = pooled.get(fp)
            if same_user > 1 or (unnamed and len(keys) > 1):
                ambiguous += 1
                measured.statements[(queryid, user)] = {"samples": 0, "max_ms": None, "ambiguous": True, **{key: None for key in FRACTIONS}}
                continue
            values = by_user.get((user, fp), array("d")) + (unnamed or array("d"))
            measured.statements[(queryid, user)] = _summary(values, calls[(user, fp)], threshold_ms)
    measured.ambiguous = ambiguous
    measured.window = _summary(everything, sum(calls.values()), threshold_ms)
    if analyzer is not None:
        from qprof import redact

        measured.nplusone = []
        unsourced = 0
        for finding in analyzer.results():
            row = finding.to_dict()
            if not row.get("source"):  # a repeat with no statement it walks (one lookup per request): no loop
                unsourced += 1
                continue
            # texts from the log carry literal values (emails, tokens): shown normalized, never raw
            row["statement"] = redact.output(_normalized(finding.statement, texts))
            row["source"]["statement"] = redact.output(_normalized(row["source"]["statement"], texts))
            row.pop("sample_params", None)
            measured.nplusone.append(row)
        measured.nplusone_unsourced = unsourced
    if other_database:
        measured.notes.append(f"{other_database:,} logged statement(s) of other databases left out")
    if ambiguous:
        measured.notes.append(
            f"{ambiguous} statement(s) share their text with another pg_stat_statements entry (another schema "
            "through search_path"
            + (", or another user: the log names no user, add %u to log_line_prefix" if pooled else "")
            + "): their logged durations cannot be told apart, "
            "so they get no percentiles (ambiguous)"
        )
    if no_database and database is not None:
        measured.notes.append(
            "the log lines name no database (add %d to log_line_prefix): durations of the same statement "
            "text run in other databases are counted with this one's"
        )
    return measured


def _normalized(sql: str, texts: dict[str, str]) -> str:
    """A logged statement without its literal values: its pg_stat_statements text, else its fingerprint."""
    fp = log_fingerprint(sql)
    return texts.get(fp) or fp


def coverage_notes(measured: Measured, table: pd.DataFrame) -> list[str]:
    """Statements whose logged executions fall short of their calls (a truncated or partial log)."""
    if measured.source is None or (measured.threshold_ms or 0) > 0:
        return []
    short = 0
    for row in table.itertuples(index=False):
        found = measured.statements.get((str(row.queryid), str(row.user_name)), {})
        got = found.get("samples", 0)
        if not found.get("ambiguous") and int(row.calls) > 0 and got < 0.9 * int(row.calls):
            short += 1
    if not short:
        return []
    return [
        (
            f"{short} statement(s) have fewer logged durations than calls (the log missed some: written elsewhere "
            "or lost to a truncation, log_min_duration_statement raised, or statements run inside functions, which "
            "the log times as the outer call): their percentiles cover the logged executions only"
        )
    ]


def unmatched_note(measured: Measured) -> list[str]:
    """Why logged durations matched no statement of the window's report, with the count."""
    if not measured.unmatched:
        return []
    return [
        (
            f"{measured.unmatched:,} of {measured.logged:,} logged duration(s) matched no statement of this window: "
            "DDL, utility statements and catalog reads are left out of the report, and the log may hold other "
            "databases' or users' statements, or ones pg_stat_statements did not keep (pg_stat_statements.max)"
        )
    ]
