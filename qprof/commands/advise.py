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

from qprof.cli.options import AllowFunctionOption, DbOption, DebugOption, ProfileOption, StatementTimeoutOption, connection_options, handle_errors
from qprof.output import Column, OutputFormat, console, emit, emit_listing, note, num, render_json, size, warn
from qprof.sqltext import one_line


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


@connection_options
def advise(
    workload: Annotated[
        list[Path] | None, typer.Option("--workload", "-w", help="Workload file or folder of *.sql (weight from '-- calls: N', else 1). Repeatable.")
    ] = None,
    sql_texts: Annotated[list[str] | None, typer.Option("--sql", help="A statement to advise on (weight 1). Repeatable.")] = None,
    log: Annotated[
        list[Path] | None, typer.Option("--log", help="PostgreSQL server log file(s) to read the workload from (weight = executions). Repeatable.")
    ] = None,
    log_prefix: Annotated[str | None, typer.Option("--log-line-prefix", help="The server's log_line_prefix, when not detected.")] = None,
    min_calls: Annotated[int, typer.Option("--min-calls", min=1, help="pg_stat_statements: ignore statements called fewer times.")] = 1,
    min_mean_ms: Annotated[float, typer.Option("--min-mean-ms", min=0, help="pg_stat_statements: ignore statements faster on average.")] = 0.0,
    top: Annotated[int, typer.Option("--top", min=1, help="pg_stat_statements: advise on the N statements with the most total time.")] = 50,
    budget: Annotated[str | None, typer.Option("--budget", help="Storage budget for new indexes, e.g. 500MB.")] = None,
    max_indexes: Annotated[int | None, typer.Option("--max-indexes", min=1, help="Recommend at most this many indexes.")] = None,
    min_gain: Annotated[str, typer.Option("--min-gain", help="Stop when no step saves at least this share of some statement's cost (10 = 10%).")] = "10%",
    whatif: Annotated[
        WhatIfMode,
        typer.Option(
            "--whatif",
            help="auto (HypoPG if created, else heuristic), hypopg, build (real build in a rolled-back transaction: takes a SHARE lock) or heuristic.",
        ),
    ] = WhatIfMode.auto,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Build the indexes for real as a set, time each statement without them, "
            "with them and without each one (interleaved runs; "
            "an index whose marginal gain is within noise is rejected), drop them again (staging!).",
        ),
    ] = False,
    runs: Annotated[
        int,
        typer.Option(
            "--runs", min=1, help="--verify: measured runs per statement and configuration, interleaved, after one warm-up (at least 3 for a fair verdict)."
        ),
    ] = 5,
    apply: Annotated[bool, typer.Option("--apply", help="Create the recommended indexes (CONCURRENTLY, one at a time).")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for migration files (and the --verify chart).")] = Path("migrations_out"),
    migration_format: Annotated[
        MigrationFormat | None,
        typer.Option("--migration-format", "-m", help="sql (up+down), alembic, flyway or django. --format sql|alembic|flyway|django also sets it."),
    ] = None,
    single_file: Annotated[bool, typer.Option("--single-file", help="One migration for all indexes instead of one per index.")] = False,
    drop_unused: Annotated[bool, typer.Option("--drop-unused", help="Also write drop migrations for unused and duplicate indexes.")] = False,
    alembic_down_revision: Annotated[str | None, typer.Option("--alembic-down-revision", help="Alembic: the revision the first new one follows.")] = None,
    no_write: Annotated[bool, typer.Option("--no-write", help="Print the advice only; write no files.")] = False,
    lock_timeout: Annotated[
        str, typer.Option("--lock-timeout", help="For --apply/--verify/--whatif build: give up waiting for a lock after this long (> 0).")
    ] = "5s",
    cleanup: Annotated[
        bool,
        typer.Option(
            "--cleanup",
            help="Drop the indexes earlier qprof runs built and left behind when killed "
            "(only indexes with qprof's build name and mark, CONCURRENTLY, under --lock-timeout), "
            "then exit.",
        ),
    ] = False,
    build_timeout: Annotated[
        str | None,
        typer.Option(
            "--build-timeout",
            help="For --apply/--verify: cancel one index build after this long (default: no limit; --statement-timeout does not apply to builds).",
        ),
    ] = None,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: Annotated[
        AdviseFormat,
        typer.Option("--format", "-f", help="Output: table, json, markdown, csv; or a migration format (sql, alembic, flyway, django) with table output."),
    ] = AdviseFormat.table,
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
    from qprof.api.advise import advise as run_advise

    output = fmt.value if fmt.value in ("table", "json", "markdown", "csv") else "table"
    mformat = (migration_format.value if migration_format else None) or (fmt.value if output == "table" and fmt.value != "table" else "sql")
    if cleanup:
        _cleanup(db, profile, statement_timeout, lock_timeout, output)
        return
    quiet = output == "json" or not sys.stdout.isatty()
    status = None if quiet else console.status("advising…")

    def progress(info: dict) -> None:
        if status is not None and "phase" in info:
            status.update(info["phase"] + "…")
        elif status is not None:
            status.update(
                f"round {info['round']}: {info['steps']} candidate steps, {info['whatif_calls']} what-if calls, "
                f"{info['chosen']} chosen, best {info['best'] or '—'}"
            )

    def say(message: str) -> None:  # --verify's steps: the spinner is done by then
        if status is not None:
            status.stop()
        if not quiet:
            console.print(message, markup=False, style="dim")

    if status is not None:
        status.start()
    try:
        with _report_interrupted_builds():
            result = run_advise(
                db,
                workload=list(workload or []),
                sql=list(sql_texts or []),
                logs=list(log or []),
                log_prefix=log_prefix,
                min_calls=min_calls,
                min_mean_ms=min_mean_ms,
                top=top,
                budget=budget,
                max_indexes=max_indexes,
                min_gain=min_gain,
                whatif=whatif.value,
                verify=verify,
                runs=runs,
                apply=apply,
                out=out,
                migration_format=mformat,
                single_file=single_file,
                drop_unused=drop_unused,
                alembic_down_revision=alembic_down_revision,
                write=not no_write,
                lock_timeout=lock_timeout,
                build_timeout=build_timeout,
                profile=profile,
                statement_timeout=statement_timeout,
                allow_functions=allow_function,
                on_progress=progress,
                log=say,
                note=note,
                warn=warn,
            )
    finally:
        if status is not None:
            status.stop()
    _render(result, output, debug=debug or bool(os.environ.get("QPROF_DEBUG")), out=out)


def _render(result: Any, output: str, *, debug: bool, out: Path) -> None:
    """The advice as a table/markdown/csv listing or the JSON document, notes and leftovers on stderr."""
    advice, recs, document = result.advice, result.recommendations, result.to_dict()
    for message in result.notes:
        warn(message)
    rows = []
    for rec in document["recommendations"]:
        names = [s["name"] or str(s["queryid"]) for s in rec["statements"]]
        rows.append(
            dict(
                rec,
                n_statements=len(names),
                include_text=", ".join(rec["include"]),
                helps=", ".join(names[:4]) + (" …" if len(names) > 4 else ""),
                evidence=_cost_pair(rec["statements"]),
                file=rec["file"] or "",
            )
        )
    document_rows = dict(document, rows=rows)
    if output == "csv":
        for item in advice.skipped:
            warn(f"skipped: {item.reason}: {one_line(item.statement, 80)}")
    elif advice.skipped_summary and advice.skipped_summary.count and output != "json":
        emit(advice.skipped_summary.headline() + "\n")
    if debug:
        _time_breakdown(advice)
    if output == "json":
        emit_listing(document, "recommendations", COLUMNS, OutputFormat.json)
        _fail_if(result.failed, result.leftovers)
        return
    summary = document["summary"]
    title = (
        f"{len(recs)} index(es) for {summary['statements']} statement(s); workload cost "
        f"{summary['workload_cost_before']:,.0f} → {summary['workload_cost_after']:,.0f} ({advice.whatif_method}: {advice.cost_unit}); "
        f"{summary['whatif_calls']} what-if calls, {summary['cache_hits']} cache hits, {summary['seconds']:.1f} s"
    )
    if document["verification"]:
        note(document["verification"]["method"])
    for rec in result.rejected:
        note(f"rejected after --verify: {rec.candidate}: {rec.rejected}")
    if not rows:
        note(title)
        if result.earlier:
            note(
                f"no index to recommend: {len(result.earlier)} index(es) left by a killed qprof run (above) may serve the "
                "statements; drop them with  qprof advise --cleanup  and advise again"
            )
        else:
            note("no index to recommend: every statement is served already, or nothing saves at least " + f"{result.min_gain:.0%}")
        _emit_skipped(advice.skipped, output)
        _fail_if(result.failed, result.leftovers)
        return
    emit_listing(document_rows, "rows", COLUMNS, OutputFormat(output), title=title)
    _emit_skipped(advice.skipped, output)
    if result.files:
        note(f"wrote {len(result.files)} migration file(s) ({result.migration_format}) to {out}" + (f"; chart {result.chart}" if result.chart else ""))
    for entry in document["applied"] or []:
        note(f"apply {entry['index']}: " + ("created, valid" if entry.get("created") else f"FAILED: {entry.get('error')}"))
    _fail_if(result.failed, result.leftovers)


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
        lines.append(f"{'  and ' if failed else ''}{len(quiet)} statement(s) with no table to index left out (catalog queries, SELECT 1, DDL …)")
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
        + (f"; what-if calls by phase: {', '.join(f'{k} {v}' for k, v in advice.selection.phase_calls.items())}" if advice.selection.phase_calls else "")
        + (f"; {advice.whatif_work}" if advice.whatif_work else "")
    )


