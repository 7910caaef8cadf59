"""The ``qprof`` command line. Each module in :mod:`qprof.commands` registers its own commands;
:mod:`qprof.cli.lazy` imports a module only when one of its commands runs (adding a command means
one line in ``lazy.COMMANDS``, which a test keeps equal to what the modules register)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, get_args

import typer
from typer._click.exceptions import (  # the click Typer 0.29 vendors
    NoArgsIsHelpError,
    UsageError,
)

from qprof import __version__
from qprof.cli.lazy import LazyGroup
from qprof.errors import EXIT_USAGE


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    """A usage error as one line a script can grep (``qprof: error: …``), not click's boxed usage."""
    try:
        yield
    except NoArgsIsHelpError:
        raise  # `qprof` alone prints the help, as it should
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "qprof"
        from qprof import redact

        # click quotes the offending argument, which may be a URI or conninfo typed in the wrong place
        message = redact.output(" ".join(exc.format_message().split()))
        typer.echo(f"qprof: error: {message} (see '{where} --help')", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def _finite(callback: Callable[..., Any] | None) -> Callable[..., Any]:
    def check(ctx: Any, param: Any, value: Any) -> Any:
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise typer.BadParameter(f"{value!r} is not a finite number", ctx=ctx, param=param)
        return callback(ctx, param, value) if callback else value

    check.qprof_finite = True  # type: ignore[attr-defined]
    return check


def _finite_floats(command: Any) -> Any:
    """nan and inf pass every ``min=`` check of a float option: refuse them for every command."""
    for param in getattr(command, "params", []):
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if float in (annotation, *get_args(annotation)) and not getattr(param.callback, "qprof_finite", False):
            param.callback = _finite(param.callback)
    return command


class QprofGroup(LazyGroup):
    """The root command: one-line usage errors and finite float options for every command."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any | None = None, **extra: Any) -> Any:
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        for sub in getattr(command, "commands", {}).values():  # `qprof baseline check`, …
            _finite_floats(sub)
        return _finite_floats(command)


app = typer.Typer(
    cls=QprofGroup,
    name="qprof",
    help="Find the database statements that cost the most, learn why, and fix them with proof (PostgreSQL and SQLite).",
    no_args_is_help=True,
    add_completion=True,  # qprof --install-completion / --show-completion
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["--help"]},  # -h is the host, as in psql
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qprof {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """qprof: query profiling and index advice for PostgreSQL and SQLite."""


def main() -> None:
    app()
