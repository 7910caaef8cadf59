"""Options every command shares (sqlite-utils style) and the error handling around commands."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer

from qprof.config import Config
from qprof.errors import EXIT_INTERNAL, QprofError
from qprof.output import OutputFormat, console
from qprof.targets import Target

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        "-d",
        help="Database: postgresql://… URI, 'host=… dbname=…' DSN, sqlite:///path or a SQLite file. "
        "Default: --profile, then $QPROF_DB, then libpq's PG* variables.",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", "-P", help="Named profile from qprof.toml or \\[tool.qprof.profiles] in pyproject.toml."),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table for people; json/csv for scripts; markdown for PRs.")
]
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
    db: str | None,
    profile: str | None,
    statement_timeout: str,
    config: Config | None = None,
    allow_functions: list[str] | None = None,
) -> Iterator[Target]:
    """Open the target the options name, read-only, closed again whatever happens;
    ``allow_functions`` (``--allow-function``) are the volatile functions the user lets run."""
    from qprof.api.session import session

    with session(db, profile=profile, statement_timeout=statement_timeout, allow_functions=allow_functions,
                 config=config) as target:
        yield target
