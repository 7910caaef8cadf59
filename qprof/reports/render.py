"""Lay the report document out as Markdown or as one self-contained HTML page.

Both renderers walk the same section list, so a section added once shows up in both. The HTML
embeds its charts as base64 PNG ``data:`` URIs and its CSS inline: one file to mail or archive.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qprof.output import Column, OutputFormat, ms, num, pct, render_rows, size, text
from qprof.sqltext import one_line


def _trend(value: float | None) -> str:
    if value is None:
        return ""
    arrow = "↑" if value >= 5 else "↓" if value <= -5 else "→"
    return f"{arrow} {value:+.0f}%"


def _change(value: float | None) -> str:
    return "" if value is None else f"{value:+.0f}%"


def speed_change(factor: float | None) -> str:
    """A change of mean time said the way people read it: ``1000× faster``, ``+35%``, ``3.2× slower``.

    ``factor`` is after/before. A percentage hides big improvements (every one is "-99%" or
    "-100%"), so at half the time or less the speed-up is given as a multiple, and so is a
    slowdown of 2× or more.
    """
    if factor is None:
        return ""
    if factor <= 0:
        return "∞× faster"
    if factor <= 0.5:
        return f"{_multiple(1.0 / factor)}× faster"
    if factor >= 2.0:
        return f"{_multiple(factor)}× slower"
    return f"{100.0 * (factor - 1.0):+.0f}%"


def _multiple(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def percentile_cell(value: Any, below: float | None = None) -> str:
    """A measured percentile; "< T" where it is among executions under the log's threshold T
    (``below``); "—" where nothing was measured."""
    if isinstance(value, str):
        return value
    if value is None:
        return f"< {below:g}" if below else "—"
    return f"{value:,.2f}"


def _percentile_column(doc: dict[str, Any] | None) -> Callable[[Any], str]:
    p = (doc or {}).get("percentiles") or {}
    below = p.get("threshold_ms") if p.get("source") and (p.get("threshold_ms") or 0) > 0 else None
    return lambda value: percentile_cell(value, below)


def _query(width: int) -> Callable[[Any], str]:
    return lambda q: one_line(str(q or ""), width)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    columns: list[Column]
    empty: str
    blurb: str = ""


def _change_columns(width: int) -> list[Column]:
    return [
        Column("queryid", "queryid"),
        Column("before_calls", "calls before", num),
        Column("calls", "calls", num),
        Column("before_mean_ms", "mean ms before", ms),
        Column("mean_ms", "mean ms", ms),
        Column("factor", "change", speed_change),
        Column("query", "query", _query(width), "left"),
    ]


def sections(width: int = 70, doc: dict[str, Any] | None = None) -> list[Section]:
    recorded = bool(doc and "percentiles" in doc)
    statement_columns = [
        Column("queryid", "queryid"),
        Column("calls", "calls", num),
        Column("total_ms", "total ms", ms),
        Column("mean_ms", "mean ms", ms),
    ]
    if recorded:  # a recorded window: measured percentiles, rows per call, temp spills
        statement_columns += [
            Column("p50_ms", "P50 ms", _percentile_column(doc)),
            Column("p95_ms", "P95 ms", _percentile_column(doc)),
            Column("p99_ms", "P99 ms", _percentile_column(doc)),
            Column("rows_per_call", "rows/call", num),
            Column("temp_blks", "temp blks", num),
        ]
    statement_columns.append(Column("pct_total_time", "% time", pct))
    if not recorded:
        statement_columns.append(Column("trend_pct", "trend", _trend))
    statement_columns.append(Column("query", "query", _query(width), "left"))
    top_blurb = "" if recorded else "Trend: mean time in the second half of the window versus the first half."
    record_sections = (
        [
            Section(
                "slo",
                "SLO gates",
                [
                    Column("slo", "SLO", align="left"),
                    Column("status", "status", align="left"),
                    Column("value", "value", text),
                    Column("queryid", "queryid", text),
                    Column("statement", "statement", _query(width), "left"),
                ],
                "no SLO given (--slo, or slo = [...] under [record] in qprof.toml)",
            ),
        ]
        if recorded
        else []
    )
    nplusone_sections = (
        [
            Section(
                "nplusone",
                "N+1 loops in the window's log",
                [
                    Column("executions", "executions", num),
                    Column("units", "units", num),
                    Column("max_per_unit", "max/unit", num),
                    Column("total_ms", "total ms", ms),
                    Column("statement", "repeated statement", _query(width), "left"),
                    Column("fix", "fix", _query(width // 2), "left"),
                ],
                "no N+1 loop in the window's log" if doc and doc.get("percentiles", {}).get("source") else "no server log read: N+1 loops need --log",
            ),
        ]
        if recorded
        else []
    )
    comparison_sections = (
        []
        if recorded
        else [
            Section("regressions", "Regressions", _change_columns(width), "no regressions"),
            Section(
                "improvements",
                "Improvements",
                _change_columns(width),
                "no improvements",
                "Mean time down markedly: a speed-up of 2× or more is shown as a multiple.",
            ),
            Section(
                "new_statements",
                "New statements",
                [
                    Column("queryid", "queryid"),
                    Column("calls", "calls", num),
                    Column("total_ms", "total ms", ms),
                    Column("mean_ms", "mean ms", ms),
                    Column("query", "query", _query(width), "left"),
                ],
                "no new statements",
            ),
        ]
    )
    return [
        *record_sections,
        Section("top_by_total", "Top statements by total time", statement_columns, "no statement ran in this window", top_blurb),
        Section("top_by_mean", "Top statements by mean time", statement_columns, "no statement ran in this window"),
        *comparison_sections,
        Section(
            "seq_scan_growth",
            "Tables read sequentially in this window" if recorded else "Tables with growing sequential scans",
            [
                Column("table", "table", align="left"),
                Column("seq_scan", "seq scans", num),
                Column("seq_tup_read", "rows read by seq scans", num),
                Column("before_seq_tup_read", "before", num),
                Column("growth_pct", "growth", _change),
                Column("table_bytes", "table size", size),
            ],
            "no table's sequential-scan volume grew",
            "" if recorded else "Rows read by sequential scans in this window versus the previous one (scaled to the same length).",
        ),
        Section(
            "index_usage_changes",
            "Index usage changes",
            [
                Column("index", "index", align="left"),
                Column("table", "table", align="left"),
                Column("before_idx_scan", "scans before", num),
                Column("idx_scan", "scans", num),
                Column("change", "change", text, "left"),
                Column("change_pct", "%", _change),
            ],
            "no index changed its usage markedly",
        ),
        Section(
            "used_indexes",
            "Indexes used in this window",
            [
                Column("index", "index", align="left"),
                Column("table", "table", align="left"),
                Column("idx_scan", "scans", num),
                Column("size_bytes", "size", size),
            ],
            "no index was used in this window",
        ),
        Section(
            "unused_indexes",
            "Unused indexes",
            [
                Column("index", "index", align="left"),
                Column("table", "table", align="left"),
                Column("size_bytes", "size", size),
                Column("definition", "definition", _query(width), "left"),
            ],
            "every non-unique index was used in this window",
            "Not scanned once in this window (unique and primary-key indexes are left out: they enforce constraints).",
        ),
        *nplusone_sections,
        Section(
            "dead_tuples",
            "Dead tuples",
            [
                Column("table", "table", align="left"),
                Column("n_dead_tup", "dead rows", num),
                Column("n_live_tup", "live rows", num),
                Column("dead_pct", "dead %", pct),
                Column("last_autovacuum", "last autovacuum", lambda v: (v if isinstance(v, str) and v else "never")[:19], "left"),
            ],
            "no dead tuples",
        ),
    ]


FINDING_COLUMNS = [
    Column("code", "code", align="left"),
    Column("severity", "severity", align="left"),
    Column("title", "finding", align="left"),
    Column("subject", "on", text, "left"),
]


def _summary_lines(doc: dict[str, Any]) -> list[tuple[str, str]]:
    s = doc["summary"]
    w = s["window"]
    lines = [("Database", f"{s['target']} ({s['identity']})")]
    run = doc.get("run")
    if run:
        lines += _run_lines(doc, run)
    lines += [
        ("Window", f"{w['start']} → {w['end']} ({_duration(w['seconds'])}, snapshots {w['first_snapshot']}–{w['last_snapshot']})"),
        ("Calls", f"{s['calls']:,} ({s['calls_per_s']:,.2f}/s{_versus(s['calls_per_s'], s.get('previous_calls_per_s'))})"),
        ("DB time", f"{s['db_time_ms'] / 1000:,.2f} s ({s['db_time_per_s_ms']:,.2f} ms/s{_versus(s['db_time_per_s_ms'], s.get('previous_db_time_per_s_ms'))})"),
        ("Mean per call", f"{s['mean_ms']:,.3f} ms"),
        ("Statements", f"{s['statements']:,} active, {len(doc['new_statements'])} new"),
        *(
            []
            if run
            else [
                ("Improvements", f"{len(doc.get('improvements') or [])}"),
                (
                    "Regressions",
                    f"{len(doc['regressions'])} (mean +{doc['settings']['regression_pct']:.0f}% or more, "
                    f"≥ {doc['settings']['min_calls']} calls, vs {doc['comparison'].get('against') or 'no earlier window'})",
                ),
            ]
        ),
    ]
    if s["resets_at_snapshots"]:
        lines.append(("Statistics resets", "at snapshot(s) " + ", ".join(map(str, s["resets_at_snapshots"])) + "; counters restarted there"))
    if s["window_shorter_than_requested"]:
        lines.append(("Note", "history starts later than the requested window"))
    if s.get("excluded_note"):
        lines.append(("Not in top lists", s["excluded_note"]))
    return lines


def _run_lines(doc: dict[str, Any], run: dict[str, Any]) -> list[tuple[str, str]]:
    command = run.get("command")
    if command:
        lines = [("Run", f"{run['name']} ({run['status']})"), ("Command", " ".join(command))]
    else:
        shown = run.get("origin") or f"a --duration window of {_duration(run.get('seconds') or 0)}"
        lines = [("Run", f"{run['name']} ({run['status']})"), ("Load", shown)]
    if command:
        lines.append(("Exit code", str(run.get("exit_code"))))
    p = doc.get("percentiles") or {}
    if p.get("source"):
        w = p.get("window") or {}
        b = w.get("below_ms")
        lines.append(
            (
                "Percentiles",
                (
                    f"{p['source']}; whole window P50 {percentile_cell(w.get('p50_ms'), b)} ms, "
                    f"P95 {percentile_cell(w.get('p95_ms'), b)} ms, P99 {percentile_cell(w.get('p99_ms'), b)} ms "
                    f"({w.get('samples', 0):,} measured executions)"
                ),
            )
        )
    else:
        lines.append(("Percentiles", "— " + (p.get("how_to_enable") or "no measurements")))
    for note in [*(p.get("notes") or []), *(run.get("notes") or [])]:
        lines.append(("Note", note))
    slo = doc.get("slo_summary")
    if slo:
        lines.append(("SLO", slo))
    return lines


def _versus(now: float, before: float | None) -> str:
    if not before:
        return ""
    return f", {100.0 * (now - before) / before:+.0f}% vs previous window"


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def title(doc: dict[str, Any]) -> str:
    if doc.get("run"):
        return (
            f"qprof record {doc['run']['name']}: {doc['summary']['target']}, "
            f"{doc['summary']['window']['start'][:19]} → {doc['summary']['window']['end'][11:19]} UTC"
        )
    return f"qprof report: {doc['summary']['target']}, {doc['summary']['window']['start'][:16]} → {doc['summary']['window']['end'][:16]} UTC"


def _findings_rows(doc: dict[str, Any]) -> list[dict[str, Any]] | None:
    return doc.get("findings")


def markdown(doc: dict[str, Any], charts: dict[str, str] | None = None) -> str:
    """GitHub-flavoured Markdown; ``charts`` maps chart key → image path to link (written beside it)."""
    out = [f"# {title(doc)}", ""]
    out += [f"- **{label}:** {value}" for label, value in _summary_lines(doc)]
    out.append("")
    for key, path in (charts or {}).items():
        out += [f"![{key}]({path})", ""]
    for section in sections(70, doc):
        out += [f"## {section.title}", ""]
        if section.blurb:
            out += [f"_{section.blurb}_", ""]
        rows = doc.get(section.key) or []
        out += [render_rows(rows, section.columns, OutputFormat.markdown) if rows else f"_{section.empty}._", ""]
    out += ["## Advisor findings", ""]
    findings = _findings_rows(doc)
    if findings:
        out += [render_rows(findings, FINDING_COLUMNS, OutputFormat.markdown), ""]
    else:
        out += [f"_{doc.get('findings_note') or 'no findings'}._", ""]
    return "\n".join(out)


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.5rem;border-bottom:2px solid #4e79a7;padding-bottom:.3rem}
h2{font-size:1.15rem;margin-top:2rem;color:#2d4f75}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0}
th,td{border-bottom:1px solid #e2e2e2;padding:.3rem .5rem;vertical-align:top}
th{background:#f3f6fa;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.sql{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.8rem}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dl.summary dt{font-weight:600} dl.summary dd{margin:0}
.empty{color:#777;font-style:italic} .blurb{color:#555;font-size:.85rem}
figure{margin:1rem 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555}
.up{color:#b22} .down{color:#282}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem} .pair>div{min-width:0;overflow-x:auto}
footer{margin-top:3rem;font-size:.75rem;color:#888}
"""


