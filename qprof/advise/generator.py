"""Migration files for the recommended indexes, in the format the team already uses.

* ``sql``: one file per index with ``-- migrate:up`` / ``-- migrate:down`` sections (dbmate style)
* ``alembic``: a revision file; CONCURRENTLY runs inside ``op.get_context().autocommit_block()``
* ``flyway``: ``V<version>__add_<name>.sql`` (+ ``.sql.conf`` with executeInTransaction=false,
  and the ``U<version>__…`` undo script)
* ``django``: a migration with ``atomic = False`` and ``RunSQL(sql, reverse_sql)``

PostgreSQL DDL is ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` / ``DROP INDEX CONCURRENTLY IF
EXISTS``; identifiers are quoted by psycopg.sql (SQLite: by sqlglot), never pasted. Every file
starts with a header saying why the index is proposed, with the evidence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qprof import __version__, redact
from qprof.advise.candidates import Candidate
from qprof.errors import QprofError
from qprof.sqltext import one_line

FORMATS = ("sql", "alembic", "flyway", "django")
MAX_NAME_BYTES = 63


@dataclass
class StatementEvidence:
    key: str
    text: str
    calls: int
    queryid: str | None = None
    name: str | None = None
    cost_before: float | None = None
    cost_after: float | None = None
    ms_before: float | None = None
    ms_after: float | None = None
    p95_before: float | None = None
    p95_after: float | None = None
    regressed: bool | None = None  # --verify: measurably slower with the index (None: not timed)
    params: list | None = None  # --verify: the parameter values the timings used
    runs: int | None = None  # --verify: measured runs behind the median and p95

    def to_dict(self) -> dict[str, Any]:
        return {
            "queryid": self.queryid if self.queryid is not None else self.name,
            "name": self.name,
            "text": self.text,
            "calls": self.calls,
            "cost_before": _round(self.cost_before),
            "cost_after": _round(self.cost_after),
            "ms_before": _round(self.ms_before, 3),
            "ms_after": _round(self.ms_after, 3),
            "speedup": _round(self.ms_before / self.ms_after, 1) if self.ms_before and self.ms_after else None,
            "p95_before": _round(self.p95_before, 3),
            "p95_after": _round(self.p95_after, 3),
            "runs": self.runs,
            "params": _jsonable(self.params),
            "regressed": self.regressed,
        }


def _jsonable(values: list | None) -> list | None:
    """Parameter values as JSON can hold them (dates, decimals, … as text)."""
    if values is None:
        return None
    return [v if v is None or isinstance(v, (bool, int, float, str)) else str(v) for v in values]


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


@dataclass
class Recommendation:
    """One index to create, with its DDL and the evidence for it."""

    candidate: Candidate
    name: str
    ddl: str
    drop_ddl: str
    size_bytes: int
    size_source: str
    write_overhead: float
    hot_columns: list[str] = field(default_factory=list)
    statements: list[StatementEvidence] = field(default_factory=list)
    # Other statements on the table whose plans the index may change: --verify times them too.
    others: list[StatementEvidence] = field(default_factory=list)
    net_ms_saved: float | None = None  # --verify: Σ calls × (median before − median after)
    rejected: str | None = None  # --verify found its net effect negative: not recommended
    real_size_bytes: int | None = None
    build_ms: float | None = None
    applied: bool | None = None
    valid: bool | None = None
    file: str | None = None
    kind: str = "create"  # create | drop
    reason: str | None = None  # drops: unused / duplicate of …
    engine: str = "postgresql"
    partitioned: bool = False  # on a partitioned parent (PostgreSQL): no CONCURRENTLY possible
    error: str | None = None  # --verify/--apply: what failed for this index

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.candidate.qualified_table,
            "columns": self.candidate.columns,
            "include": list(self.candidate.include),
            "name": self.name,
            "ddl": self.ddl,
            "drop_ddl": self.drop_ddl,
            "size_bytes": self.real_size_bytes if self.real_size_bytes is not None else self.size_bytes,
            "estimated_size_bytes": self.size_bytes,
            "size_source": self._built_size_source() if self.real_size_bytes is not None else self.size_source,
            "build_ms": _round(self.build_ms),
            "write_overhead": _round(self.write_overhead),
            "hot_columns": self.hot_columns,
            "statements": [s.to_dict() for s in self.statements],
            "other_statements": [s.to_dict() for s in self.others if s.ms_before is not None],
            "net_ms_saved": _round(self.net_ms_saved, 3),
            "applied": self.applied,
            "file": self.file,
            "partitioned": self.partitioned,
            "error": self.error,
        }

    def _built_size_source(self) -> str:
        return "dbstat (built)" if self.engine == "sqlite" else "pg_relation_size (built)"


# -- names and DDL ---------------------------------------------------------------------------------
def index_name(candidate: Candidate, taken: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """``<table>_<col>_<col>[_desc]_idx``: readable, deterministic, ≤ 63 bytes (hash suffix when cut)."""
    parts = [candidate.table] + [k.column + ("_desc" if k.descending else "") for k in candidate.keys]
    if candidate.include:
        parts += ["incl", *candidate.include]
    base = re.sub(r"[^0-9A-Za-z_]+", "_", "_".join(parts)).strip("_").lower() or "index"
    name = f"{base}_idx"
    digest = hashlib.sha1(str(candidate).encode()).hexdigest()[:8]
    if len(name.encode()) > MAX_NAME_BYTES or name in taken:
        room = MAX_NAME_BYTES - len(f"_{digest}_idx")
        name = f"{base.encode()[:room].decode(errors='ignore').rstrip('_')}_{digest}_idx"
    return name


def create_ddl(candidate: Candidate, name: str, engine: str, *, concurrently: bool = True) -> str:
    """The up step. ``concurrently=False`` for a partitioned parent: PostgreSQL rejects
    ``CREATE INDEX CONCURRENTLY`` there ("cannot create index on partitioned table … concurrently")."""
    from qprof.advise import ddl

    concurrently = concurrently and engine != "sqlite"
    return ddl.text(ddl.create_index(candidate, name, engine, concurrently=concurrently, if_not_exists=True)) + ";"


def drop_ddl(schema: str, name: str, engine: str, *, concurrently: bool = True) -> str:
    """The down step (``concurrently=False`` for an index on a partitioned parent)."""
    from qprof.advise import ddl

    return ddl.text(ddl.drop_index(schema, name, engine, concurrently=concurrently)) + ";"


def recreate_ddl(definition: str, engine: str, *, concurrently: bool = True) -> str:
    """``pg_get_indexdef`` output made concurrent and idempotent, for the down step of a drop.

    A partitioned parent's index (``concurrently=False``) is recreated plainly and without
    ``ON ONLY`` (pg_get_indexdef writes it), which would leave it INVALID with no partitions."""
    if engine == "sqlite":
        return (
            re.sub(
                r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+", lambda m: f"CREATE {m.group(1) or ''}INDEX IF NOT EXISTS ", definition, count=1, flags=re.IGNORECASE
            ).rstrip(";")
            + ";"
        )
    from qprof.advise.ddl import one_line_literals

    verb = "INDEX CONCURRENTLY IF NOT EXISTS " if concurrently else "INDEX IF NOT EXISTS "
    definition = one_line_literals(definition)  # a name with a line break must not break the file's lines
    text = re.sub(
        r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+",
        lambda m: f"CREATE {m.group(1) or ''}{verb}",
        definition,
        count=1,
        flags=re.IGNORECASE,
    ).rstrip(";")
    if not concurrently:
        text = re.sub(r"\s+ON\s+ONLY\s+", " ON ", text, count=1, flags=re.IGNORECASE)
    return text + ";"


# -- headers -------------------------------------------------------------------------------------
@dataclass
class RunInfo:
    target: str
    engine: str
    whatif_method: str
    cost_unit: str
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    version: str = __version__


def _fmt_bytes(value: int | None) -> str:
    from qprof.units import format_bytes

    return format_bytes(value) if value is not None else "?"


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def clean_line(text: str) -> str:
    """One header line made safe for a ``--`` or ``#`` comment: control, format and line/paragraph
    separator characters are written as escapes (``\\n``, ``\\x0b``, ``\\u2028``), so a catalog name or
    statement text can never end the comment and turn the rest of its line into SQL or Python."""
    import unicodedata

    out = []
    for char in str(text):
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


PARTITIONED_NOTE = [
    "partitioned table: PostgreSQL cannot build (or drop) an index on a partitioned table CONCURRENTLY,",
    "so this migration runs a plain CREATE INDEX: it holds a SHARE lock on every partition (writes wait)",
    "while it builds; run it when writes can wait, or build it per partition CONCURRENTLY and ATTACH.",
    "CAUTION: the CREATE also ATTACHES any existing matching index of a partition to the new index, and",
    "the down step's DROP INDEX then drops those attached partition indexes too.",
]


def header_lines(rec: Recommendation, info: RunInfo) -> list[str]:
    """The "why" of a migration, one line each; every line passes through :func:`clean_line`."""
    return [clean_line(redact.output(line)) for line in _header_lines(rec, info)]


def _header_lines(rec: Recommendation, info: RunInfo) -> list[str]:
    lines = [f"qprof {info.version} index advice, {info.date}", f"target: {info.target}"]
    if rec.kind == "drop":
        lines.append(f"drops index {rec.name} on {rec.candidate.qualified_table}: {rec.reason or ''}")
        lines.append(f"size: {_fmt_bytes(rec.size_bytes)}; the down step recreates it from pg_get_indexdef")
        if rec.partitioned:
            lines.append("partitioned index: dropped and recreated without CONCURRENTLY (PostgreSQL allows no other way)")
        return lines
    covering = f" INCLUDE ({', '.join(rec.candidate.include)}) (covering: index-only scans)" if rec.candidate.include else ""
    lines.append(f"index on {rec.candidate.qualified_table} ({', '.join(rec.candidate.columns)}){covering}")
    if rec.partitioned:
        lines.extend(PARTITIONED_NOTE)
    lines.append(f"estimated with: {info.whatif_method} ({info.cost_unit})")
    size = f"size: {_fmt_bytes(rec.size_bytes)} estimated ({rec.size_source})"
    if rec.real_size_bytes is not None:
        size += f"; {_fmt_bytes(rec.real_size_bytes)} measured (pg_relation_size)"
    lines.append(size)
    if rec.build_ms is not None:
        lines.append(f"build time (verification): {rec.build_ms:,.0f} ms")
    unit = "ms (the writes that update it, measured)" if info.cost_unit.startswith("ms") else "cost units"
    overhead = f"write overhead: ~{rec.write_overhead:,.0f} {unit} over the workload period"
    if rec.hot_columns:
        overhead += f"; indexes UPDATEd column(s) {', '.join(rec.hot_columns)} (those updates stop being HOT)"
    lines.append(overhead)
    lines.append(f"statements helped ({len(rec.statements)}):")
    for ev in rec.statements:
        ident = f"queryid {ev.queryid}" if ev.queryid else (ev.name or ev.key)
        lines.append(f"  - {ident}, calls {ev.calls}: {one_line(ev.text, 160)}")
        cost = f"    est. cost {ev.cost_before:,.1f} -> {ev.cost_after:,.1f}" if ev.cost_before is not None and ev.cost_after is not None else "    est. cost ?"
        lines.append(cost)
        if ev.ms_before is not None and ev.ms_after is not None:
            speed = f" ({ev.ms_before / ev.ms_after:,.1f}x)" if ev.ms_after else ""
            lines.append(
                f"    measured median {ev.ms_before:,.3f} ms -> {ev.ms_after:,.3f} ms{speed}, p95 {ev.p95_before or 0:,.3f} -> {ev.p95_after or 0:,.3f} ms"
            )
            lines.append(
                f"    ({ev.runs or '?'} runs each, one statement at a time, with the whole set; params {one_line(repr(_jsonable(ev.params) or []), 100)})"
            )
    if rec.net_ms_saved is not None:
        lines.append(f"measured marginal gain (the set without it vs the set): {rec.net_ms_saved:,.2f} ms over the workload's calls")
    return lines


# -- file writers ----------------------------------------------------------------------------------
def _comment(lines: Sequence[str], prefix: str) -> str:
    return "\n".join(f"{prefix} {line}".rstrip() for line in lines) + "\n"


def _slug(recs: Sequence[Recommendation]) -> str:
    """For file names: a drop's index name comes from the catalog and may hold anything."""
    if len(recs) == 1:
        name = re.sub(r"[^0-9A-Za-z_]+", "_", recs[0].name).strip("_")[:80] or "index"
        return ("add_" if recs[0].kind == "create" else "drop_") + name
    return "qprof_indexes"


