"""Render listings for people (tabulate) and for scripts (json, csv); diagnostics go to stderr.

Every listing command describes its columns once; the same rows then print as a table, as
GitHub markdown, as CSV with raw values, or as a JSON document with stable keys.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from qprof.units import format_bytes

if TYPE_CHECKING:
    from rich.console import Console


def _redacting_console() -> Console:
    """stderr without secrets: messages quote statements, log lines and connection strings.

    rich has no output filter; ``_render_buffer`` is where every print becomes text.
    """
    from rich.console import Console

    class _RedactingConsole(Console):
        def _render_buffer(self, buffer: Any) -> str:
            from qprof import redact

            return redact.text(super()._render_buffer(buffer))

    return _RedactingConsole(stderr=True, highlight=False, soft_wrap=True)


class _LazyConsole:
    """Stands for the stderr console and builds it on first use: importing rich costs ~30 ms that
    a ``--format json`` run which prints no diagnostic should not pay."""

    _console: Console | None = None

    def _get(self) -> Console:
        if _LazyConsole._console is None:
            _LazyConsole._console = _redacting_console()
        return _LazyConsole._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get(), name, value)


console: Console = _LazyConsole()  # type: ignore[assignment]  # every Console attribute, forwarded


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


@dataclass(frozen=True)
class Column:
    """A listing column: the row key, its header, and how people see the value."""

    key: str
    header: str
    show: Callable[[Any], str] | None = None
    align: str = "right"


def ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}%"


def size(value: int | None) -> str:
    return format_bytes(value)


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _cell(column: Column, row: dict[str, Any]) -> str:
    value = row.get(column.key)
    return column.show(value) if column.show else text(value)


def render_rows(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: OutputFormat) -> str:
    """Rows as a table, markdown or CSV (JSON documents go through :func:`render_json`).

    Every value passes :func:`qprof.redact.document` first, before a column cuts it short.
    """
    from qprof import redact

    rows = [redact.document(row) for row in rows]  # type: ignore[misc]
    if fmt is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([c.key for c in columns])
        for row in rows:
            writer.writerow(["" if row.get(c.key) is None else _csv_value(row.get(c.key)) for c in columns])
        return buffer.getvalue().rstrip("\n")
    from tabulate import tabulate

    table = [[_cell(c, row) for c in columns] for row in rows]
    return tabulate(
        table,
        headers=[c.header for c in columns],
        tablefmt="github" if fmt is OutputFormat.markdown else "simple",
        colalign=[c.align for c in columns] if table else None,
        disable_numparse=True,
    )


def _csv_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return value


class RedactedJson(str):
    """JSON text whose every string went through the redaction already: the free-text patterns
    must not run over it again, as a pattern that hides "the rest of the line" after PASSWORD
    would cut through JSON quoting and leave a document no script can parse."""


def render_json(document: dict[str, Any], *, schema: bool = True) -> RedactedJson:
    """The document as JSON, every string through :func:`qprof.redact.document` (statements from
    workload files and logs, messages quoting them), led by ``schema_version``
    (:data:`qprof.schema.SCHEMA_VERSION`, the one version of qprof's JSON contracts) unless
    ``schema`` is false: a format defined elsewhere (SARIF, GitLab Code Quality) keeps its own shape."""
    from qprof import redact
    from qprof.schema import versioned

    if schema and isinstance(document, dict):
        document = versioned(document)
    return RedactedJson(json.dumps(redact.document(document), indent=2, default=str, ensure_ascii=False))


def emit(text_out: str) -> None:
    """Write the command's result to stdout (and only the result), without any secret: the
    patterns for what a renderer forgot to redact, and every secret qprof was given (JSON from
    :func:`render_json` is redacted string by string instead)."""
    from qprof import redact

    if not isinstance(text_out, RedactedJson):
        text_out = redact.text(text_out)
    sys.stdout.write(text_out)
    if not text_out.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def emit_listing(document: dict[str, Any], rows_key: str, columns: Sequence[Column], fmt: OutputFormat, title: str | None = None) -> None:
    """Print ``document`` as JSON, or its ``rows_key`` list in the other formats."""
    if fmt is OutputFormat.json:
        emit(render_json(document))
        return
    if title and fmt is OutputFormat.table:
        console.print(title)
    emit(render_rows(document[rows_key], columns, fmt))


def warn(message: str) -> None:
    console.print(f"warning: {message}", markup=False)


def note(message: str) -> None:
    console.print(message, markup=False)
