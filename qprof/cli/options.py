"""Options every command shares (sqlite-utils style) and the error handling around commands."""

from __future__ import annotations

import functools
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any, TypeVar

import typer

from qprof.config import Config
from qprof.conninfo import ConnectionOptions, DbArgument, check_port
from qprof.errors import EXIT_INTERNAL, QprofError
from qprof.output import OutputFormat, console
from qprof.targets import Target

CONNECTION = "Connection"  # the help panel psql's flags and their qprof relatives share
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        "-d",
        "--dbname",
        help="Database, as psql's -d: a PostgreSQL database name, a postgresql://… URI or 'host=… dbname=…' "
        "conninfo; or a SQLite file: sqlite:///path, any value with a '/', and — without -h/-p/-U — "
        "an existing file or a name ending in .sqlite/.sqlite3/.db/.db3 (a folder is never a SQLite file). "
        "Default: --profile, then $QPROF_DB, then libpq's PG* variables. "
        "-h/-p/-U (and -d NAME) replace those parts of --profile/$QPROF_DB (over a SQLite one: libpq's defaults); "
        "a URI or conninfo given to -d wins over -h/-p/-U, as in psql.",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]


def _port(value: str | None) -> str | None:
    try:
        return None if value is None else check_port(value)
    except QprofError as exc:
        raise typer.BadParameter(exc.message) from None


_CONNECTION_FLAGS = {  # psql's flags; help stays --help only, so -h is the host as in psql
    "host": typer.Option(
        "--host", "-h", help="PostgreSQL server host or socket folder (see --db for precedence).", show_default=False, rich_help_panel=CONNECTION
    ),
    "port": typer.Option("--port", "-p", help="PostgreSQL server port.", callback=_port, show_default=False, rich_help_panel=CONNECTION),
    "username": typer.Option(
        "--username",
        "-U",
        help="PostgreSQL role to log in as (the password comes from ~/.pgpass, $PGPASSWORD or the URI; it is never printed).",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
}
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", "-P", help="Named profile from qprof.toml or \\[tool.qprof.profiles] in pyproject.toml.", rich_help_panel=CONNECTION),
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people; json/csv for scripts; markdown for PRs.")]


class MetricsFormat(str, Enum):
    """A listing's formats, and OpenMetrics text for Prometheus."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    prometheus = "prometheus"


MetricsFormatOption = Annotated[
    MetricsFormat,
    typer.Option(
        "--format", "-f", help="table for people; json/csv for scripts; markdown for PRs; prometheus: OpenMetrics text for node_exporter's textfile collector."
    ),
]


def emit_metrics(statements: Iterable[Mapping[str, Any]], scope: str) -> None:
    """``--format prometheus``: the statements' calls and times as OpenMetrics text on stdout."""
    import time

    from qprof.formats import prometheus
    from qprof.output import emit

    emit(prometheus.render(statements, scope=scope, generated_at=time.time()))


StatementTimeoutOption = Annotated[
    str,
    typer.Option(
        "--statement-timeout",
        help="Cancel any statement qprof runs after this long (e.g. 500ms, 30s, 2min).",
    ),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")]
AllowFunctionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-function",
        help="Execute statements calling this volatile function anyway (repeatable; schema.name: exactly that function; "
        "a bare name: the pg_catalog one or the one the search path reaches first). "
        "Without it, a statement calling anything that could act outside qprof's rolled-back transaction "
        "(setval, dblink, lo_*, pg_terminate_backend, unknown functions, …) is not executed: "
        "explain shows a plain EXPLAIN, bench and top --workload skip it.",
        show_default=False,
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(function: F) -> F:
    """Give a command with a ``db`` option psql's -h/--host, -p/--port and -U/--username, right after it.

    The command body stays as it was: when any of them is given, its ``db`` argument arrives as a
    :class:`qprof.conninfo.ConnectionOptions` carrying them, which :func:`connect` (and
    :func:`qprof.conninfo.resolve_target`) combine the way psql does.
    """
    signature = inspect.signature(function, eval_str=True)
    params = list(signature.parameters.values())
    at = [p.name for p in params].index("db") + 1
    added = [
        inspect.Parameter(f"conn_{name}", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[str | None, option])
        for name, option in _CONNECTION_FLAGS.items()
    ]

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        host, port, user = (kwargs.pop(f"conn_{name}", None) for name in _CONNECTION_FLAGS)
        if host or port or user:
            kwargs["db"] = ConnectionOptions(db=kwargs.get("db"), host=host, port=port, user=user)
        return function(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*params[:at], *added, *params[at:]])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**function.__annotations__, **{p.name: p.annotation for p in added}}
    return wrapper  # type: ignore[return-value]


def handle_errors(function: F) -> F:
    """Expected failures become one clear message on stderr and exit 2; bugs say how to report them."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug")) or bool(os.environ.get("QPROF_DEBUG"))
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except QprofError as exc:
            if debug:
                console.print(traceback.format_exc(), markup=False)
            console.print(f"error: {exc.message}", markup=False)
            if exc.hint:
                console.print(f"hint: {exc.hint}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:  # `qprof … | head`: the reader left; say nothing more
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(141) from None
        except KeyboardInterrupt:
            console.print("interrupted", markup=False)
            raise typer.Exit(130) from None
        except Exception as exc:  # a bug: keep the message, offer the traceback
            if debug:
                raise
            console.print(f"internal error: {type(exc).__name__}: {exc}", markup=False)
            console.print("rerun with --debug for a traceback, and please report it", markup=False)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def connect(
    db: DbArgument,
    profile: str | None,
    statement_timeout: str,
    config: Config | None = None,
    allow_functions: list[str] | None = None,
) -> Iterator[Target]:
    """Open the target the options name, read-only, closed again whatever happens;
    ``allow_functions`` (``--allow-function``) are the volatile functions the user lets run."""
    from qprof.targets.session import session

    with session(db, profile=profile, statement_timeout=statement_timeout, allow_functions=allow_functions, config=config) as target:
        yield target
