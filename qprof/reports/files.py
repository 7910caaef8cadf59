"""Report files on disk: ``<stem>.html``, ``<stem>.md`` with its chart PNGs, and ``<stem>.json``
(``qprof report --out``, ``qprof record --out``, the Locust plugin)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from qprof.errors import BadInput


def slug(text: str) -> str:
    """A database or run name as a file-name part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "db"


def write_report_files(out: Path, stem: str, doc: dict[str, Any], charts: dict[str, Any], generated: str, *, with_json: bool) -> list[Path]:
    """Write ``<stem>.html``, ``.md`` (with its chart PNGs) and optionally ``.json`` into ``out``.

    A folder that cannot be made or written to is a usage error naming the file, not a crash.
    """
    from qprof.output import render_json
    from qprof.reports.render import html_page, markdown

    path = out
    if out.exists() and not out.is_dir():
        raise BadInput(f"cannot write the report to {out}: it is a file, not a folder", hint="give --out a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        images = {}
        for key, (_title, png) in charts.items():
            path = out / f"{stem}-{key}.png"
            path.write_bytes(png)
            images[key] = path.name
        written = [out / f"{stem}.html", out / f"{stem}.md"]
        path = written[0]
        path.write_text(html_page(doc, charts, generated), encoding="utf-8")
        path = written[1]
        path.write_text(markdown(doc, images), encoding="utf-8")
        if with_json:
            path = out / f"{stem}.json"
            written.append(path)
            path.write_text(render_json(doc), encoding="utf-8")
    except OSError as exc:
        raise BadInput(
            f"cannot write the report to {path}: {exc.strerror or exc}",
            hint="give --out a folder you can write to",
        ) from None
    return written