def _fail_if(failed: list[str], leftovers: list) -> None:
    """A failed --apply/--verify step, or an index qprof built and could not drop, exits 1."""
    for item in leftovers:
        warn(f"LEFTOVER: {item.message()}")
    if failed or leftovers:
        raise typer.Exit(1)


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


def _cleanup(db: Any, profile: Any, statement_timeout: str, lock_timeout: str, output: str) -> None:
    """``--cleanup``: drop the leftovers of killed runs (and their SQLite scratch folders)."""
    from qprof.advise.leftovers import leftover_line
    from qprof.api.advise import cleanup

    state: dict[str, list] = {"remaining": []}

    def progress(done: list, remaining: list) -> None:
        state["remaining"] = remaining

    try:
        result = cleanup(db, lock_timeout=lock_timeout, profile=profile, statement_timeout=statement_timeout, on_progress=progress)
    except KeyboardInterrupt:
        try:
            for item in state["remaining"]:
                warn(f"interrupted: still there: {leftover_line(item)}")
        except OSError:  # the terminal is gone (SIGHUP)
            pass
        raise
    if output == "json":
        emit(render_json(result.to_dict()))
    else:
        for item in result.dropped:
            note(f"dropped {item.index}" + (f" on {item.table}" if item.table else "") + ", left by a killed qprof run")
        for name in result.in_use:
            note(f"left alone: {name} (a qprof run that is still going is building or measuring it)")
        if result.scratch_folders_removed:
            note(f"removed {len(result.scratch_folders_removed)} scratch folder(s) of killed qprof runs")
        if not result.dropped and not result.failed:
            live = result.in_use
            note("no leftovers of earlier qprof runs" + (f" ({len(live)} build(s) of a live run left alone)" if live else ""))
    for item in result.failed:
        warn(f"LEFTOVER: {leftover_line(item)}")
    if result.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(advise))