# dbmate splits a file at these lines, wherever they are (it does not parse SQL)
_DBMATE_MARKER = re.compile(r"^--\s*migrate:", re.MULTILINE)
_QUOTED = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]""")


def unsafe_in_file(rec: Recommendation, fmt: str) -> str | None:
    """Why a statement cannot go into a line-oriented migration file (sql: dbmate, flyway), if so.

    PostgreSQL statements are always one line (names with control characters are ``U&"…"``
    escapes); SQLite has no such escape, so a name holding a line break would carry the rest of
    the name onto lines of their own — where dbmate would read ``-- migrate:down`` as a marker."""
    if fmt not in ("sql", "flyway"):
        return None  # Python files hold the statement as a string literal
    from qprof.advise.ddl import needs_escape

    for statement in (rec.ddl, rec.drop_ddl):
        if _DBMATE_MARKER.search(statement) or any(needs_escape(token) for token in _QUOTED.findall(statement)):
            return (
                f"{rec.name}: a name in its DDL holds a line break or control character, which a {fmt} migration "
                "file cannot carry safely; use --migration-format alembic or django for it"
            )
    return None


def refusal_notes(recs: Sequence[Recommendation], fmt: str) -> list[str]:
    """One note per statement write_migrations leaves out of a ``fmt`` file, with the reason."""
    return [why for rec in recs if (why := unsafe_in_file(rec, fmt))]


def _revision(recs: Sequence[Recommendation]) -> str:
    return hashlib.sha1("|".join(r.ddl for r in recs).encode()).hexdigest()[:12]


def sql_usage(engine: str) -> list[str]:
    """How to run a dbmate-style file: running all of it would create the index and drop it again."""
    client = "sqlite3 DB.sqlite" if engine == "sqlite" else "psql -X -v ON_ERROR_STOP=1 -d DB"
    return [
        "dbmate-style migration: '-- migrate:up' creates, '-- migrate:down' undoes. Do NOT run the whole",
        (f"file with {'sqlite3' if engine == 'sqlite' else 'psql -f'} (it would create the index and drop it again). Apply it with dbmate, or run only"),
        f"the up part:  sed '/^-- migrate:down/,$d' FILE | {client}",
    ]


def _sql_file(recs: Sequence[Recommendation], info: RunInfo) -> str:
    out = [_comment(sql_usage(info.engine), "--")]
    for rec in recs:
        out.append(_comment(header_lines(rec, info), "--"))
    out.append("-- CONCURRENTLY cannot run inside a transaction block: run this file without one.\n" if info.engine != "sqlite" else "")
    out.append("-- migrate:up transaction:false\n" + "".join(r.ddl + "\n" for r in recs))
    out.append("\n-- migrate:down transaction:false\n" + "".join(r.drop_ddl + "\n" for r in reversed(recs)))
    return "".join(out)


def _py_string(text: str) -> str:
    return repr(text)


def _alembic_file(recs: Sequence[Recommendation], info: RunInfo, revision: str, down: str | None) -> str:
    # The evidence goes in # comments (cleaned lines), never inside the docstring: statement text
    # with \"\"\" or a backslash would end the string or escape into invalid Python.
    lines = header_lines(recs[0], info) if len(recs) == 1 else [line for r in recs for line in [*header_lines(r, info), ""]]
    header = _comment(lines, "#")
    docstring = _py_string(f"{_slug(recs)}\n\nRevision ID: {revision}\nRevises: {down or ''}\n")
    ups = "\n".join(f"        op.execute({_py_string(r.ddl)})" for r in recs)
    downs = "\n".join(f"        op.execute({_py_string(r.drop_ddl)})" for r in reversed(recs))
    return (
        f"{docstring}\n{header}"
        "from alembic import op\n\n"
        f"revision = {revision!r}\n"
        f"down_revision = {down!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        "    # CONCURRENTLY cannot run inside a transaction block\n"
        "    with op.get_context().autocommit_block():\n"
        f"{ups}\n\n\n"
        "def downgrade() -> None:\n"
        "    with op.get_context().autocommit_block():\n"
        f"{downs}\n"
    )


def _flyway_file(recs: Sequence[Recommendation], info: RunInfo) -> str:
    header = "".join(_comment(header_lines(r, info), "--") for r in recs)
    if info.engine != "sqlite":
        header += _comment(["non-transactional (see the .sql.conf beside it): CONCURRENTLY cannot run in a transaction"], "--")
    return header + "".join(r.ddl + "\n" for r in recs)


def _django_file(recs: Sequence[Recommendation], info: RunInfo) -> str:
    header = _comment([line for r in recs for line in header_lines(r, info)], "#")
    operations = "\n".join(
        f"        migrations.RunSQL(\n            sql={_py_string(r.ddl)},\n            reverse_sql={_py_string(r.drop_ddl)},\n        )," for r in recs
    )
    return (
        f"{header}"
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        "    # CONCURRENTLY cannot run inside a transaction block\n"
        "    atomic = False\n\n"
        '    dependencies = [\n        # ("your_app", "0001_initial"),  set to this app\'s latest migration\n    ]\n\n'
        "    operations = [\n"
        f"{operations}\n"
        "    ]\n"
    )


_NUMBERED = {"sql": re.compile(r"^(\d+)_.*\.sql$"), "django": re.compile(r"^(\d+)_.*\.py$")}
_EXISTING_GLOB = {"sql": "*.sql", "alembic": "*.py", "flyway": "V*.sql", "django": "*.py"}


def _existing_files(out_dir: Path, fmt: str) -> dict[Path, str]:
    """Migration files of this format already in the folder, with their text."""
    found = {}
    for path in sorted(out_dir.glob(_EXISTING_GLOB[fmt])):
        try:
            found[path] = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return found


def _already_written(rec: Recommendation, existing: dict[Path, str]) -> Path | None:
    """The file that already holds this index's up step with identical DDL, if any."""
    for path, text in existing.items():
        if rec.ddl in text or _py_string(rec.ddl) in text:
            return path
    return None


