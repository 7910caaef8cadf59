"""Which server log measures a window, and how much of each statement it measures."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qprof.errors import QprofError
from qprof.sqlfiles import load_sql
from qprof.record.percentiles import HOW_TO_ENABLE


@dataclass
class LogSource:
    path: Path | None  # None: no percentiles for this window
    threshold_ms: float = 0.0  # durations logged from this many ms on (0: every statement)
    prefix: str | None = None
    reason: str | None = None  # why there is no source
    notes: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        every = "every statement" if self.threshold_ms <= 0 else f"statements ≥ {self.threshold_ms:g} ms"
        return f"server log {self.path} ({every})"


def _settings(target: Any) -> dict[str, str]:
    try:
        rows = target.fetch_all(load_sql("qprof.record", "log_settings.sql"), what="reading the log settings")
    except QprofError:
        return {}
    return {r["name"]: r["setting"] for r in rows}


def find_log(target: Any, given: str | Path | None, prefix: str | None = None) -> LogSource:
    """The log to read: ``given``, else the file the server writes now (with logging_collector)."""
    settings = _settings(target)
    threshold = float(settings.get("log_min_duration_statement", "-1") or -1)
    if settings.get("log_duration") == "on" and settings.get("log_statement") == "all":
        threshold = 0.0
    if threshold < 0:
        return LogSource(None, reason="the server logs no statement durations (log_min_duration_statement = -1); " + HOW_TO_ENABLE)
    path: Path | None = Path(given) if given else None
    if path is None:
        current = None
        if settings.get("logging_collector") == "on":
            try:
                current = target.fetch_value(load_sql("qprof.record", "current_logfile.sql"), what="reading pg_current_logfile()")
            except QprofError:
                current = None
        if not current:
            return LogSource(None, reason="no --log given and the server does not say which file it logs to; " + HOW_TO_ENABLE)
        path = Path(current)
        if not path.is_absolute() and settings.get("data_directory"):
            path = Path(settings["data_directory"]) / path
        if not os.access(path, os.R_OK):
            return LogSource(None, reason=f"the server logs to {path}, which qprof cannot read here; give --log with a readable copy path")
    return LogSource(path, threshold_ms=threshold, prefix=prefix)
