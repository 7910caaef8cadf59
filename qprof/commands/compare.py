"""``qprof compare A B``: before/after per statement — the evidence for an index migration's PR."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from qprof.cli.options import DebugOption, handle_errors
from qprof.errors import EXIT_FINDINGS, BadInput
from qprof.history.cli import QuietOption, StoreOption, store_location
from qprof.output import emit, note, render_json, warn
from qprof.units import parse_percent


class CompareFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    html = "html"
    json = "json"


def compare(
    before: Annotated[
        str, typer.Argument(help="The 'before' side: a run name (qprof record --name), a snapshot range like 12..15, or a baseline name.", show_default=False)
    ],
    after: Annotated[str, typer.Argument(help="The 'after' side, named the same ways.", show_default=False)],
    regression: Annotated[
        str, typer.Option("--regression", help="Mean time up by this much is a regression, down to 1/(1+this) an improvement (10 = 10%).")
    ] = "10%",
    min_calls: Annotated[int, typer.Option("--min-calls", min=1, help="Calls needed on both sides for a statement to be judged.")] = 5,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression", help="Exit 1 when a statement regressed.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Statements to list.")] = 20,
    fmt: Annotated[
        CompareFormat, typer.Option("--format", "-f", help="table, markdown (for the pull request), html (self-contained, with a before/after chart) or json.")
    ] = CompareFormat.table,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report to this file instead of stdout (markdown: the chart PNG beside it).")
    ] = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Compare two windows statement by statement: calls, mean and P95 before and after,
    improvements and regressions, and the indexes added or dropped in between.

    \b
    Examples:
      qprof compare before-index after-index
      qprof compare main-baseline nightly --regression 10% --fail-on-regression
      qprof compare 120..140 141..160 --format html --out compare.html
    """
    from qprof.history.store import Store
    from qprof.record.compare import compare as build
    from qprof.record.compare import resolve
    from qprof.reports import compare_render as render

    fraction = parse_percent(regression)
    if not fraction > 0:
        raise BadInput("--regression must be above 0%")
    if before.strip() == after.strip():
        raise BadInput(
            f"compare needs two different sides, got {before!r} twice", hint="qprof compare BEFORE AFTER (run names, snapshot ranges 12..15, baselines)"
        )
    with Store(store_location(store)) as history:
        history.require_existing()
        doc = build(resolve(history, before), resolve(history, after), regression=fraction, min_calls=min_calls)
    if out is not None and not quiet:  # printed reports carry their notes; a written file's reader sees them here
        for line in doc["notes"]:
            warn(line)
    png = None
    if fmt in (CompareFormat.html, CompareFormat.markdown) and (out is not None or fmt is CompareFormat.html):
        from qprof.reports.charts import before_after_chart

        rows = render.chart_rows(doc)
        png = before_after_chart(rows, before, after) if rows else None
    if fmt is CompareFormat.json:
        text = render_json(doc)
    elif fmt is CompareFormat.html:
        text = render.html_page(doc, limit, png)
    elif fmt is CompareFormat.markdown:
        chart = None
        if out is not None and png:
            chart_path = out.with_suffix(".png")
            _write(chart_path, png)
            chart = chart_path.name
        text = render.markdown(doc, limit, chart)
    else:
        text = render.table_text(doc, limit)
    if out is not None:
        _write(out, text.encode("utf-8"))
        if not quiet:
            note(f"wrote {out}")
    else:
        emit(text)
    if fail_on_regression and doc["regressions"]:
        if not quiet:
            warn(f"{len(doc['regressions'])} regression(s) of {100 * fraction:g}% or more")
        raise typer.Exit(EXIT_FINDINGS)


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}", hint="give --out a file in a folder you can write to") from None


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(compare))