def _next_number(out_dir: Path, fmt: str, existing: dict[Path, str]) -> int:
    """Continue after the highest number already used in the folder (sql: 001_…, django: 0001_…)."""
    pattern = _NUMBERED.get(fmt)
    numbers = [int(m.group(1)) for path in existing if pattern and (m := pattern.match(path.name))]
    if fmt == "flyway":
        numbers = [int(m.group(1)) for path in existing if (m := re.match(r"^V\d+_(\d+)__", path.name))]
    return max(numbers, default=0) + 1


def _alembic_head(existing: dict[Path, str]) -> str | None:
    """The newest revision among the folder's alembic files (one nothing revises), to chain after."""
    revisions, downs = [], set()
    for text in existing.values():
        rev = re.search(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
        down = re.search(r"^down_revision\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
        if rev:
            revisions.append(rev.group(1))
        if down:
            downs.add(down.group(1))
    heads = [r for r in revisions if r not in downs]
    return heads[-1] if len(heads) == 1 else None


def write_migrations(
    recs: Sequence[Recommendation],
    out_dir: Path,
    fmt: str,
    info: RunInfo,
    *,
    single_file: bool = False,
    alembic_down_revision: str | None = None,
    skipped: list[tuple[Recommendation, Path]] | None = None,
    refreshed: list[Path] | None = None,
) -> list[Path]:
    """Write the files; each Recommendation's ``file`` is set to the path that holds it.

    Running again into the same folder continues the numbering after the highest existing
    number and never overwrites a file; an index whose migration is already there with
    identical DDL is not written again (it is appended to ``skipped`` with that file) — except
    that a ``--verify`` run rewrites that file's header with its measurements (the file is
    appended to ``refreshed``) when nothing but the header comments differs.
    """
    if fmt not in FORMATS:
        raise QprofError(f"unknown migration format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    if not recs:
        return []
    ensure_writable(out_dir)
    existing = _existing_files(out_dir, fmt)
    fresh = []
    holders: dict[Path, list[Recommendation]] = {}
    for rec in recs:
        if unsafe_in_file(rec, fmt):
            continue  # never written: refusal_notes() says why
        found = _already_written(rec, existing)
        if found is not None:
            rec.file = str(found)
            holders.setdefault(found, []).append(rec)
            if skipped is not None:
                skipped.append((rec, found))
        else:
            fresh.append(rec)
    for path, group in holders.items():
        refresh = any(_measured(rec) for rec in group) and _refresh_header(path, group, existing[path], fmt, info)
        if refresh and refreshed is not None:
            refreshed.append(path)
    if not fresh:
        return []
    groups: list[list[Recommendation]] = [fresh] if single_file else [[r] for r in fresh]
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    written: list[Path] = []
    down = alembic_down_revision or (_alembic_head(existing) if fmt == "alembic" else None)
    number = _next_number(out_dir, fmt, existing)
    try:
        for group in groups:
            slug = _slug(group)
            attempt = 0
            while True:  # never overwrite: a taken number (or revision) moves on to the next
                if fmt == "sql":
                    path = out_dir / f"{number:03d}_{slug}.sql"
                elif fmt == "alembic":
                    revision = _revision(group) if not attempt else f"{_revision(group)[:9]}{attempt:03x}"
                    path = out_dir / f"{revision}_{slug}.py"
                elif fmt == "flyway":
                    version = f"{stamp}_{number}"
                    path = out_dir / f"V{version}__{slug}.sql"
                else:
                    path = out_dir / f"{number:04d}_{slug}.py"
                if not path.exists():
                    break
                number += 1
                attempt += 1
            if fmt == "sql":
                _create(path, _sql_file(group, info))
            elif fmt == "alembic":
                _create(path, _alembic_file(group, info, revision, down))
                down = revision
            elif fmt == "flyway":
                _create(path, _flyway_file(group, info))
                _create(out_dir / f"V{version}__{slug}.sql.conf", "executeInTransaction=false\n")
                _create(
                    out_dir / f"U{version}__{slug}.sql",
                    "-- undo of " + clean_line(path.name) + "\n" + "".join(r.drop_ddl + "\n" for r in reversed(group)),
                )
                _create(out_dir / f"U{version}__{slug}.sql.conf", "executeInTransaction=false\n")
            else:
                _create(path, _django_file(group, info))
            number += 1
            for rec in group:
                rec.file = str(path)
            written.append(path)
    except OSError as exc:
        raise QprofError(f"cannot write migrations to {out_dir}: {exc.strerror or exc}") from None
    return written


def _measured(rec: Recommendation) -> bool:
    return any(ev.ms_before is not None for ev in (*rec.statements, *rec.others))


def _refresh_header(path: Path, group: list[Recommendation], text: str, fmt: str, info: RunInfo) -> bool:
    """Rewrite an existing migration with the measured header, only when everything but the header
    comments comes out byte-identical (same DDL, same revision chain, no edits of the user's)."""
    group = sorted(group, key=lambda rec: text.find(rec.ddl) if rec.ddl in text else text.find(_py_string(rec.ddl)))
    if fmt == "sql":
        new = _sql_file(group, info)
    elif fmt == "flyway":
        new = _flyway_file(group, info)
    elif fmt == "django":
        new = _django_file(group, info)
    else:
        revision = re.search(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
        down = re.search(r"^down_revision\s*=\s*(?:['\"]([^'\"]+)['\"]|None)", text, re.MULTILINE)
        if revision is None or down is None:
            return False
        new = _alembic_file(group, info, revision.group(1), down.group(1))
    prefix = "--" if fmt in ("sql", "flyway") else "#"

    def body(content: str) -> list[str]:
        return [line for line in content.splitlines() if not line.startswith(prefix)]

    if new == text or body(new) != body(text):
        return False
    temporary = path.with_name(f".{path.name}.qprof-tmp")
    try:
        temporary.write_text(new, encoding="utf-8")
        temporary.replace(path)  # atomic: a reader sees the old file or the new one
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise QprofError(f"cannot rewrite {path}: {exc.strerror or exc}") from None
    return True


def _create(path: Path, text: str) -> None:
    """Write a new file; an existing one is never overwritten (FileExistsError is an OSError)."""
    with path.open("x", encoding="utf-8") as handle:
        handle.write(text)


def ensure_writable(out_dir: Path) -> None:
    """Create the folder and prove we can write there, before any work is done."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".qprof-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise QprofError(
            f"cannot write migrations to {out_dir}: {exc.strerror or exc}",
            hint="choose another folder with --out DIR",
        ) from None


@dataclass
class WrittenAdvice:
    """What :func:`write_advice` left in the folder, and what it did not write again."""

    files: list[Path]
    unchanged: list[tuple[Recommendation, Path]]  # migration already there with identical DDL
    refreshed: list[Path]  # of those, files whose header a --verify run rewrote with its measurements


def write_advice(
    recs: Sequence[Recommendation],
    drops: Sequence[Recommendation],
    out_dir: Path,
    fmt: str,
    info: RunInfo,
    *,
    single_file: bool = False,
    alembic_down_revision: str | None = None,
) -> WrittenAdvice:
    """The migrations of one ``advise`` run: the new indexes into ``out_dir``, the drops into
    ``out_dir/drops`` (into ``out_dir`` itself when there is no new index)."""
    unchanged: list[tuple[Recommendation, Path]] = []
    refreshed: list[Path] = []
    files = write_migrations(
        recs, out_dir, fmt, info, single_file=single_file, alembic_down_revision=alembic_down_revision, skipped=unchanged, refreshed=refreshed
    )
    if drops:
        files += write_migrations(drops, out_dir / "drops" if recs else out_dir, fmt, info, single_file=single_file, skipped=unchanged)
    return WrittenAdvice(list(files), unchanged, refreshed)


# "-- index on public.orders (customer_id, created_at DESC) INCLUDE (…)" in a migration's header
# (sql and flyway files comment with --, alembic and django files with #)
_HEADER_INDEX = re.compile(r"^\s*(?:--|#)\s*index on (\S+) \(([^)]*)\)(?: INCLUDE \(([^)]*)\))?", re.M)


def superseded_migrations(recs: Sequence[Recommendation], out_dir: Path, fmt: str, keep: Sequence[Path]) -> list[tuple[Path, Recommendation]]:
    """Migrations an earlier ``advise`` run left in ``out_dir`` whose index a recommendation of this
    run makes redundant: the same table, and its key columns a prefix of the new index's keys (a
    B-tree serves every leading prefix of its keys, so the new one does all the old one did).
    Applying both would build an index nobody needs; qprof never deletes a user's files, it says so."""
    if not out_dir.is_dir():
        return []
    keep = {path.resolve() for path in keep}
    found = []
    for path, text in _existing_files(out_dir, fmt).items():
        if path.resolve() in keep or "index advice" not in text:
            continue
        match = _HEADER_INDEX.search(text)
        if match is None:
            continue
        table, old_keys = match.group(1), [key.strip() for key in match.group(2).split(",")]
        old_include = {column.strip() for column in (match.group(3) or "").split(",") if column.strip()}
        for rec in recs:
            new_keys = list(rec.candidate.columns)
            covered = {key.split()[0] for key in new_keys} | set(rec.candidate.include)
            if (
                rec.kind != "drop"
                and rec.candidate.qualified_table == table
                and len(old_keys) <= len(new_keys)
                and new_keys[: len(old_keys)] == old_keys
                and old_include <= covered
            ):  # what the old one read without the table, the new one reads too
                found.append((path, rec))
                break
    return found