def _html_table(rows: list[dict[str, Any]], columns: list[Column], key: str) -> str:
    head = "".join(f"<th>{html.escape(c.header)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c.key)
            shown = c.show(value) if c.show else text(value)
            css = "sql" if c.key in ("query", "definition") else ("num" if c.align == "right" else "")
            full = f' title="{html.escape(str(value))}"' if c.key == "query" else ""
            marker = ""
            if c.key in ("trend_pct", "change_pct") and isinstance(value, (int, float)):
                marker = " up" if value >= 5 else " down" if value <= -5 else ""
            elif c.key == "factor" and isinstance(value, (int, float)):
                marker = " up" if value >= 1.05 else " down" if value <= 0.95 else ""
            elif c.key == "status":
                marker = " up" if value == "broken" else " down" if value == "ok" else ""
            cells.append(f'<td class="{css}{marker}"{full}>{html.escape(shown)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table data-section="{key}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def html_page(doc: dict[str, Any], charts: dict[str, tuple[str, bytes]], generated: str) -> str:
    """One self-contained HTML page: inline CSS, charts as data: URIs, no external requests."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title(doc))}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title(doc))}</h1>",
        '<dl class="summary">',
    ]
    for label, value in _summary_lines(doc):
        parts.append(f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>")
    parts.append("</dl>")
    for key, (caption, png) in charts.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure id="chart-{key}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    for section in sections(90, doc):
        if section.key == "regressions":  # improvements sit beside regressions
            parts.append('<div class="pair"><div>')
        elif section.key == "improvements":
            parts.append("</div><div>")
        parts.append(f'<h2 id="{section.key}">{html.escape(section.title)}</h2>')
        if section.blurb:
            parts.append(f'<p class="blurb">{html.escape(section.blurb)}</p>')
        rows = doc.get(section.key) or []
        width = 45 if section.key in ("regressions", "improvements") else 90
        columns = section.columns if width == 90 else [Column(c.key, c.header, _query(width), c.align) if c.key == "query" else c for c in section.columns]
        parts.append(_html_table(rows, columns, section.key) if rows else f'<p class="empty">{html.escape(section.empty)}.</p>')
        if section.key == "improvements":
            parts.append("</div></div>")
    parts.append('<h2 id="findings">Advisor findings</h2>')
    findings = _findings_rows(doc)
    if findings:
        parts.append(_html_table(findings, FINDING_COLUMNS, "findings"))
    else:
        parts.append(f'<p class="empty">{html.escape(doc.get("findings_note") or "no findings")}.</p>')
    parts.append(f"<footer>Generated by qprof on {html.escape(generated)} UTC.</footer></body></html>")
    return "\n".join(parts)
