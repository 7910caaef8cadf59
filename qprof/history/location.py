"""Where the history store lives: ``--store``, ``$QPROF_STORE``, ``store =`` in the config, or a
SQLite file under the user's data directory (``$XDG_DATA_HOME/qprof/history.db``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from qprof import redact
from qprof.config import Config
from qprof.errors import BadInput

if TYPE_CHECKING:  # SQLAlchemy is imported only when a store is opened: `qprof top` stays fast
    from sqlalchemy.engine import URL


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/qprof/history.db``, falling back to ``~/.local/share`` as the XDG spec says."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "qprof" / "history.db"


def resolve_store(store: str | None, config: Config | None = None) -> str:
    """The store the user meant, as a string (URL or path) not yet normalised."""
    if store:
        return store
    env = os.environ.get("QPROF_STORE")
    if env:
        return env
    if config is not None and config.settings.get("store"):
        return str(config.settings["store"])
    return str(default_store_path())


def store_url(text: str) -> URL:
    """A SQLAlchemy URL for ``text``: a URL as given (``postgresql://`` uses psycopg 3), or a file path."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    text = text.strip()
    if "://" not in text:
        path = Path(text).expanduser().resolve()
        return URL.create("sqlite", database=str(path))
    redact.remember_conninfo(text)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        # ValueError: a port that is not a number (":badport", an unclosed "[::1"); the message
        # is SQLAlchemy's, which may quote the URL: say what is wrong without quoting it
        if "[" in text and "]" not in text:
            reason = "the IPv6 host has no closing ]"
        elif "int()" in str(exc):
            reason = "the port is not a number"
        else:
            reason = "not a URL SQLAlchemy can read"
        raise BadInput(
            f"invalid store URL {describe_text(text)}: {reason}",
            hint="use a file path, sqlite:///path or postgresql://user@host:5432/db",
        ) from None
    if url.password:
        redact.remember([str(url.password)])
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise BadInput(
            f"unsupported history store {url.get_backend_name()!r}",
            hint="use a SQLite file (the default) or a postgresql:// URL",
        )
    # a driver qprof does not ship (postgresql+asyncpg, +psycopg2, sqlite+aiosqlite) would fail
    # at import deep inside SQLAlchemy: say so here, in one line
    if url.get_driver_name() not in ("psycopg", "pysqlite"):
        raise BadInput(
            f"unsupported history store driver {url.get_driver_name()!r} in {describe(url)}",
            hint="leave the driver out (postgresql://user@host/db or sqlite:///path): qprof uses psycopg 3 and sqlite3",
        )
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    return url


def describe(url: URL) -> str:
    """The store URL with any password hidden: safe for messages and reports."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite {url.database}"
    hidden = {key: redact.MASK for key in url.query if key.lower() in redact.SECRET_KEYS}
    shown = url.update_query_dict(hidden) if hidden else url
    return shown.render_as_string(hide_password=True).replace("%2A%2A%2A", redact.MASK)


def describe_text(text: str) -> str:
    """A store URL SQLAlchemy could not read, for a message: its secrets hidden by pattern."""
    return redact.text(text)
