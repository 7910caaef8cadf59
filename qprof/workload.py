"""Workloads: named SQL statements read from files (``queries/*.sql``) or given inline.

File format, one block per statement::

    -- name: orders_by_customer
    -- params: [42]           (sample values for $1..$n, a JSON array)
    -- calls: 1200            (weight: how often the application runs it)
    -- qprof: ignore QP101    (silence rules for this statement)
    SELECT … WHERE customer_id = $1;

Files without ``-- name:`` markers are split on semicolons and named ``<file>_<n>``.
``path.sql:name`` selects one statement.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from qprof.errors import BadInput
from qprof.inputfiles import is_regular, require_regular

_MARKER = re.compile(r"^\s*--\s*(name|params|calls|qprof)\s*:\s*(.*?)\s*$", re.IGNORECASE)


@dataclass
class WorkloadStatement:
    """One statement of a workload with the sample values and weight its file gave it."""

    name: str
    sql: str
    params: list = field(default_factory=list)
    calls: int = 1
    source: str = ""  # file:line, for messages
    ignore: set[str] = field(default_factory=set)  # rule codes silenced by "-- qprof: ignore"


@dataclass
class _Block:
    name: str | None
    line: int
    params: list = field(default_factory=list)
    calls: int = 1
    ignore: set[str] = field(default_factory=set)
    body: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # the file line of each body line


_GAP = re.compile(r"(?:\s|;|--[^\n]*)*")


def _split_with_scanner(text: str) -> list[str] | None:
    """PostgreSQL's own scanner (pglast, C) splits megabytes in well under a second, where
    sqlglot's Python tokenizer takes minutes; None when its pieces would not cover every
    statement (SQLite's `quotes`, an unbalanced bracket), and sqlglot decides instead."""
    if "`" in text:
        return None
    from pglast.parser import ParseError, split

    try:
        slices = split(text, with_parser=False, only_slices=True)
    except (ParseError, ValueError):
        return None
    cursor = 0
    for piece in (*slices, slice(len(text), len(text))):
        if not _GAP.fullmatch(text, cursor, piece.start):
            return None
        cursor = piece.stop
    return [text[piece] for piece in slices]


def split_statements(text: str) -> list[str]:
    """Split SQL on top-level semicolons (the tokenizer knows strings, comments and $$ bodies).

    ``IN ($1,$2)`` is spaced first (``$1, $2``): sqlglot's tokenizer rejects ``$1,$2``, which
    would otherwise reject the whole file.
    """
    from qprof.pgtext import space_placeholders

    text = space_placeholders(text)
    pieces = _split_with_scanner(text)
    if pieces is None:
        import sqlglot  # only when the fast scanner gives up: ~60 ms to import
        from sqlglot.errors import TokenError
        from sqlglot.tokens import TokenType

        try:
            tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(text)
        except TokenError as exc:
            raise BadInput(f"cannot tokenize SQL: {exc}") from None
        pieces, start = [], 0
        for token in tokens:
            if token.token_type == TokenType.SEMICOLON:
                pieces.append(text[start : token.start])
                start = token.end + 1
        pieces.append(text[start:])
    return [_without_leading_comments(piece) for piece in pieces if _has_code(piece)]


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("--")


def _has_code(piece: str) -> bool:
    return any(_is_code(line) for line in piece.splitlines())


def _without_leading_comments(piece: str) -> str:
    lines = piece.strip().splitlines()
    while lines and not _is_code(lines[0]):
        lines.pop(0)
    return "\n".join(lines).strip()


def _apply_marker(block: _Block, key: str, value: str, where: str) -> None:
    if key == "params":
        try:
            params = json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{where}: -- params: is not a JSON array ({exc.msg})") from None
        if not isinstance(params, list):
            raise BadInput(f'{where}: -- params: must be a JSON array, e.g. [42, "active"]')
        block.params = params
    elif key == "calls":
        if re.fullmatch(r"[0-9]{1,18}", value) is None:  # ASCII digits only: int() takes '١٢', not '²'
            raise BadInput(f"{where}: -- calls: must be a whole number, got {value!r}")
        block.calls = int(value)
    elif key == "qprof":
        words = value.replace(",", " ").split()
        if words and words[0].lower() == "ignore":
            block.ignore |= {code.upper() for code in words[1:]}


def parse_workload_text(text: str, origin: str = "<sql>") -> list[WorkloadStatement]:
    """Statements of one workload file's text; ``origin`` names the file in names and messages."""
    stem = Path(origin).stem if origin != "<sql>" else "sql"
    blocks: list[_Block] = [_Block(None, 1)]
    for number, line in enumerate(text.splitlines(), start=1):
        match = _MARKER.match(line)
        if match is None:
            blocks[-1].body.append(line)
            blocks[-1].numbers.append(number)
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key == "name":
            last = blocks[-1]
            if last.name is None and not any(_is_code(body_line) for body_line in last.body):
                # ``-- calls: 1000`` then ``-- name: upd``: the markers above the name belong to it too
                last.name, last.line = value, number
            else:
                blocks.append(_Block(value, number))
        else:
            if any(_is_code(body_line) for body_line in blocks[-1].body):
                # a marker after a statement belongs to the next one (``-- calls: 1000`` UPDATE …;
                # ``-- calls: 2`` SELECT …;), never back to the one above it
                blocks.append(_Block(None, number))
            _apply_marker(blocks[-1], key, value, f"{origin}:{number}")
    statements: list[WorkloadStatement] = []
    for block in blocks:
        sqls = split_statements("\n".join(block.body))
        lines = _statement_lines(block, sqls)
        for position, (sql, line) in enumerate(zip(sqls, lines, strict=True), start=1):
            if block.name:
                name = block.name if position == 1 else f"{block.name}_{position}"
            else:
                name = f"{stem}_{len(statements) + 1}"
            statements.append(WorkloadStatement(name, sql, list(block.params), block.calls, f"{origin}:{line}", set(block.ignore)))
    names = [s.name for s in statements]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BadInput(f"{origin}: statement names used twice: {', '.join(duplicates)}")
    return statements


def _statement_lines(block: _Block, sqls: list[str]) -> list[int]:
    """The file line each statement starts on (code scanning points there): its first line found in
    the block's body, from where the previous one ended; spaces ignored (split_statements adds some)."""
    squeeze = "".join
    body = [squeeze(line.split()) for line in block.body]
    found, at = [], 0
    for sql in sqls:
        first = squeeze(sql.splitlines()[0].split()) if sql else ""
        start = next((i for i in range(at, len(body)) if first and first in body[i]), at)
        found.append(block.numbers[start] if start < len(block.numbers) else block.line)
        at = start + max(0, len(sql.splitlines()) - 1)
    return found


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.rglob("*.sql"))
    return [path]


