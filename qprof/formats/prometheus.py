"""OpenMetrics text for Prometheus — node_exporter's textfile collector (``--format prometheus``).

Per statement: calls, total and mean execution time (seconds), labelled by ``queryid``, a short
``fingerprint`` (the same id for the same normalized text on every server, where queryids differ
between servers and major versions), ``user`` and ``database`` where known. Gauges, because the
values are those of a scope (``top``: pg_stat_statements since its reset; ``report``/``record``:
one window), not counters this process keeps. Rows with the same labels (pg_stat_statements' top-level
and nested entries of one statement) are added up, so that every series is unique.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PREFIX = "qprof_statement"
LABELS = ("queryid", "fingerprint", "user", "database")
FAMILIES = (  # name, help, value from the summed row
    ("calls", "Executions of the statement in the scope qprof read.", lambda r: r["calls"]),
    ("total_time_seconds", "Execution time of the statement in the scope, all calls added up.", lambda r: r["total_ms"] / 1000),
    ("mean_time_seconds", "Mean execution time of one call of the statement in the scope.", lambda r: r["total_ms"] / 1000 / r["calls"] if r["calls"] else 0.0),
)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def short_fingerprint(query: str) -> str:
    """qprof's id for a statement's normalized text (the one N+1 findings show)."""
    from qprof.fingerprint import pg_fingerprint, short_id

    return short_id(pg_fingerprint(query))


def render(statements: Iterable[Mapping[str, Any]], *, scope: str, generated_at: float) -> str:
    """``statements``: rows with queryid, query, calls, total_ms (user, database optional);
    ``scope`` says where they came from (a label on the info metric); ``generated_at`` is a Unix time."""
    summed: dict[tuple[str, ...], dict[str, float]] = {}
    for row in statements:
        labels = (
            str(row.get("queryid") or ""),
            short_fingerprint(str(row.get("query") or "")),
            str(row.get("user") or ""),
            str(row.get("database") or ""),
        )
        entry = summed.setdefault(labels, {"calls": 0, "total_ms": 0.0})
        entry["calls"] += int(row.get("calls") or 0)
        entry["total_ms"] += float(row.get("total_ms") or 0.0)
    lines = []
    for suffix, help_text, value in FAMILIES:
        name = f"{PREFIX}_{suffix}"
        lines += [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} gauge"]
        for labels, row in summed.items():
            rendered = ",".join(f'{key}="{escape_label(v)}"' for key, v in zip(LABELS, labels, strict=True) if v)
            lines.append(f"{name}{{{rendered}}} {_number(value(row))}")
    lines += [
        "# HELP qprof_generated_timestamp_seconds When qprof wrote these figures (alert when the file goes stale).",
        "# TYPE qprof_generated_timestamp_seconds gauge",
        f'qprof_generated_timestamp_seconds{{scope="{escape_label(scope)}"}} {_number(round(generated_at, 3))}',
        "# EOF",
    ]
    return "\n".join(lines) + "\n"
