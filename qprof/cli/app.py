"""The ``qprof`` command line. Each module in :mod:`qprof.commands` registers its own commands,
so adding a command never means editing a central list."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated

import typer

from qprof import __version__, commands

app = typer.Typer(
    name="qprof",
    help="Find the database statements that cost the most, learn why, and fix them with proof "
    "(PostgreSQL and SQLite).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qprof {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """qprof: query profiling and index advice for PostgreSQL and SQLite."""


def _register_commands() -> None:
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{module.name}").register(app)


_register_commands()


def main() -> None:
    app()
