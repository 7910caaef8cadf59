"""Service-level objectives a recorded window must meet: ``p95<100ms``, ``calls_per_s>50``.

Grammar (one expression; spaces allowed anywhere)::

    [window: | statement:] METRIC OP NUMBER [UNIT]

    METRIC  p50 | p95 | p99 | mean | max | calls_per_s | total
    OP      < | <= | > | >=
    UNIT    ms | s  (latency, total; default ms)     /s (calls_per_s; optional)

Latency metrics (p50, p95, p99, mean, max) apply to every statement unless prefixed
``window:`` (then to all of the window's executions together); ``calls_per_s`` and ``total``
(DB time) apply to the whole window unless prefixed ``statement:``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from qprof.errors import BadInput

GRAMMAR = "[window:|statement:](p50|p95|p99|mean|max|calls_per_s|total)(<|<=|>|>=)NUMBER[ms|s|/s], e.g. p95<100ms, window:p99<=1s, mean<50ms, calls_per_s>50"
LATENCY = ("p50", "p95", "p99", "mean", "max")
_EXPR = re.compile(
    r"^\s*(?:(?P<scope>window|statement|each)\s*:\s*)?(?P<metric>p50|p95|p99|mean|max|calls_per_s|total)\s*"
    r"(?P<op><=|>=|<|>)\s*(?P<number>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>ms|s|/s)?\s*$",
    re.IGNORECASE,
)
OPERATORS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Slo:
    text: str
    metric: str
    op: str
    limit: float  # ms for latency and total, per second for calls_per_s
    scope: str  # "statement" or "window"

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.limit)

    def holds_below(self, bound: float) -> bool | None:
        """Whether the SLO holds for a value known only to be under ``bound`` (a percentile among
        the executions the log left out, log_min_duration_statement = bound): None when unknown."""
        if bound <= self.limit:  # value < bound <= limit
            return self.op in ("<", "<=")
        return None

    def show(self, value: float | None, below: float | None = None) -> str:
        if value is None:
            return f"< {below:g} ms" if below else "—"
        return f"{value:,.2f}/s" if self.metric == "calls_per_s" else f"{value:,.2f} ms"


def parse_slo(text: str) -> Slo:
    """One SLO expression; anything else is a usage error naming the grammar."""
    match = _EXPR.match(text or "")
    if not match:
        raise BadInput(f"invalid SLO {text!r}", hint=f"the grammar is {GRAMMAR}")
    metric, unit = match["metric"].lower(), (match["unit"] or "").lower()
    number = float(match["number"])
    if metric == "calls_per_s":
        if unit not in ("", "/s"):
            raise BadInput(f"invalid SLO {text!r}: calls_per_s takes a rate (/s), not {unit}", hint=f"the grammar is {GRAMMAR}")
        limit = number
    else:
        if unit == "/s":
            raise BadInput(f"invalid SLO {text!r}: {metric} is a time (ms or s), not a rate", hint=f"the grammar is {GRAMMAR}")
        limit = number * 1000.0 if unit == "s" else number
    scope = (match["scope"] or "").lower().replace("each", "statement")
    if not scope:
        scope = "statement" if metric in LATENCY else "window"
    return Slo(" ".join(text.split()), metric, match["op"], limit, scope)


def parse_slos(texts: Iterable[str]) -> list[Slo]:
    return [parse_slo(t) for t in texts]


def slos_from_config(settings: dict[str, Any]) -> list[str]:
    """``slo = [...]`` under ``[record]`` in qprof.toml (``[tool.qprof.record]`` in pyproject.toml)."""
    record = settings.get("record") or {}
    value = record.get("slo", []) if isinstance(record, dict) else []
    return [value] if isinstance(value, str) else list(value)


@dataclass
class Verdict:
    slo: Slo
    checked: bool
    broken: list[dict[str, Any]]  # statements (or the window) that break it, with their value
    unchecked_reason: str | None = None
    value: float | None = None  # the window's figure, for window-scoped SLOs
    below_ms: float | None = None  # … known only to be under this (log_min_duration_statement)

    def to_dict(self) -> dict[str, Any]:
        return {
            "slo": self.slo.text,
            "metric": self.slo.metric,
            "scope": self.slo.scope,
            "op": self.slo.op,
            "limit": self.slo.limit,
            "checked": self.checked,
            "ok": self.checked and not self.broken,
            "broken": self.broken,
            "unchecked_reason": self.unchecked_reason,
            "value": self.value,
            "below_ms": self.below_ms,
        }


def _judge(slo: Slo, value: float | None, below: float | None) -> bool | None:
    """True when ``slo`` holds, False when broken, None when it cannot be told."""
    if value is not None:
        return slo.holds(value)
    if below and slo.metric in ("p50", "p95", "p99"):
        return slo.holds_below(below)
    return None


def _statement_value(slo: Slo, row: dict[str, Any], seconds: float) -> float | None:
    if slo.metric == "calls_per_s":
        return row["calls"] / seconds if seconds > 0 else None
    if slo.metric == "total":
        return row["total_ms"]
    if slo.metric == "mean":
        return row["mean_ms"]
    return row.get(f"{slo.metric}_ms")


RESET = "statistics reset during the window (pg_stat_statements_reset()): its counts cover only part of it"
COUNTED = ("calls_per_s", "total", "mean")  # from pg_stat_statements' counters


def check(slos: Sequence[Slo], statements: Sequence[dict[str, Any]], window: dict[str, Any], *, statistics_reset: bool = False) -> list[Verdict]:
    """Judge each SLO on the window's statement rows (calls, total_ms, mean_ms, p50_ms, …, max_ms)
    and its totals (``window``: seconds, calls, db_time_ms, mean_ms, p50_ms … max_ms).

    ``statistics_reset``: pg_stat_statements was reset mid-window, so calls and times (and a
    percentile ranked among calls, under a log threshold) are partial: not checked."""
    seconds = float(window.get("seconds") or 0.0)
    verdicts = []
    for slo in slos:
        if statistics_reset and (slo.metric in COUNTED or slo.metric in ("p50", "p95", "p99") and window.get("below_ms")):
            verdicts.append(Verdict(slo, False, [], RESET))
            continue
        if slo.scope == "window":
            value = {
                "calls_per_s": window["calls"] / seconds if seconds > 0 else None,
                "total": window["db_time_ms"],
                "mean": window["mean_ms"] if window["calls"] else None,
            }.get(slo.metric, window.get(f"{slo.metric}_ms"))
            below = window.get("below_ms") if value is None else None
            judged = _judge(slo, value, below)
            if judged is None:
                verdicts.append(Verdict(slo, False, [], _why_unchecked(slo, below)))
                continue
            broken = [] if judged else [{"statement": "(whole window)", "queryid": None, "value": value, "below_ms": below}]
            verdicts.append(Verdict(slo, True, broken, value=value, below_ms=below))
            continue
        broken, missing, checked, bounds = [], 0, 0, None
        for row in statements:
            value = _statement_value(slo, row, seconds)
            below = row.get("below_ms") if value is None else None
            judged = _judge(slo, value, below)
            if judged is None:
                missing += 1
                bounds = bounds or below
                continue
            checked += 1
            if not judged:
                broken.append({"statement": row["query"], "queryid": row["queryid"], "value": value, "below_ms": below})
        broken.sort(key=lambda b: -_rank_value(b) if slo.op in ("<", "<=") else _rank_value(b))
        if checked == 0 and statements:
            verdicts.append(Verdict(slo, False, [], _why_unchecked(slo, bounds)))
        else:
            reason = f"{missing} statement(s) without a measurement" + (f" (only known to be < {bounds:g} ms)" if bounds else "") if missing else None
            verdicts.append(Verdict(slo, True, broken, reason))
    return verdicts


def _rank_value(item: dict[str, Any]) -> float:
    return item["value"] if item["value"] is not None else (item.get("below_ms") or 0.0)


def _why_unchecked(slo: Slo, below: float | None = None) -> str:
    if below:
        return (
            f"the log holds only statements of at least {below:g} ms (log_min_duration_statement): "
            f"a percentile under that cannot be judged against {slo.limit:g}"
        )
    if slo.metric in ("p50", "p95", "p99"):
        return "no percentile source in this window"
    return "no activity in this window"
