"""``qprof advise``: indexes for the whole workload, with evidence, as migration files."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from qprof.cli.options import AllowFunctionOption, DbOption, DebugOption, ProfileOption, StatementTimeoutOption, connect, connection_options, handle_errors
from qprof.errors import BadInput, QprofError
from qprof.output import Column, OutputFormat, console, emit, emit_listing, note, num, size, warn
from qprof.sqltext import one_line
from qprof.units import parse_duration, parse_percent, parse_size


class AdviseFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"
    sql = "sql"
    alembic = "alembic"
    flyway = "flyway"
    django = "django"


class MigrationFormat(str, Enum):
    sql = "sql"
    alembic = "alembic"
    flyway = "flyway"
    django = "django"


class WhatIfMode(str, Enum):
    auto = "auto"
    hypopg = "hypopg"
    build = "build"
    heuristic = "heuristic"


def _short(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _cost_pair(statements: list[dict[str, Any]]) -> str:
    parts = []
    for s in statements[:3]:
        if s.get("ms_before") is not None and s.get("ms_after") is not None:
            parts.append(f"{s['ms_before']:,.2f}→{s['ms_after']:,.2f} ms")
        elif s.get("cost_before") is not None:
            parts.append(f"{_short(s['cost_before'])}→{_short(s['cost_after'])}")
    return "; ".join(parts) + (" …" if len(statements) > 3 else "")


COLUMNS = [
    Column("table", "table", align="left"),
    Column("columns", "columns", align="left"),
    Column("include_text", "include", align="left"),
    Column("size_bytes", "size", size),
    Column("n_statements", "stmts", num),
    Column("helps", "statements helped", align="left"),
    Column("evidence", "cost (or ms) before→after", align="left"),
    Column("file", "file", align="left"),
]


def _gather_statements(target: Any, workload: list[Path], sql_texts: list[str], logs: list[Path], log_prefix: str | None,
                       min_calls: int, min_mean_ms: float, top: int) -> tuple[list, bool]:
    from qprof.advise import workload_source as ws

    statements = []
    if workload:
        statements += ws.from_workload_paths(workload)
    if sql_texts:
        statements += ws.from_sql_texts(sql_texts)
    if logs:
        statements += ws.from_logs(logs, log_prefix)
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


@connection_options
def advise(
    workload: Annotated[list[Path] | None, typer.Option("--workload", "-w", help="Workload file or folder of *.sql (weight from '-- calls: N', else 1). "
                                                                                 "Repeatable.")] = None,
    sql_texts: Annotated[list[str] | None, typer.Option("--sql", help="A statement to advise on (weight 1). Repeatable.")] = None,
    log: Annotated[list[Path] | None, typer.Option("--log", help="PostgreSQL server log file(s) to read the workload from (weight = executions). "
                                                                 "Repeatable.")] = None,
    log_prefix: Annotated[str | None, typer.Option("--log-line-prefix", help="The server's log_line_prefix, when not detected.")] = None,
    min_calls: Annotated[int, typer.Option("--min-calls", min=1, help="pg_stat_statements: ignore statements called fewer times.")] = 1,
    min_mean_ms: Annotated[float, typer.Option("--min-mean-ms", min=0, help="pg_stat_statements: ignore statements faster on average.")] = 0.0,
    top: Annotated[int, typer.Option("--top", min=1, help="pg_stat_statements: advise on the N statements with the most total time.")] = 50,
    budget: Annotated[str | None, typer.Option("--budget", help="Storage budget for new indexes, e.g. 500MB.")] = None,
    max_indexes: Annotated[int | None, typer.Option("--max-indexes", min=1, help="Recommend at most this many indexes.")] = None,
    min_gain: Annotated[str, typer.Option("--min-gain", help="Stop when no step saves at least this share of some statement's cost (10 = 10%).")] = "10%",
    whatif: Annotated[WhatIfMode, typer.Option("--whatif", help="auto (HypoPG if created, else heuristic), hypopg, "
                                                                "build (real build in a rolled-back transaction: takes a SHARE lock) "
                                                                "or heuristic.")] = WhatIfMode.auto,
    verify: Annotated[bool, typer.Option("--verify", help="Build the indexes for real as a set, time each statement without them, "
                                                          "with them and without each one (interleaved runs; "
                                                          "an index whose marginal gain is within noise is rejected), drop them again (staging!).")] = False,
    runs: Annotated[int, typer.Option("--runs", min=1, help="--verify: measured runs per statement and configuration, interleaved, "
                                                            "after one warm-up (at least 3 for a fair verdict).")] = 5,
    apply: Annotated[bool, typer.Option("--apply", help="Create the recommended indexes (CONCURRENTLY, one at a time).")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for migration files (and the --verify chart).")] = Path("migrations_out"),
    migration_format: Annotated[MigrationFormat | None, typer.Option(
        "--migration-format", "-m", help="sql (up+down), alembic, flyway or django. --format sql|alembic|flyway|django also sets it.")] = None,
    single_file: Annotated[bool, typer.Option("--single-file", help="One migration for all indexes instead of one per index.")] = False,
    drop_unused: Annotated[bool, typer.Option("--drop-unused", help="Also write drop migrations for unused and duplicate indexes.")] = False,
    alembic_down_revision: Annotated[str | None, typer.Option("--alembic-down-revision", help="Alembic: the revision the first new one follows.")] = None,
    no_write: Annotated[bool, typer.Option("--no-write", help="Print the advice only; write no files.")] = False,
    lock_timeout: Annotated[str, typer.Option("--lock-timeout", help="For --apply/--verify/--whatif build: "
                                                                     "give up waiting for a lock after this long (> 0).")] = "5s",
    cleanup: Annotated[bool, typer.Option("--cleanup", help="Drop the indexes earlier qprof runs built and left behind when killed "
                                                            "(only indexes with qprof's build name and mark, CONCURRENTLY, under --lock-timeout), "
                                                            "then exit.")] = False,
    build_timeout: Annotated[str | None, typer.Option("--build-timeout", help="For --apply/--verify: cancel one index build after this long "
                                                                              "(default: no limit; --statement-timeout does not apply to builds).")] = None,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: Annotated[AdviseFormat, typer.Option("--format", "-f", help="Output: table, json, markdown, csv; or a migration format (sql, alembic, flyway, django) "
                                                                     "with table output.")] = AdviseFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    allow_function: AllowFunctionOption = None,
    debug: DebugOption = False,
) -> None:
    """Recommend indexes for the whole workload and write them as migrations, with the evidence.

    \b
    Examples:
      qprof advise                                   # top statements of pg_stat_statements
      qprof advise --workload queries/ --budget 500MB --format alembic
      qprof advise --sql "SELECT * FROM orders WHERE customer_id = 42" --format json --no-write
      qprof advise --verify --runs 5                 # staging: measured before/after + chart
      qprof advise --cleanup                         # drop what a killed --verify/--apply left
    """
    from qprof.advise.advisor import advise as run_advisor
    from qprof.advise.advisor import drop_recommendations, recommendations
    from qprof.advise.generator import RunInfo, ensure_writable, write_migrations

    output = fmt.value if fmt.value in ("table", "json", "markdown", "csv") else "table"
    mformat = (migration_format.value if migration_format else None) or (fmt.value if output == "table" and fmt.value != "table" else "sql")
    gain = parse_percent(min_gain)
    budget_bytes = parse_size(budget) if budget else None
    lock_seconds = _positive_duration("--lock-timeout", lock_timeout)
    build_seconds = _positive_duration("--build-timeout", build_timeout) if build_timeout else None
    from qprof.advise.builds import signals_as_interrupt
    from qprof.advise.leftovers import report_leftovers
    from qprof.advise.runs import remove_stale_run_dirs
    from qprof.advise.verify import verification_summary

    if cleanup:
        _cleanup(db, profile, statement_timeout, lock_seconds, output)
        return
    if not no_write:
        ensure_writable(out)
    quiet = output == "json" or not sys.stdout.isatty()

    leftovers: list = []
    # SIGTERM and SIGHUP raise KeyboardInterrupt for the whole run, so every finally block (HypoPG
    # reset, SQLite scratch copy, indexes built for measuring) runs as it does on Ctrl-C.
    with signals_as_interrupt(), _report_interrupted_builds(), connect(db, profile, statement_timeout, allow_functions=allow_function) as target:
        remove_stale_run_dirs()
        earlier = report_leftovers(target, warn)
        if earlier and (verify or apply):
            # Measuring may build and drop qprof's own indexes: a killed run's would skew the
            # baseline (and hide the advice for its table), so it goes first, with cleanup's safety.
            earlier = _drop_earlier(target, lock_seconds)
        statements, from_server = _gather_statements(
            target, list(workload or []), list(sql_texts or []), list(log or []), log_prefix, min_calls, min_mean_ms, top
        )
        status = None if quiet else console.status("advising…")
        if status is not None:
            status.start()

        def progress(info: dict) -> None:
            if status is not None and "phase" in info:
                status.update(info["phase"] + "…")
            elif status is not None:
                status.update(
                    f"round {info['round']}: {info['steps']} candidate steps, {info['whatif_calls']} what-if calls, "
                    f"{info['chosen']} chosen, best {info['best'] or '—'}"
                )

        try:
            advice = run_advisor(
                target, statements, whatif_mode=whatif.value, min_gain=gain, budget=budget_bytes,
                max_indexes=max_indexes, from_server=from_server, lock_timeout=lock_seconds, warn=warn,
                on_progress=progress,
            )
        finally:
            if status is not None:
                status.stop()
        recs = recommendations(advice, target.engine)
        notes: list[str] = []
        if verify and recs:
            from qprof.advise.verify import verify as run_verify

            if not quiet:
                note(f"verifying {len(recs)} index(es) as a set: all are built, each statement is timed without them, "
                     f"with them and without each one, then they are {'kept' if apply else 'dropped'}")
            with _connection_lost(target, "--verify"):
                notes += run_verify(
                    target, recs, advice.by_key, runs=runs, keep=apply, lock_timeout=lock_seconds,
                    build_timeout=build_seconds, leftovers=leftovers,
                    on_progress=(lambda m: None) if quiet else (lambda m: console.print(m, markup=False, style="dim")),
                )
            said = {item.message() for item in leftovers}
            notes = [line for line in notes if line not in said]  # each leftover is named once, by _fail_if
        failed = [r.name for r in recs if r.error]
        rejected = [r for r in recs if r.rejected]
        recs = [r for r in recs if not r.rejected]  # marginal gain within noise or negative: never recommended
        cost_after = advice.selection.cost_after
        if rejected:  # the summary's "after" is what is recommended, not what was measured away
            from qprof.advise.advisor import recost

            cost_after = recost(target, advice, [r.candidate for r in recs], whatif_mode=whatif.value, lock_timeout=lock_seconds)
        applied = None
        if apply and recs:
            from qprof.advise.apply import apply_recommendations

            applied = apply_recommendations(target, recs, lock_timeout=lock_seconds, build_timeout=build_seconds,
                                            leftovers=leftovers)
            failed += [entry["index"] for entry in applied if entry.get("error") and entry["index"] not in failed]
        drops = drop_recommendations(advice.catalog, target.engine) if drop_unused else []
        description = target.describe()
        engine = target.engine
        dbname = target.database_name

    info = RunInfo(target=description, engine=engine, whatif_method=advice.whatif_method, cost_unit=advice.cost_unit)
    files: list[str] = []
    unchanged: list = []  # (recommendation, file) whose migration is already in --out with identical DDL
    refreshed: list = []  # of those, files whose header --verify rewrote with its measurements
    chart = None
    if not no_write:
        files += [str(p) for p in write_migrations(recs, out, mformat, info, single_file=single_file,
                                                   alembic_down_revision=alembic_down_revision, skipped=unchanged,
                                                   refreshed=refreshed)]
        if drops:
            files += [str(p) for p in write_migrations(drops, out / "drops" if recs else out, mformat, info,
                                                       single_file=single_file, skipped=unchanged)]
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
    notes += _covering_notes(advice, recs)
    if not no_write:  # what a sql/flyway file cannot carry safely is left out of it: say so
        from qprof.advise.generator import refusal_notes

        notes += refusal_notes([*recs, *drops], mformat)
    for candidate, reason in advice.selection.failed.items():
        notes.append(f"candidate {candidate} skipped: {reason}")
    for candidate, reason in advice.selection.dropped.items():
        notes.append(f"not recommended after selection: {candidate}: {reason}")
    from qprof.advise.advisor import leftover_invalid_notes

    notes += leftover_invalid_notes(advice, recs)
    for message in notes:
        warn(message)

    weighted_before = sum(s.weight * advice.selection.cost_before[s.key] for s in advice.statements)
    weighted_after = sum(s.weight * cost_after[s.key] for s in advice.statements)
    document = {
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
        "migration_format": None if no_write else mformat,
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
    rows = []
    for rec in document["recommendations"]:
        names = [s["name"] or str(s["queryid"]) for s in rec["statements"]]
        rows.append(dict(rec, n_statements=len(names), include_text=", ".join(rec["include"]), helps=", ".join(names[:4]) + (" …" if len(names) > 4 else ""),
                         evidence=_cost_pair(rec["statements"]), file=rec["file"] or ""))
    document_rows = dict(document, rows=rows)
    if output == "csv":
        for item in advice.skipped:
            warn(f"skipped: {item.reason}: {one_line(item.statement, 80)}")
    elif advice.skipped_summary and advice.skipped_summary.count and output != "json":
        emit(advice.skipped_summary.headline() + "\n")
    if debug or os.environ.get("QPROF_DEBUG"):
        _time_breakdown(advice)
    if output == "json":
        emit_listing(document, "recommendations", COLUMNS, OutputFormat.json)
        _fail_if(failed, leftovers)
        return
    summary = document["summary"]
    title = (
        f"{len(recs)} index(es) for {summary['statements']} statement(s); workload cost "
        f"{summary['workload_cost_before']:,.0f} → {summary['workload_cost_after']:,.0f} ({advice.whatif_method}: {advice.cost_unit}); "
        f"{summary['whatif_calls']} what-if calls, {summary['cache_hits']} cache hits, {summary['seconds']:.1f} s"
    )
    if document["verification"]:
        note(document["verification"]["method"])
    for rec in rejected:
        note(f"rejected after --verify: {rec.candidate}: {rec.rejected}")
    if not rows:
        note(title)
        if earlier:
            note(f"no index to recommend: {len(earlier)} index(es) left by a killed qprof run (above) may serve the "
                 "statements; drop them with  qprof advise --cleanup  and advise again")
        else:
            note("no index to recommend: every statement is served already, or nothing saves at least " + f"{gain:.0%}")
        _emit_skipped(advice.skipped, output)
        _fail_if(failed, leftovers)
        return
    emit_listing(document_rows, "rows", COLUMNS, OutputFormat(output), title=title)
    _emit_skipped(advice.skipped, output)
    if files:
        note(f"wrote {len(files)} migration file(s) ({mformat}) to {out}" + (f"; chart {chart}" if chart else ""))
    if applied:
        for entry in applied:
            note(f"apply {entry['index']}: " + ("created, valid" if entry.get("created") else f"FAILED: {entry.get('error')}"))
    _fail_if(failed, leftovers)


def _emit_skipped(skipped: list, output: str) -> None:
    """The statements advice does not cover, largest share first, each with what to try."""
    if not skipped or output not in ("table", "markdown"):
        return
    quiet = [item for item in skipped if item.nothing_to_index]
    failed = [item for item in skipped if not item.nothing_to_index]
    lines = ["", "skipped statements (share of the workload · statement · why):"] if failed else [""]
    for item in failed:
        share = f"{item.share * 100:5.1f} %" if item.share is not None else "    ? %"
        label = item.name or (f"queryid {item.queryid}" if item.queryid else item.key or "")
        measured = f"{item.calls:,} calls" + (f", {item.total_ms:,.0f} ms" if item.total_ms is not None else "")
        lines.append(f"  {share}  {label} ({measured}): {one_line(item.statement, 100)}")
        lines.append(f"           {item.reason}")
        if item.queryid and not item.reason.startswith("table missing"):
            from qprof.pgtext import skip_hint

            lines.append(f"           try: {skip_hint(item.statement, item.reason, item.queryid)}")
    if quiet:
        lines.append(f"{'  and ' if failed else ''}{len(quiet)} statement(s) with no table to index left out "
                     "(catalog queries, SELECT 1, DDL …)")
    emit("\n".join(lines) + "\n")


def _time_breakdown(advice: Any) -> None:
    """--debug: where the advisor's time went, on stderr."""
    t = advice.timings
    whatif, planning, analysis = t.get("whatif", 0.0), t.get("planning", 0.0), t.get("analysis", 0.0)
    rest = max(advice.seconds - analysis - whatif, 0.0)
    per = whatif / advice.whatif_calls * 1000.0 if advice.whatif_calls else 0.0
    warn(
        f"debug: {advice.seconds:.2f} s advising = candidate analysis {analysis:.2f} s + what-if calls {whatif:.2f} s "
        f"({advice.whatif_calls} calls, {per:.1f} ms each; server planning {planning:.2f} s where reported) + "
        f"selection and the rest (Python, index sizes) {rest:.2f} s; {advice.cache_hits} cache hits; "
        f"{advice.selection.candidates} candidates, {advice.selection.pool} costed in the greedy"
        + (f"; what-if calls by phase: {', '.join(f'{k} {v}' for k, v in advice.selection.phase_calls.items())}"
           if advice.selection.phase_calls else "")
    )


