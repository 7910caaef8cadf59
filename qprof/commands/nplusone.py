"""``qprof nplusone``: N+1 queries from PostgreSQL server logs (QP501), or suspected from
pg_stat_statements alone (QP502)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qprof.cli.options import DbOption, DebugOption, FormatOption, ProfileOption, StatementTimeoutOption, connect, connection_options, handle_errors
from qprof.errors import EXIT_FINDINGS, BadInput
from qprof.findings import Finding
from qprof.output import Column, OutputFormat, console, emit_listing, ms, num, warn
from qprof.sqltext import one_line

BIG_INPUT = 50 * 1024 * 1024  # show a progress bar above this many bytes


def columns(width: int) -> list[Column]:
    return [
        Column("code", "code", align="left"),
        Column("severity", "severity", align="left"),
        Column("executions", "executions", num),
        Column("units", "units", num),
        Column("max_per_unit", "max/unit", num),
        Column("total_ms", "total ms", ms),
        Column("statement", "repeated statement", lambda q: one_line(q or "", width), "left"),
        Column("source", "after (source)", lambda q: one_line(q or "", width // 2), "left"),
    ]


def _row(finding: Finding) -> dict:
    evidence = finding.evidence
    if finding.code == "QP501":
        source = evidence.get("source") or {}
        return {
            "code": finding.code,
            "severity": finding.severity,
            "executions": evidence["executions"],
            "units": evidence["units"],
            "max_per_unit": evidence["max_per_unit"],
            "total_ms": evidence["total_ms"],
            "statement": evidence["statement"],
            "source": source.get("statement"),
        }
    return {
        "code": finding.code + " (suspect)",
        "severity": finding.severity,
        "executions": evidence["calls"],
        "units": None,
        "max_per_unit": None,
        "total_ms": evidence["total_ms"],
        "statement": evidence["statement"],
        "source": evidence["parent"]["statement"],
    }


def _progress_reader(paths: list[Path], prefix: str | None):
    """A LogReader with a progress bar on stderr when the input is big and stderr is a terminal."""
    from qprof.collectors.logs import LogReader

    total = sum(p.stat().st_size for p in paths if p.is_file())
    if total < BIG_INPUT or not console.is_terminal:
        return LogReader(paths, prefix), None
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console)
    task = bar.add_task("reading logs", total=total)
    starts, offset = {}, 0
    for path in paths:
        starts[str(path)] = offset
        offset += path.stat().st_size if path.is_file() else 0

    def update(path: str, position: int, size: int) -> None:
        bar.update(task, completed=starts.get(path, 0) + min(position, size), description=Path(path).name)

    return LogReader(paths, prefix, progress=update), bar


def _analyze_logs(paths: list[Path], prefix: str | None, threshold: int, min_ms: float, gap_ms: float, unit: str) -> dict:
    from qprof.advisors import qp501_nplusone
    from qprof.nplusone.loganalysis import LogAnalyzer, analyze_logs

    reader, bar = _progress_reader(paths, prefix)
    analyzer = LogAnalyzer(threshold=threshold, min_ms=min_ms, gap_ms=gap_ms, unit_mode=unit)
    analyze_logs(analyzer, reader, display=bar)  # on two cores for big logs
    found = analyzer.results()
    findings = list(qp501_nplusone.check(found, {"threshold": threshold, "min_ms": min_ms}))
    for stats in reader.files:
        if stats.format == "empty":
            warn(f"{stats.path}: empty file")
        if stats.skipped_lines:
            sample = f" (e.g. {stats.samples_of_skipped[0]!r})" if stats.samples_of_skipped else ""
            warn(f"{stats.path}: skipped {stats.skipped_lines:,} line(s) that are not log records{sample}")
        if stats.error:
            warn(f"{stats.path}: {stats.error}")
        for line, new_prefix in stats.prefix_changes:
            warn(f"{stats.path}:{line}: the log line prefix changed; reading on with {new_prefix!r}")
    if not analyzer.statements:
        warn("no statements found in the log; the server logs statements with log_min_duration_statement = 0 (or log_statement = 'all')")
    units = analyzer.unit_kind
    return {
        "source": "log",
        "files": [f.to_dict() for f in reader.files],
        "statements": analyzer.statements,
        "units": analyzer.units_closed,
        "unit_kind": units,
        "skipped_lines": reader.skipped_lines,
        "settings": {"threshold": threshold, "min_ms": min_ms, "gap_ms": gap_ms, "unit": unit},
        "findings": [f.to_dict() for f in findings],
    }, findings


def _from_statistics(db, profile, statement_timeout, min_calls: int, threshold: int) -> tuple[dict, list[Finding]]:
    from qprof.advisors import qp502_nplusone_suspect
    from qprof.collectors.pg_statements import collect_statements

    with connect(db, profile, statement_timeout) as target:
        if target.engine != "postgresql":
            raise BadInput(
                "SQLite keeps no statement statistics",
                hint="capture the application instead: with qprof.capture(engine) as cap: …",
            )
        statements = collect_statements(target)
        description = target.describe()
    options = {**qp502_nplusone_suspect.RULE.options, "min_calls": min_calls, "threshold": threshold}
    findings = list(qp502_nplusone_suspect.check(statements, options))
    return {
        "source": "pg_stat_statements",
        "target": description,
        "statements": len(statements),
        "settings": {"min_calls": min_calls, "threshold": threshold},
        "findings": [f.to_dict() for f in findings],
    }, findings


@connection_options
def nplusone(
    log: Annotated[
        list[Path] | None,
        typer.Option("--log", "-l", help="PostgreSQL server log file (stderr, csvlog or jsonlog; .gz ok). Repeat for several."),
    ] = None,
    log_prefix: Annotated[
        str | None,
        typer.Option("--log-prefix", help="The server's log_line_prefix for stderr logs. Default: detect '%m [%p] ' and common forms."),
    ] = None,
    threshold: Annotated[int, typer.Option("--threshold", min=2, help="Repeats (with different values) of one statement in one unit that make an N+1.")] = 5,
    min_ms: Annotated[
        float,
        typer.Option("--min-ms", min=0, help="Total time of the repeats at which an N+1 is a warning; below it is info (found either way)."),
    ] = 50.0,
    gap_ms: Annotated[float, typer.Option("--gap-ms", min=0, help="Without transaction ids in the log: idle time that ends a unit, in ms.")] = 1000.0,
    unit: Annotated[
        str,
        typer.Option("--unit", help="Unit of work: auto (transaction when the log has %v, else gap), transaction, gap or session."),
    ] = "auto",
    min_calls: Annotated[int, typer.Option("--min-calls", min=1, help="Without --log (QP502): ignore statements called fewer times.")] = 100,
    width: Annotated[int, typer.Option("--width", min=10, help="Cut statements to this many characters (table/markdown).")] = 60,
    fail: Annotated[bool, typer.Option("--fail", help="Exit 1 when any N+1 is found (for CI; same as --fail-on info).")] = False,
    fail_on: Annotated[
        list[str] | None,
        typer.Option("--fail-on", help="Exit 1 when a finding is at least this severity (info, warning) or matches this code prefix (QP501)."),
    ] = None,
    db: DbOption = None,
    profile: ProfileOption = None,
    fmt: FormatOption = OutputFormat.table,
    statement_timeout: StatementTimeoutOption = "30s",
    debug: DebugOption = False,
) -> None:
    """Find N+1 queries in PostgreSQL server logs (QP501), or suspect them from pg_stat_statements (QP502).

    \b
    The log needs log_min_duration_statement = 0 (or log_statement = 'all').
    Examples:
      qprof nplusone --log /var/log/postgresql/postgresql-15-main.log
      qprof nplusone --log postgresql.csv.gz --min-ms 0 --format json
      qprof nplusone -d postgresql://app@db/app     # statistics only: suspects
    """
    from qprof.nplusone.loganalysis import UNIT_MODES
    from qprof.advisors.config import fail_on_matches, validate_fail_on

    if unit not in UNIT_MODES:
        raise BadInput(f"--unit must be one of {', '.join(UNIT_MODES)}, not {unit!r}")
    gates = validate_fail_on(fail_on or []) + (["info"] if fail else [])
    if log:
        document, findings = _analyze_logs(list(log), log_prefix, threshold, min_ms, gap_ms, unit)
    else:
        document, findings = _from_statistics(db, profile, statement_timeout, min_calls, threshold)
        if fmt is OutputFormat.table:
            console.print("statistics only: these are suspects, confirm them with --log or qprof.capture", markup=False)
    document["rows"] = [_row(f) for f in findings]
    if fmt is OutputFormat.json:
        document.pop("rows")
        emit_listing(document, "findings", [], fmt)
    else:
        emit_listing(document, "rows", columns(width), fmt)
        if fmt is OutputFormat.table:
            for finding in findings:
                console.print(f"{finding.code} {finding.message}\n  fix: {finding.suggestion}", markup=False)
            if not findings:
                console.print("no N+1 found", markup=False)
    if fmt is OutputFormat.table and log:
        console.print(f"units: {document['unit_kind']}", markup=False)
    if gates and fail_on_matches(gates, findings):
        raise typer.Exit(EXIT_FINDINGS)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(nplusone))
