"""``qprof record``: snapshot, run the load (or wait), snapshot, measure, judge, store.

Order matters for a window that adds up: the start snapshot is read, then the log's end is
marked; at the end the closing snapshot is read, then the log's end is marked again. A
statement is counted by pg_stat_statements and logged by the server when it completes, so
both sides see the same executions (up to the few milliseconds each snapshot takes).
The run is registered in the store before the load starts and closed after it, whatever
happened to the command; a failure to close it leaves it marked ``running`` with its start.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qprof.errors import QprofError
from qprof.output import note, warn
from qprof.record.child import deferred_interrupts, run_command, wait_for
from qprof.record.slo import Slo, Verdict
from qprof.redact import command_line as shown_command


@dataclass
class RecordRequest:
    db: str | None
    profile: str | None
    statement_timeout: str
    store: str
    slos: list[Slo]
    command: list[str] | None = None
    duration_s: float | None = None
    name: str | None = None
    log: str | None = None
    log_prefix: str | None = None
    limit: int = 10
    advisors: bool = True
    quiet: bool = False
    origin: str | None = None  # what drove the load when there is no command (e.g. the Locust plugin)
    command_stdout_to_stderr: bool = False  # keep stdout for a report a script parses
    slo_unmeasured_ok: bool = False  # an SLO that cannot be checked passes the gate (default: it fails it)


@dataclass
class RecordOutcome:
    document: dict[str, Any]
    series: dict[str, Any]
    exit_code: int  # the command's, or 1 for a broken SLO, or 0
    verdicts: list[Verdict] = field(default_factory=list)


def default_name() -> str:
    from qprof.history.store import utcnow

    return f"run-{utcnow():%Y%m%d-%H%M%S}-{os.getpid()}"


class Recording:
    """One window: :meth:`begin` before the load, :meth:`finish` after it (``qprof record`` and
    the Locust plugin both drive it); :meth:`close` releases the store and the log file."""

    def __init__(self, request: RecordRequest) -> None:
        self.request = request
        self.name = request.name or default_name()
        self.history: Any = None
        self.log_window: Any = None
        self.source: Any = None
        self.run_id = 0
        self.start_id = 0

    def begin(self) -> None:
        from qprof.targets.session import session
        from qprof.history.collect import collect_snapshot
        from qprof.history.store import Store
        from qprof.record.logsource import find_log
        from qprof.record.logwindow import LogWindow

        request = self.request
        with session(request.db, profile=request.profile, statement_timeout=request.statement_timeout) as target:
            self.source = find_log(target, request.log, request.log_prefix)
            start = collect_snapshot(target)
        if self.source.path is not None:
            self.log_window = LogWindow.begin(self.source.path)
        self.history = Store(request.store)
        self.start_id = self.history.save_snapshot(start)
        self.run_id = self.history.start_run(
            self.name,
            self.start_id,
            {
                "command": shown_command(request.command) if request.command else None,
                "pid": os.getpid(),
                "log_path": str(self.source.path) if self.source.path else None,
                "log_start": self.log_window.start if self.log_window else None,
            },
        )
        if not request.quiet:
            what = (
                " ".join(shown_command(request.command))
                if request.command
                else (f"{request.duration_s:g} s" if request.duration_s else "until the load test stops")
            )
            note(f"recording run {self.name!r} (snapshot {self.start_id}): {what}")

    def finish(self, *, exit_code: int = 0, interrupted: bool = False) -> RecordOutcome:
        with deferred_interrupts() as held:
            return _close(
                self.request,
                self.history,
                run_id=self.run_id,
                name=self.name,
                start_id=self.start_id,
                log_window=self.log_window,
                source=self.source,
                exit_code=exit_code,
                interrupted=interrupted or bool(held.caught),
            )

    def close(self) -> None:
        if self.log_window is not None:
            self.log_window.close()
        if self.history is not None:
            self.history.close()


def record(request: RecordRequest) -> RecordOutcome:
    """Record one window around ``request.command`` (or for ``duration_s``) and report it."""
    recording = Recording(request)
    try:
        recording.begin()
        if request.command:
            child = run_command(request.command, stdout_to_stderr=request.command_stdout_to_stderr)
            if child.error:
                warn(child.error)
            exit_code, interrupted = child.exit_code, child.interrupted
        else:
            interrupted = wait_for(request.duration_s or 0.0)
            exit_code = 0
        return recording.finish(exit_code=exit_code, interrupted=interrupted)
    finally:
        recording.close()


def _close(
    request: RecordRequest, history: Any, *, run_id: int, name: str, start_id: int, log_window: Any, source: Any, exit_code: int, interrupted: bool
) -> RecordOutcome:
    from qprof.targets.session import session
    from qprof.history.collect import collect_snapshot
    from qprof.record.logwindow import iter_batches
    from qprof.record.percentiles import (
        HOW_TO_ENABLE,
        Measured,
        coverage_notes,
        measure,
        unmatched_note,
    )
    from qprof.record.report import build_run_report, workload_rows
    from qprof.record.slo import check

    status = "interrupted" if interrupted else ("complete" if exit_code == 0 else "failed")
    try:
        with session(request.db, profile=request.profile, statement_timeout=request.statement_timeout) as target:
            end = collect_snapshot(target)
    except QprofError as exc:
        history.finish_run(run_id, {"status": "unclosed", "exit_code": exit_code, "notes": [f"the closing snapshot failed: {exc.message}"]}, [])
        raise QprofError(
            f"could not close the window of run {name!r}: {exc.message}", hint="the run is stored without its end; rerun once the database is reachable"
        ) from None
    segments = log_window.finish() if log_window is not None else []
    end_id = history.save_snapshot(end)
    # the window is closed and stored now, whatever the measuring below meets
    history.finish_run(
        run_id,
        {"end_snapshot_id": end_id, "status": status, "exit_code": exit_code if request.command else None, "log_end": log_window.end if log_window else None},
        [],
    )
    from qprof.record.runs import window_between

    window = window_between(history, history.find_run(name)["target_id"], start_id, end_id)
    from qprof.history.window import statement_table

    table = statement_table(history, window)
    work = workload_rows(table)
    notes = _statistics_notes(window)
    if log_window is not None:
        file_stats: list = []
        try:
            measured = measure(
                iter_batches(segments, request.log_prefix, file_stats), work, database=end.database, threshold_ms=source.threshold_ms, source=source.description
            )
        except QprofError as exc:
            measured = Measured(notes=[f"the log could not be read: {exc.message}"])
        measured.notes = [*log_window.notes, *measured.notes, *coverage_notes(measured, work), *unmatched_note(measured)]
        for stats in file_stats:
            if stats.error:
                measured.notes.append(f"{stats.path}: {stats.error}")
        if measured.source and measured.logged == 0 and not work.empty:
            measured.notes.append("the log held no statement durations for this window; " + HOW_TO_ENABLE)
    else:
        measured = Measured(notes=[])
    if measured.source is None:
        measured.how_to_enable = source.reason or HOW_TO_ENABLE  # type: ignore[attr-defined]
    findings, findings_note = (None, "advisors skipped (--no-advisors)")
    if request.advisors:
        from qprof.record.report import plan_findings

        findings, findings_note = plan_findings(request.db, request.profile, request.statement_timeout, work, limit=5)
    document, series, rows = build_run_report(history, window, work, measured, request.limit, findings, findings_note)
    reset = any(n.startswith(RESET_NOTE) for n in notes)
    if reset:  # counts are of the part after the reset; log durations of all of it
        document["window_totals"]["partial"] = True
        for row in rows:
            row["partial"] = True
    verdicts = check(request.slos, rows, document["window_totals"], statistics_reset=reset)
    run = {
        "name": name,
        "status": status,
        "command": shown_command(request.command) if request.command else None,
        "origin": request.origin,
        "exit_code": exit_code if request.command else None,
        "seconds": window.seconds,
        "start_snapshot": start_id,
        "end_snapshot": end_id,
        "notes": notes,
        "log": {"path": str(log_window.path), "start": log_window.start, "end": log_window.end} if log_window else None,
    }
    document["run"] = run
    _add_verdicts(document, verdicts)
    stored = [
        {
            "queryid": q,
            "user_name": u,
            "samples": int(v.get("samples", 0)),
            "p50_ms": _num(v.get("p50_ms")),
            "p95_ms": _num(v.get("p95_ms")),
            "p99_ms": _num(v.get("p99_ms")),
            "max_ms": _num(v.get("max_ms")),
        }
        for (q, u), v in measured.statements.items()
        if v.get("samples")
    ]
    history.finish_run(
        run_id,
        {
            "end_snapshot_id": end_id,
            "status": status,
            "exit_code": exit_code if request.command else None,
            "log_end": log_window.end if log_window else None,
            "percentile_source": measured.source,
            # the notes column holds what report --run shows again: the notes and the SLO table
            "notes": {
                "notes": [*measured.notes, *notes],
                "slo": document["slo"],
                "slo_summary": document.get("slo_summary"),
                "threshold_ms": measured.threshold_ms,
                "window": measured.window,
            },
        },
        stored,
    )
    broken = any(v.broken for v in verdicts)
    # a gate that could not look is no pass: an unchecked SLO fails it unless told otherwise
    unmeasured = any(not v.checked for v in verdicts) and not request.slo_unmeasured_ok
    document["slo_unmeasured"] = "ok" if request.slo_unmeasured_ok else "fail"
    # the command's own failure wins (CI sees why it failed); then a broken or unchecked SLO
    code = exit_code if request.command and exit_code != 0 else (1 if broken or unmeasured else 0)
    return RecordOutcome(document, series, code, verdicts)


RESET_NOTE = "pg_stat_statements was reset during the window"


def _statistics_notes(window: Any) -> list[str]:
    """What pg_stat_statements lost during the window: a reset, evicted entries."""
    import pandas as pd

    first, last = window.snapshots.iloc[0], window.snapshots.iloc[-1]
    notes = []
    if pd.notna(last["pss_stats_reset"]) and (pd.isna(first["pss_stats_reset"]) or last["pss_stats_reset"] != first["pss_stats_reset"]):
        notes.append(
            RESET_NOTE + ": calls, times and rates cover only what ran after the reset (marked partial; "
            "SLOs on them not checked), the log's percentiles all of the window"
        )
    if pd.notna(first["pss_dealloc"]) and pd.notna(last["pss_dealloc"]) and last["pss_dealloc"] > first["pss_dealloc"]:
        evicted = int(last["pss_dealloc"] - first["pss_dealloc"])
        notes.append(
            f"pg_stat_statements evicted entries {evicted:,} time(s) during the window (pg_stat_statements.max): "
            "an evicted statement counts only from when it was re-created"
        )
    return notes


def _num(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) else None


def _add_verdicts(document: dict[str, Any], verdicts: Sequence[Verdict]) -> None:
    rows = []
    for verdict in verdicts:
        if not verdict.checked:
            rows.append({"slo": verdict.slo.text, "status": "not checked", "value": verdict.unchecked_reason, "queryid": None, "statement": None})
            continue
        if not verdict.broken:
            shown = verdict.slo.show(verdict.value, verdict.below_ms) if verdict.value is not None or verdict.below_ms else (verdict.unchecked_reason or "")
            rows.append(
                {
                    "slo": verdict.slo.text,
                    "status": "ok",
                    "value": shown,
                    "queryid": None,
                    "statement": "every statement" if verdict.slo.scope == "statement" else "whole window",
                }
            )
        for item in verdict.broken:
            rows.append(
                {
                    "slo": verdict.slo.text,
                    "status": "broken",
                    "value": verdict.slo.show(item["value"], item.get("below_ms")),
                    "queryid": item["queryid"],
                    "statement": item["statement"],
                }
            )
    document["slo"] = rows
    document["slo_verdicts"] = [v.to_dict() for v in verdicts]
    if verdicts:
        broken = sum(1 for v in verdicts if v.broken)
        unchecked = sum(1 for v in verdicts if not v.checked)
        document["slo_summary"] = (
            f"{broken} of {len(verdicts)} broken" + (f", {unchecked} not checked" if unchecked else "") if broken or unchecked else f"all {len(verdicts)} met"
        )