def load_workload(spec: str | Path) -> list[WorkloadStatement]:
    """Statements from a file, a folder of ``*.sql`` files, or ``file.sql:name`` for one of them."""
    text = str(spec)
    selected: str | None = None
    path = Path(text)
    if not path.exists() and ":" in text:
        head, _, tail = text.rpartition(":")
        if Path(head).exists():
            path, selected = Path(head), tail
    if not path.exists():
        raise BadInput(f"workload {text!r} does not exist")
    statements: list[WorkloadStatement] = []
    files = _files(path)
    if not path.is_dir():
        require_regular(path, "workload", "save the statements to a .sql file first")
    else:  # a FIFO among a folder's files is skipped, the rest is read
        from qprof.output import warn

        skipped = [file for file in files if not is_regular(file)]
        for file in skipped:
            warn(f"workload {str(file)!r} skipped: not a regular file (a FIFO or device would block the read)")
        files = [file for file in files if file not in skipped]
    for file in files:
        try:
            content = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read workload file {file}: {exc}") from None
        statements.extend(parse_workload_text(content, str(file)))
    if selected is not None:
        chosen = [s for s in statements if s.name == selected]
        if not chosen:
            known = ", ".join(s.name for s in statements[:20])
            raise BadInput(f"no statement named {selected!r} in {path}", hint=f"known names: {known}")
        return chosen
    if not statements:
        raise BadInput(f"workload {text!r} holds no SQL statements")
    return statements
