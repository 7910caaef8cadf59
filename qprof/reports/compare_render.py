"""``qprof compare`` laid out: a terminal table, Markdown for the pull request, one HTML page."""

from __future__ import annotations

import base64
import html
from typing import Any

from qprof.output import Column, OutputFormat, ms, num, render_rows
from qprof.reports.render import CSS, _html_table, percentile_cell, speed_change
from qprof.sqltext import one_line


def columns(width: int) -> list[Column]:
    return [
        Column("verdict", "verdict", align="left"),
        Column("before_calls", "calls before", num),
        Column("calls", "calls after", num),
        Column("before_mean_ms", "mean ms before", ms),
        Column("mean_ms", "mean ms after", ms),
        Column("before_p95_ms", "P95 ms before", percentile_cell),
        Column("p95_ms", "P95 ms after", percentile_cell),
        Column("factor", "change", speed_change),
        Column("query", "query", lambda q: one_line(q or "", width), "left"),
    ]


INDEX_COLUMNS = [Column("index", "index", align="left"), Column("definition", "definition", align="left")]


def _lines(doc: dict[str, Any]) -> list[str]:
    s = doc["settings"]
    lines = [
        f"Before: {doc['before']['description']}",
        f"After: {doc['after']['description']}",
        (
            f"{len(doc['improvements'])} improvement(s), {len(doc['regressions'])} regression(s) "
            f"(mean time changed by {s['regression_pct']:.0f}% or more, ≥ {s['min_calls']} calls on both sides)"
        ),
    ]
    if doc.get("indexes_added") is not None:
        lines.append(f"Indexes added: {len(doc['indexes_added'])}, dropped: {len(doc['indexes_dropped'])}")
    return lines + [f"Note: {n}" for n in doc["notes"]]


def table_text(doc: dict[str, Any], limit: int) -> str:
    out = _lines(doc) + [""]
    out.append(render_rows(doc["statements"][:limit], columns(50), OutputFormat.table) if doc["statements"] else "no statements on either side")
    for key, title in (("indexes_added", "indexes added"), ("indexes_dropped", "indexes dropped")):
        if doc.get(key):
            out += ["", title + ":"] + [f"  {row['definition']}" for row in doc[key]]
    return "\n".join(out)


def markdown(doc: dict[str, Any], limit: int, chart: str | None = None) -> str:
    out = [f"# qprof compare: {doc['before']['ref']} → {doc['after']['ref']}", ""]
    out += [f"- {line}" for line in _lines(doc)] + [""]
    if chart:
        out += [f"![before/after]({chart})", ""]
    for key, title in (("improvements", "Improvements"), ("regressions", "Regressions"), ("statements", "All statements")):
        out += [f"## {title}", ""]
        rows = doc[key][:limit]
        out += [render_rows(rows, columns(70), OutputFormat.markdown) if rows else f"_no {title.lower()}._", ""]
    for key, title in (("indexes_added", "Indexes added"), ("indexes_dropped", "Indexes dropped")):
        if doc.get(key) is not None:
            out += [f"## {title}", ""]
            out += [render_rows(doc[key], INDEX_COLUMNS, OutputFormat.markdown) if doc[key] else "_none._", ""]
    return "\n".join(out)


def chart_rows(doc: dict[str, Any], count: int = 8) -> list[dict[str, Any]]:
    """The statements to draw: changed ones first, then the heaviest."""
    from qprof.reports.build import chart_label

    rows = [r for r in doc["statements"] if r["verdict"] in ("improvement", "regression")]
    rows += [r for r in doc["statements"] if r not in rows and r["before_mean_ms"] is not None and r["mean_ms"] is not None]
    return [{**r, "label": chart_label(r["queryid"], r["query"], 80)} for r in rows[:count]]


def html_page(doc: dict[str, Any], limit: int, png: bytes | None) -> str:
    title = f"qprof compare: {doc['before']['ref']} → {doc['after']['ref']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<ul>",
        *(f"<li>{html.escape(line)}</li>" for line in _lines(doc)),
        "</ul>",
    ]
    if png:
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure id="chart-before-after"><img alt="before/after mean and P95 per statement" '
            f'src="data:image/png;base64,{data}"><figcaption>Mean and P95 per statement, before and after</figcaption></figure>'
        )
    parts.append('<div class="pair">')
    for key, title in (("improvements", "Improvements"), ("regressions", "Regressions")):
        rows = doc[key][:limit]
        parts.append(f'<div><h2 id="{key}">{title}</h2>')
        paired = [c for c in columns(40) if c.key != "verdict"]  # the section says it
        parts.append(_html_table(rows, paired, key) if rows else f'<p class="empty">no {title.lower()}.</p>')
        parts.append("</div>")
    parts.append("</div>")
    parts.append('<h2 id="statements">All statements</h2>')
    rows = doc["statements"][:limit]
    parts.append(_html_table(rows, columns(90), "statements") if rows else '<p class="empty">no statements on either side.</p>')
    for key, title in (("indexes_added", "Indexes added"), ("indexes_dropped", "Indexes dropped")):
        if doc.get(key) is not None:
            parts.append(f'<h2 id="{key}">{title}</h2>')
            parts.append(_html_table(doc[key], INDEX_COLUMNS, key) if doc[key] else '<p class="empty">none.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
