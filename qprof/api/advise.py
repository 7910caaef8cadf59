"""``qprof.advise``: indexes for the whole workload, with evidence, as migration files.

The orchestration of ``qprof advise``: gather the workload, run the advisor
(:func:`qprof.advise.advisor.advise`), optionally verify with real timings and apply, write the
migrations. ``qprof.cleanup`` drops what killed runs left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qprof.api.base import Result
from qprof.api.session import Database, session
from qprof.errors import BadInput, QprofError

MIGRATION_FORMATS = ("sql", "alembic", "flyway", "django")
WHATIF_MODES = ("auto", "hypopg", "build", "heuristic")

Say = Callable[[str], None]


def _quiet(_message: str) -> None:
    """The default listener: a library call prints nothing."""


@dataclass
class AdviseResult(Result):
    """What :func:`advise` returns; ``to_dict()`` is ``qprof advise --format json``.

    ``failed`` names indexes whose --apply/--verify step failed; ``leftovers`` what this run built
    and could not drop (both make the CLI exit 1).
    """

    data: dict[str, Any]
    advice: Any  # qprof.advise.advisor.Advice: statements, selection, catalog, timings
    recommendations: list[Any]  # qprof.advise.model.Recommendation, rejected ones removed
    rejected: list[Any] = field(default_factory=list)
    drops: list[Any] = field(default_factory=list)
    earlier: list[Any] = field(default_factory=list)  # leftovers of killed runs still there
    leftovers: list[Any] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    chart: str | None = None
    migration_format: str = "sql"
    min_gain: float = 0.1

    def document(self) -> dict[str, Any]:
        return self.data


@dataclass
class CleanupResult(Result):
    """What :func:`cleanup` returns; ``to_dict()`` is ``qprof advise --cleanup --format json``."""

    dropped: list[Any]
    failed: list[Any]  # still there, each with its DROP
    in_use: list[str]  # built by a qprof run that is still going: left alone
    scratch_folders_removed: list[Path]

    def document(self) -> dict[str, Any]:
        return {
            "dropped": [item.to_dict() for item in self.dropped],
            "failed": [item.to_dict() for item in self.failed],
            "in_use": self.in_use,
            "scratch_folders_removed": [str(path) for path in self.scratch_folders_removed],
        }


def positive_duration(option: str, text: str) -> float:
    """A timeout that must be > 0 (PostgreSQL reads 0 as "wait forever"); at least 1 ms."""
    from qprof.units import parse_duration

    seconds = parse_duration(text)
    if seconds <= 0:
        raise BadInput(f"{option} must be greater than 0 (0 would mean: wait forever)", hint=f"e.g. {option} 5s")
    return max(seconds, 0.001)


def advise(
    db: Database = None,
    *,
    workload: str | Path | Sequence[str | Path] = (),
    sql: str | Sequence[str] = (),
    logs: str | Path | Sequence[str | Path] = (),
    log_prefix: str | None = None,
    min_calls: int = 1,
    min_mean_ms: float = 0.0,
    top: int = 50,
    budget: str | None = None,
    max_indexes: int | None = None,
    min_gain: str = "10%",
    whatif: str = "auto",
    verify: bool = False,
    runs: int = 5,
    apply: bool = False,
    out: str | Path = "migrations_out",
    migration_format: str = "sql",
    single_file: bool = False,
    drop_unused: bool = False,
    alembic_down_revision: str | None = None,
    write: bool = True,
    lock_timeout: str = "5s",
    build_timeout: str | None = None,
    profile: str | None = None,
    statement_timeout: str | float = "30s",
    allow_functions: str | Sequence[str] | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    log: Say = _quiet,
    note: Say = _quiet,
    warn: Say = _quiet,
) -> AdviseResult:
    """Recommend indexes for the workload and (``write``) write them as migrations into ``out``.

    The workload: ``workload`` files/folders, ``sql`` statements and server ``logs`` (each one
    string or a list); without any,
    the ``top`` statements of pg_stat_statements (``min_calls``, ``min_mean_ms``). ``whatif``: auto,
    hypopg, build or heuristic. ``budget`` (e.g. ``"500MB"``), ``max_indexes`` and ``min_gain`` bound
    the selection. ``verify`` builds the set for real and times every statement without it, with
    it and without each index (``runs`` interleaved runs; staging only); ``apply`` creates the
    indexes (CONCURRENTLY). ``drop_unused`` also writes drops for unused and duplicate indexes.
    Whatever is built to measure is dropped again, also on Ctrl-C, SIGTERM or SIGHUP.

    ``on_progress`` hears the advisor's rounds; ``log`` the verification's steps; ``note`` what
    was done before measuring (a killed run's leftovers dropped); ``warn`` about leftovers of
    killed runs as they are found.
    """
    from qprof.advise.advisor import advise as run_advisor
    from qprof.advise.advisor import drop_recommendations, leftover_invalid_notes, recommendations
    from qprof.advise.builds import signals_as_interrupt
    from qprof.advise.generator import RunInfo, ensure_writable, refusal_notes, write_advice
    from qprof.advise.leftovers import report_leftovers
    from qprof.advise.runs import remove_stale_run_dirs
    from qprof.arguments import at_least, several
    from qprof.units import parse_percent, parse_size

    workloads, sql_texts, log_files = (several(workload, "workload") or [], several(sql, "sql") or [], several(logs, "logs") or [])
    at_least("--min-calls", min_calls, 1)
    at_least("--min-mean-ms", min_mean_ms, 0)
    at_least("--top", top, 1)
    at_least("--max-indexes", max_indexes, 1)
    at_least("--runs", runs, 1, "measured runs per statement and configuration for --verify")
    if migration_format not in MIGRATION_FORMATS:
        raise BadInput(f"unknown migration format {migration_format!r}", hint="one of " + ", ".join(MIGRATION_FORMATS))
    if whatif not in WHATIF_MODES:
        raise BadInput(f"unknown what-if mode {whatif!r}", hint="one of " + ", ".join(WHATIF_MODES))
    out = Path(out)
    gain = parse_percent(min_gain)
    budget_bytes = parse_size(budget) if budget else None
    at_least("--budget", budget_bytes, 0)
    lock_seconds = positive_duration("--lock-timeout", lock_timeout)
    build_seconds = positive_duration("--build-timeout", build_timeout) if build_timeout else None
    if write:
        ensure_writable(out)

    leftovers: list = []
    notes: list[str] = []
    # SIGTERM and SIGHUP raise KeyboardInterrupt for the whole run, so every finally block (HypoPG
    # reset, SQLite scratch copy, indexes built for measuring) runs as it does on Ctrl-C.
    with signals_as_interrupt(), session(db, profile=profile, statement_timeout=statement_timeout, allow_functions=allow_functions) as target:
        remove_stale_run_dirs()
        earlier = report_leftovers(target, warn)
        if earlier and (verify or apply):
            # Measuring may build and drop qprof's own indexes: a killed run's would skew the
            # baseline (and hide the advice for its table), so it goes first, with cleanup's safety.
            earlier = _drop_earlier(target, lock_seconds, note)
        statements, from_server = _gather_statements(target, workloads, sql_texts, log_files, log_prefix, min_calls, min_mean_ms, top)
        advice = run_advisor(
            target,
            statements,
            whatif_mode=whatif,
            min_gain=gain,
            budget=budget_bytes,
            max_indexes=max_indexes,
            from_server=from_server,
            lock_timeout=lock_seconds,
            warn=warn,
            on_progress=on_progress or (lambda info: None),
        )
        recs = recommendations(advice, target.engine)
        if verify and recs:
            from qprof.advise.verify import verify as run_verify

            log(
                f"verifying {len(recs)} index(es) as a set: all are built, each statement is timed without them, "
                f"with them and without each one, then they are {'kept' if apply else 'dropped'}"
            )
            with _connection_lost(target, "--verify"):
                notes += run_verify(
                    target,
                    recs,
                    advice.by_key,
                    runs=runs,
                    keep=apply,
                    lock_timeout=lock_seconds,
                    build_timeout=build_seconds,
                    leftovers=leftovers,
                    on_progress=log,
                )
            said = {item.message() for item in leftovers}
            notes = [line for line in notes if line not in said]  # each leftover is named once, by the caller
        failed = [r.name for r in recs if r.error]
        rejected = [r for r in recs if r.rejected]
        recs = [r for r in recs if not r.rejected]  # marginal gain within noise or negative: never recommended
        cost_after = advice.selection.cost_after
        if rejected:  # the summary's "after" is what is recommended, not what was measured away
            from qprof.advise.advisor import recost

            cost_after = recost(target, advice, [r.candidate for r in recs], whatif_mode=whatif, lock_timeout=lock_seconds)
        applied = None
        if apply and recs:
            from qprof.advise.apply import apply_recommendations

            applied = apply_recommendations(target, recs, lock_timeout=lock_seconds, build_timeout=build_seconds, leftovers=leftovers)
            failed += [entry["index"] for entry in applied if entry.get("error") and entry["index"] not in failed]
        drops = drop_recommendations(advice.catalog, target.engine) if drop_unused else []
        description = target.describe()
        engine = target.engine
        dbname = target.database_name

    info = RunInfo(target=description, engine=engine, whatif_method=advice.whatif_method, cost_unit=advice.cost_unit)
    files: list[str] = []
    unchanged: list = []
    refreshed: list = []
    chart = None
    if write:
        written = write_advice(recs, drops, out, migration_format, info, single_file=single_file, alembic_down_revision=alembic_down_revision)
        files, unchanged, refreshed = [str(p) for p in written.files], written.unchanged, written.refreshed
        if verify:
            from qprof.advise.verify import write_chart

            path = write_chart([*recs, *rejected], out / "verify_before_after.png", f"qprof advise --verify: database {dbname}")
            chart = str(path) if path else None
    if refreshed:
        names = ", ".join(Path(str(path)).name for path in refreshed[:3]) + (" …" if len(refreshed) > 3 else "")
        notes.append(f"rewrote the header of {len(refreshed)} migration(s) already in {out} with the measurements: {names}")
    unchanged = [(rec, path) for rec, path in unchanged if path not in refreshed]
    if unchanged:
        names = ", ".join(Path(str(path)).name for _, path in unchanged[:3]) + (" …" if len(unchanged) > 3 else "")
        notes.append(f"{len(unchanged)} migration(s) already in {out} with identical DDL, not written again: {names}")
    if write:
        from qprof.advise.generator import superseded_migrations

        kept = [Path(f) for f in files] + [Path(str(path)) for _, path in written.unchanged]
        superseded = superseded_migrations(recs, out, migration_format, kept)
        for path, rec in superseded:
            notes.append(
                f"{path} (an earlier advise run) is superseded by {rec.name}: it serves every statement the old "
                "index would; delete the old file unless it is already applied"
            )
    notes += _covering_notes(advice, recs)
    if write:  # what a sql/flyway file cannot carry safely is left out of it: say so
        notes += refusal_notes([*recs, *drops], migration_format)
    for candidate, reason in advice.selection.failed.items():
        notes.append(f"candidate {candidate} skipped: {reason}")
    for candidate, reason in advice.selection.dropped.items():
        notes.append(f"not recommended after selection: {candidate}: {reason}")
    notes += leftover_invalid_notes(advice, recs)

    data = _document(
        advice,
        recs,
        rejected,
        drops,
        cost_after,
        description=description,
        from_server=from_server,
        migration_format=migration_format if write else None,
        files=files,
        unchanged=unchanged,
        chart=chart,
        verify=verify,
        runs=runs,
        refreshed=refreshed,
        applied=applied,
        notes=notes,
        leftovers=leftovers,
        earlier=earlier,
        failed=failed,
    )
    return AdviseResult(data, advice, recs, rejected, drops, list(earlier), leftovers, failed, notes, files, chart, migration_format, gain)


def _document(
    advice: Any,
    recs: list,
    rejected: list,
    drops: list,
    cost_after: dict,
    *,
    description: str,
    from_server: bool,
    migration_format: str | None,
    files: list[str],
    unchanged: list,
    chart: str | None,
    verify: bool,
    runs: int,
    refreshed: list,
    applied: Any,
    notes: list[str],
    leftovers: list,
    earlier: list,
    failed: list[str],
) -> dict[str, Any]:
    """The JSON contract of ``qprof advise``."""
    from qprof.advise.verify import verification_summary

    weighted_before = sum(s.weight * advice.selection.cost_before[s.key] for s in advice.statements)
    weighted_after = sum(s.weight * cost_after[s.key] for s in advice.statements)
    return {
        "skipped_summary": advice.skipped_summary.to_dict() if advice.skipped_summary else None,
        "recommendations": [r.to_dict() for r in recs],
        "skipped": [s.to_dict() for s in advice.skipped],
        "summary": {
            "statements": len(advice.statements),
            "whatif_calls": advice.whatif_calls,
            "cache_hits": advice.cache_hits,
            "workload_cost_before": round(weighted_before, 2),
            "workload_cost_after": round(weighted_after, 2),
            "seconds": round(advice.seconds, 3),
            "indexes": len(recs),
            "total_size_bytes": sum(r.to_dict()["size_bytes"] or 0 for r in recs),
            "candidates": advice.selection.candidates,
            "candidates_costed": advice.selection.pool,
        },
        "dropped": [{"index": str(c), "reason": reason} for c, reason in advice.selection.dropped.items()],
        "target": description,
        "whatif": advice.whatif_method,
        "cost_unit": advice.cost_unit,
        "size_source": advice.size_source,
        "source": "pg_stat_statements" if from_server else "workload",
        "migration_format": migration_format,
        "files": files,
        "unchanged_files": [{"index": rec.name, "file": str(path)} for rec, path in unchanged],
        "chart": chart,
        "drops": [dict(r.to_dict(), reason=r.reason) for r in drops],
        "rejected": [dict(r.to_dict(), reason=r.rejected) for r in rejected],
        "verification": verification_summary(runs, [*recs, *rejected]) if verify and (recs or rejected) else None,
        "rewritten_files": [str(path) for path in refreshed],
        "applied": applied,
        "notes": notes,
        "leftovers": [item.to_dict() for item in leftovers],
        "earlier_leftovers": [item.to_dict() for item in earlier],
        "failed": failed,
    }


def _gather_statements(
    target: Any, workload: list, sql_texts: list[str], logs: list, log_prefix: str | None, min_calls: int, min_mean_ms: float, top: int
) -> tuple[list, bool]:
    from qprof.advise import workload_source as ws

    statements = []
    if workload:
        statements += ws.from_workload_paths([Path(p) for p in workload])
    if sql_texts:
        statements += ws.from_sql_texts(sql_texts)
    if logs:
        statements += ws.from_logs([Path(p) for p in logs], log_prefix)
    if statements:
        return statements, False
    if target.engine != "postgresql":
        raise BadInput(
            "SQLite keeps no statement statistics: give the workload",
            hint="qprof advise --db app.sqlite --workload queries/shop.sql",
        )
    statements = ws.from_pg_stat_statements(target, min_calls=min_calls, min_mean_ms=min_mean_ms, top=top)
    if not statements:
        raise QprofError(
            "pg_stat_statements has no statements to advise on" + (f" with at least {min_calls} calls" if min_calls > 1 else ""),
            hint="run the application's workload first, lower --min-calls/--min-mean-ms, or pass --workload",
        )
    return statements, True


def _covering_notes(advice: Any, recs: list) -> list[str]:
    """Index-only scans skip only heap pages the visibility map marks all-visible (VACUUM sets it)."""
    notes = []
    for rec in recs:
        relation = advice.catalog.relations.get(rec.candidate.table_key)
        if not rec.candidate.include or relation is None or not relation.pages:
            continue
        share = relation.all_visible / relation.pages
        if share < 0.5:
            notes.append(
                f"{rec.name} is a covering index, but only {share:.0%} of {relation.qualified}'s pages are all-visible: "
                "index-only scans still visit the heap until (auto)VACUUM has run on it"
            )
    return notes


def _drop_earlier(target: Any, lock_seconds: float, note: Say) -> list:
    """--verify/--apply: drop earlier runs' leftovers before advising; what stays is returned."""
    from qprof.advise.leftovers import cleanup_leftovers

    dropped, failed, _ = cleanup_leftovers(target, lock_timeout=lock_seconds)
    for item in dropped:
        note(f"dropped {item.index}, left by a killed qprof run, before measuring")
    return failed


@contextmanager
def _connection_lost(target: Any, what: str) -> Iterator[None]:
    """The server ended the read session (pg_terminate_backend, a restart) while ``what`` ran:
    one error, exit 1 — the builds are dropped on their own session before this is raised."""

    def lost(first: str) -> QprofError:
        error = QprofError(
            f"lost the connection to the database during {what}: {first}", hint="the indexes built for it were dropped; run again once the server is back"
        )
        error.exit_code = 1
        return error

    def closed() -> bool:
        return bool(getattr(getattr(target, "conn", None), "closed", False))

    try:
        yield
    except QprofError:
        raise
    except Exception as exc:
        if not closed():
            raise
        raise lost((str(exc).strip().splitlines() or [type(exc).__name__])[0]) from None
    if closed():  # a statement failed on it and was left out: the rest of the run needs it too
        raise lost("the server ended the session")


def cleanup(
    db: Database = None,
    *,
    lock_timeout: str = "5s",
    profile: str | None = None,
    statement_timeout: str | float = "30s",
    on_progress: Callable[[list, list], None] | None = None,
) -> CleanupResult:
    """Drop the indexes earlier qprof runs built and left behind when killed (only those with
    qprof's build name and mark, CONCURRENTLY, under ``lock_timeout``) and their SQLite scratch folders."""
    from qprof.advise.leftovers import cleanup_leftovers
    from qprof.advise.runs import remove_stale_run_dirs

    lock_seconds = positive_duration("--lock-timeout", lock_timeout)
    removed = remove_stale_run_dirs()
    with session(db, profile=profile, statement_timeout=statement_timeout) as target:
        dropped, failed, live = cleanup_leftovers(target, lock_timeout=lock_seconds, on_progress=on_progress)
    return CleanupResult(list(dropped), list(failed), list(live), list(removed))