def _positive_duration(option: str, text: str) -> float:
    """A timeout that must be > 0 (PostgreSQL reads 0 as "wait forever"); at least 1 ms."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise BadInput(f"{option} must be greater than 0 (0 would mean: wait forever)", hint=f"e.g. {option} 5s")
    return max(seconds, 0.001)


def _fail_if(failed: list[str], leftovers: list) -> None:
    """A failed --apply/--verify step, or an index qprof built and could not drop, exits 1."""
    for item in leftovers:
        warn(f"LEFTOVER: {item.message()}")
    if failed or leftovers:
        raise typer.Exit(1)


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


@contextmanager
def _report_interrupted_builds() -> Iterator[None]:
    """Interrupted (a second Ctrl-C while cleanup waits on a lock, SIGTERM, SIGHUP): name every
    index this run built and could not drop yet, with its DROP. The next run finds it too."""
    try:
        yield
    except KeyboardInterrupt:
        from qprof.advise.builds import pending_leftovers

        try:
            for item in pending_leftovers():
                warn(f"LEFTOVER: {item.index} (built by this run) is still there: {item.reason}; drop it with  {item.drop}")
        except OSError:  # the terminal is gone (SIGHUP): the next run reports it
            pass
        raise


def _drop_earlier(target: Any, lock_seconds: float) -> list:
    """--verify/--apply: drop earlier runs' leftovers before advising; what stays is returned."""
    from qprof.advise.leftovers import cleanup_leftovers

    dropped, failed, _ = cleanup_leftovers(target, lock_timeout=lock_seconds)
    for item in dropped:
        note(f"dropped {item.index}, left by a killed qprof run, before measuring")
    return failed


