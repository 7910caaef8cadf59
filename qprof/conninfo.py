"""Turn what the user typed (or left out) into a connection target, the way psql does.

Precedence: ``-d/--dbname/--db``, then ``--profile``, then ``$QPROF_DB``, then an empty conninfo so
that libpq's PG* variables, ``~/.pgpass`` and ``service=`` apply unchanged.

psql's flags combine with that as in psql (:func:`combine`): ``-h/--host``, ``-p/--port``,
``-U/--username`` and a plain database name given to ``-d`` replace those parts of a profile or
``$QPROF_DB`` (like a service file); a full conninfo or URI given to ``-d`` wins over ``-h/-p/-U``,
which only fill in what it leaves out — ``psql -h a "host=b"`` connects to b. A profile or
``$QPROF_DB`` naming a SQLite file is no default for a PostgreSQL server: -h/-p/-U or -d NAME over it
start from libpq's defaults instead. Secrets are never
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


@dataclass(frozen=True)
class ConnectionOptions:
    """psql's connection flags as typed: ``-d`` (a database name, a conninfo/URI or a SQLite file),
    ``-h``, ``-p`` and ``-U``; :func:`resolve_target` combines them with a profile and $QPROF_DB."""

    db: str | None = None
    host: str | None = None
    port: str | None = None
    user: str | None = None

    def __bool__(self) -> bool:  # "did the user name a database at all" (history --target lookups)
        return any((self.db, self.host, self.port, self.user))

    def server_parts(self) -> dict[str, str]:
        """The libpq keywords -h/-p/-U set."""
        return {key: value for key, value in (("host", self.host), ("port", self.port), ("user", self.user)) if value}


DbArgument = str | ConnectionOptions | None  # what commands hand on: --db as typed, or with -h/-p/-U


def check_port(text: str) -> str:
    """A TCP port (or libpq's comma-separated list for several hosts), else BadInput."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() and 0 < int(part) < 65536 for part in parts):
        raise BadInput(f"invalid port {text!r}: use a number from 1 to 65535 (comma-separated for several hosts)")
    return ",".join(parts)


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


def is_sqlite(text: str, server_flags: bool = False) -> bool:
    """Whether ``text`` names a SQLite file — the rule --db's help states, so a user can predict it:

    ``sqlite:…``, or a value with a ``/`` (or starting with ``~``) — always; with no -h/-p/-U also an
    existing regular file or a name ending in a SQLite suffix. Anything else (a folder too) is a
    PostgreSQL database name, as psql's -d takes it; a URI or ``key=value`` conninfo is PostgreSQL.
    """
    text = text.strip()
    if text.startswith("sqlite:"):
        return True
    if text.startswith(("postgresql://", "postgres://")) or ("=" in text and not Path(text).is_file()):
        return False
    if _looks_like_path(text):
        return True
    if server_flags:  # psql -h H -d NAME: NAME is a database on H, whatever lies in the current folder
        return False
    path = Path(text)
    return path.is_file() or path.suffix.lower() in SQLITE_SUFFIXES


def parse_target(text: str, source: str = "--db", server_flags: bool = False) -> TargetSpec:
    """Classify one connection string (see :func:`is_sqlite`): PostgreSQL URI, DSN or database name,
    ``sqlite:///path`` or a SQLite file."""
    text = text.strip()
    if not text:
        raise BadInput(
            "empty database name",
            hint="give a PostgreSQL database name, URI (postgresql://user@host/db) or key=value DSN "
            "(host=… dbname=…), sqlite:///path or the path of a SQLite file",
        )
    sqlite = is_sqlite(text, server_flags)
    if sqlite and text.startswith("sqlite:"):
        parts = urlsplit(text)
        raw = unquote(parts.path)
        # sqlite:///rel.db → "rel.db"; sqlite:////abs.db → "/abs.db" (SQLAlchemy's convention)
        path = raw.removeprefix("/")
        if not path:
            raise BadInput(f"{text!r} names no file", hint="use sqlite:///path/to/file.sqlite")
        return _sqlite_spec(Path(path), source)
    if sqlite:
        return _sqlite_spec(Path(text).expanduser(), source)
    if _is_conninfo(text):
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
    from psycopg.conninfo import make_conninfo

    return TargetSpec("postgresql", conninfo=make_conninfo("", dbname=text), source=source)  # psql -d NAME


def _looks_like_path(text: str) -> bool:
    """A folder in it, or ~/./..: a file the user means, even one that does not exist (yet)."""
    return "/" in text or text.startswith(("~", "."))


def resolve_target(db: DbArgument, profile: str | None, config: Config) -> TargetSpec:
    """Apply the precedence rules and psql's flags; see the module docstring."""
    redact.remember([os.environ.get("PGPASSWORD")])  # libpq's own variable: scrubbed like the rest
    flags = db if isinstance(db, ConnectionOptions) else ConnectionOptions(db=db)
    if not flags.db:
        return combine(_base_target(profile, config, flags), flags)
    given = parse_target(flags.db, "--db", server_flags=bool(flags.server_parts()))
    if given.engine == "postgresql" and not _is_conninfo(flags.db):  # -d NAME: one part, like -h
        return combine(_base_target(profile, config, flags), flags, dbname=flags.db.strip())
    return combine(given, flags)


def _is_conninfo(text: str) -> bool:
    return text.strip().startswith(("postgresql://", "postgres://")) or "=" in text


def combine(base: TargetSpec, flags: ConnectionOptions, dbname: str | None = None) -> TargetSpec:
    """``base`` with psql's -h/-p/-U (and a -d NAME) applied; see the module docstring."""
    parts = flags.server_parts() | ({"dbname": dbname} if dbname else {})
    if not parts:
        return base
    named = ", ".join(_FLAG[key] for key in parts)
    if base.engine != "postgresql":
        raise BadInput(
            f"{named} {'names' if len(parts) == 1 else 'name'} a PostgreSQL server, but {base.source} is a SQLite file ({base.path})",
            hint="drop those flags, or give the PostgreSQL database with -d/--db",
        )
    from psycopg.conninfo import make_conninfo

    current = conninfo_to_dict(base.conninfo)
    if base.source == "--db":  # psql: the conninfo given to -d wins, the flags fill its gaps
        merged = parts | current
    else:  # a profile or $QPROF_DB is a default the flags override, like a service file
        merged = current | parts
    return TargetSpec("postgresql", conninfo=make_conninfo("", **merged), source=f"{base.source} with {named}")


_FLAG = {"host": "-h/--host", "port": "-p/--port", "user": "-U/--username", "dbname": "-d/--dbname"}


def _base_target(profile: str | None, config: Config, flags: ConnectionOptions | None = None) -> TargetSpec:
    """What names the database when -d does not: a profile, $QPROF_DB or libpq's defaults.

    With psql's flags given, a SQLite profile or $QPROF_DB (even a missing file) is not looked at:
    the flags name a PostgreSQL server, and libpq's defaults fill the rest."""
    explicit = bool(flags) and (flags.db or flags.server_parts())
    if profile:
        settings = config.profile(profile)
        value = settings.get("db")
        if not value:
            raise BadInput(f'profile {profile!r} in {config.path} has no db = "…" entry')
        if not (explicit and is_sqlite(str(value))):
            return parse_target(str(value), f"profile {profile}")
    else:
        env = os.environ.get("QPROF_DB")
        if env and not (explicit and is_sqlite(env)):
            return parse_target(env, "QPROF_DB")
    return TargetSpec("postgresql", conninfo="", source="libpq defaults")
