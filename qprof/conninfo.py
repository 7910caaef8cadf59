"""Turn what the user typed (or left out) into a connection target, the way psql does.

Precedence: ``--db``, then ``--profile``, then ``$QPROF_DB``, then an empty conninfo so that
libpq's PG* variables, ``~/.pgpass`` and ``service=`` apply unchanged. Secrets are never
printed: :func:`qprof.redact.conninfo` is what every message and report shows, and every secret
value parsed here is remembered so that the output sinks scrub it wherever it appears.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from qprof import redact
from qprof.config import Config
from qprof.errors import BadInput

SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db", ".db3")
_QUOTED = re.compile(r'"[^"]*"')


@dataclass(frozen=True)
class TargetSpec:
    """Which engine to open and how: a libpq conninfo or a SQLite file path."""

    engine: str  # "postgresql" | "sqlite"
    conninfo: str = ""
    path: Path | None = None
    source: str = "default"  # where it came from: --db, --profile NAME, QPROF_DB, libpq defaults

    def describe(self) -> str:
        if self.engine == "sqlite":
            return f"sqlite {self.path}"
        return f"postgresql {redact.conninfo(self.conninfo) or '(libpq defaults)'}"


def conninfo_to_dict(conninfo: str) -> dict:
    """libpq's own parser (imported on use: commands that never connect start faster)."""
    from psycopg.conninfo import conninfo_to_dict as parse

    return parse(conninfo)


def _sqlite_spec(path: Path, source: str) -> TargetSpec:
    if not path.exists():
        raise BadInput(f"SQLite file {path} does not exist")
    if path.is_dir():
        raise BadInput(f"{path} is a folder, not a SQLite file")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None
    if header != SQLITE_MAGIC and path.stat().st_size > 0:
        raise BadInput(f"{path} is not a SQLite database (corrupt or another file type)")
    return TargetSpec("sqlite", path=path, source=source)


def parse_target(text: str, source: str = "--db") -> TargetSpec:
    """Classify one connection string: PostgreSQL URI or DSN, ``sqlite:///path`` or a file path."""
    text = text.strip()
    if text.startswith("sqlite:"):
        parts = urlsplit(text)
        raw = unquote(parts.path)
        # sqlite:///rel.db → "rel.db"; sqlite:////abs.db → "/abs.db" (SQLAlchemy's convention)
        path = raw.removeprefix("/")
        if not path:
            raise BadInput(f"{text!r} names no file", hint="use sqlite:///path/to/file.sqlite")
        return _sqlite_spec(Path(path), source)
    if text.startswith(("postgresql://", "postgres://")) or ("=" in text and not Path(text).exists()):
        redact.remember_conninfo(text)
        import psycopg

        try:
            conninfo_to_dict(text)
        except psycopg.Error as exc:
            message = str(exc).splitlines()[0] if str(exc) else "invalid"
            # libpq quotes the token it rejects (or the whole URI), which may hold the password
            # or a piece of it that no pattern recognises: quoted words never reach the output
            message = _QUOTED.sub(lambda m: '"…"' if any(c.isalnum() for c in m.group()) else m.group(), message)
            raise BadInput(
                f"invalid PostgreSQL connection string: {message}",
                hint="use key=value pairs (values with spaces in single quotes) or a postgresql:// URI "
                "(percent-encode special characters in the password: %40 for @)",
            ) from None
        return TargetSpec("postgresql", conninfo=text, source=source)
    path = Path(text).expanduser()
    if path.exists() or path.suffix.lower() in SQLITE_SUFFIXES:
        return _sqlite_spec(path, source)
    raise BadInput(
        f"cannot tell what database {text!r} is",
        hint="give a PostgreSQL URI (postgresql://user@host/db), a key=value DSN "
        "(host=… dbname=…), sqlite:///path or the path of an existing SQLite file",
    )


def resolve_target(db: str | None, profile: str | None, config: Config) -> TargetSpec:
    """Apply the precedence rules; see the module docstring."""
    redact.remember([os.environ.get("PGPASSWORD")])  # libpq's own variable: scrubbed like the rest
    if db:
        return parse_target(db, "--db")
    if profile:
        settings = config.profile(profile)
        value = settings.get("db")
        if not value:
            raise BadInput(f"profile {profile!r} in {config.path} has no db = \"…\" entry")
        return parse_target(str(value), f"profile {profile}")
    env = os.environ.get("QPROF_DB")
    if env:
        return parse_target(env, "QPROF_DB")
    return TargetSpec("postgresql", conninfo="", source="libpq defaults")