@contextmanager
def _connection_lost(target: Any, what: str) -> Iterator[None]:
    """The server ended the read session (pg_terminate_backend, a restart) while ``what`` ran:
    one line and exit 1 — the builds are dropped on their own session before this is raised."""
    def lost(first: str) -> QprofError:
        error = QprofError(f"lost the connection to the database during {what}: {first}",
                           hint="the indexes built for it were dropped; run again once the server is back")
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


def _cleanup(db: Any, profile: Any, statement_timeout: str, lock_seconds: float, output: str) -> None:
    """``--cleanup``: drop the leftovers of killed runs (and their SQLite scratch folders)."""
    from qprof.advise.leftovers import cleanup_leftovers, leftover_line
    from qprof.advise.runs import remove_stale_run_dirs

    removed = remove_stale_run_dirs()
    state: dict[str, list] = {"remaining": []}

    def progress(done: list, remaining: list) -> None:
        state["remaining"] = remaining

    with connect(db, profile, statement_timeout) as target:
        try:
            dropped, failed, live = cleanup_leftovers(target, lock_timeout=lock_seconds, on_progress=progress)
        except KeyboardInterrupt:
            try:
                for item in state["remaining"]:
                    warn(f"interrupted: still there: {leftover_line(item)}")
            except OSError:  # the terminal is gone (SIGHUP)
                pass
            raise
    if output == "json":
        from qprof.output import emit, render_json

        emit(render_json({
            "dropped": [item.to_dict() for item in dropped],
            "failed": [item.to_dict() for item in failed],
            "in_use": live,
            "scratch_folders_removed": [str(path) for path in removed],
        }))
    else:
        for item in dropped:
            note(f"dropped {item.index}" + (f" on {item.table}" if item.table else "") + ", left by a killed qprof run")
        for name in live:
            note(f"left alone: {name} (a qprof run that is still going is building or measuring it)")
        if removed:
            note(f"removed {len(removed)} scratch folder(s) of killed qprof runs")
        if not dropped and not failed:
            note("no leftovers of earlier qprof runs" + (f" ({len(live)} build(s) of a live run left alone)" if live else ""))
    for item in failed:
        warn(f"LEFTOVER: {leftover_line(item)}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(advise))
