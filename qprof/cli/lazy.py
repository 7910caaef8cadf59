"""A command group that imports a command's module only when that command runs.

Importing every module in :mod:`qprof.commands` costs more than the work of a typical ``qprof top``
(the advisor alone pulls sqlglot, pglast and the what-if machinery). The root group therefore knows
each command's name and summary from :data:`COMMANDS` and imports the module (which registers the
command as before, through its ``register(app)``) on first use. ``tests/test_startup.py`` checks that
this table says exactly what the modules register, so it cannot drift from them.
"""

from __future__ import annotations

import importlib
from difflib import get_close_matches
from typing import Any, NamedTuple

from typer._click import echo
from typer._click.exceptions import UsageError  # the click Typer 0.29 vendors
from typer.core import TyperGroup


class LazyCommand(NamedTuple):
    module: str
    """Module under :mod:`qprof.commands` whose ``register(app)`` adds the command."""
    summary: str
    """First paragraph of the command's help, whitespace collapsed (what ``qprof --help`` lists)."""


# name -> where it lives and what it does; test_startup proves it equals what the modules register
COMMANDS: dict[str, LazyCommand] = {
    "advise": LazyCommand("advise", "Recommend indexes for the whole workload and write them as migrations, with the evidence."),
    "baseline": LazyCommand(
        "baseline",
        "Save per-statement timings as a named baseline, and check against it (exit 1 when slower).",
    ),
    "bench": LazyCommand("bench", "Run each statement of a workload N times and report mean and P50/P95/P99 latency."),
    "check": LazyCommand(
        "check",
        "Check a database (and optionally a workload's plans) against qprof's rules; gate CI with --fail-on.",
    ),
    "compare": LazyCommand(
        "compare",
        "Compare two windows statement by statement: calls, mean and P95 before and after, "
        "improvements and regressions, and the indexes added or dropped in between.",
    ),
    "demo": LazyCommand("demo", "Build the SQLite sample (if missing), then run top, tables, indexes, explain and check on it."),
    "explain": LazyCommand(
        "explain",
        "Show a statement's plan with real timings, the parameter values used, and what is wrong with it.",
    ),
    "indexes": LazyCommand(
        "indexes",
        "Show every index with size, scans and definition, classified as unused, duplicate, redundant or invalid.",
    ),
    "nplusone": LazyCommand(
        "nplusone",
        "Find N+1 queries in PostgreSQL server logs (QP501), or suspect them from pg_stat_statements (QP502).",
    ),
    "record": LazyCommand(
        "record",
        "Record the database side of a load test: snapshot, run COMMAND, snapshot, report the window.",
    ),
    "report": LazyCommand(
        "report",
        "Report on a window of the history: load, top statements with trends, regressions, new "
        "statements, sequential-scan growth, index usage, dead tuples and the advisors' findings.",
    ),
    "rules": LazyCommand("rules", "List qprof's rules, or explain one: anti-pattern, fix, default severity and thresholds."),
    "runs": LazyCommand("record", "List the runs qprof record stored (names for compare, report --run)."),
    "snapshot": LazyCommand(
        "snapshot",
        "Record pg_stat_statements, table and index counters, sizes and settings into the history store.",
    ),
    "snapshots": LazyCommand("snapshot", "List or prune the snapshots in the history store."),
    "tables": LazyCommand("tables", "Show tables with their scan activity and size (pg_stat_user_tables; SQLite: rows and sizes)."),
    "top": LazyCommand("top", "Show the statements that cost the most, from pg_stat_statements (or timed from a workload)."),
}


def summary(help_text: str | None) -> str:
    """The first paragraph of a help text on one line: what :data:`COMMANDS` stores."""
    return " ".join((help_text or "").split("\n\n")[0].split())


def load_module_commands(module: str) -> dict[str, Any]:
    """Import ``qprof.commands.<module>`` and return the click commands its ``register`` adds, by name."""
    import typer.main

    registrar = typer.Typer()
    importlib.import_module(f"qprof.commands.{module}").register(registrar)
    return dict(typer.main.get_group(registrar).commands)


class LazyGroup(TyperGroup):
    """A Typer group whose commands come from :data:`COMMANDS`, built on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            # register every command of the module, so e.g. `record` and `runs` load together
            self.commands.update(load_module_commands(COMMANDS[cmd_name].module))
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of ``qprof --help`` from the summaries, without importing a command module."""
        rows = []
        for name in self.list_commands(ctx):
            # the whole summary, wrapped: one line cut at 45 characters teaches too little
            if name in COMMANDS:
                rows.append((name, COMMANDS[name].summary))
            elif not self.commands[name].hidden:
                rows.append((name, summary(self.commands[name].short_help or self.commands[name].help)))
        if not rows:
            return
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        # Rich's renderer (typer's default) costs ~0.1 s of imports and asks every command for its
        # help, which would import them all; the plain layout keeps `qprof --help` instant.
        # A command's own `qprof CMD --help` still goes through rich (its module is loaded anyway).
        super(TyperGroup, self).format_help(ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        """Command names from the table on <TAB>: completing `qprof t` must not import every command."""
        from typer._click.core import Command
        from typer._click.shell_completion import CompletionItem

        results = [CompletionItem(name, help=COMMANDS[name].summary) for name in self.list_commands(ctx) if name.startswith(incomplete) and name in COMMANDS]
        results += [
            CompletionItem(name, help=command.get_short_help_str())
            for name, command in self.commands.items()
            if name not in COMMANDS and name.startswith(incomplete) and not command.hidden
        ]
        return results + Command.shell_complete(self, ctx, incomplete)  # the root's own options

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            # typer's rich help prints itself while the NoArgsIsHelpError is built; the plain one must be
            # echoed. Exit 2 as before: no command is a usage error.
            echo(ctx.get_help(), color=ctx.color)
            ctx.exit(2)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            # typer suggests from the commands already built; offer the lazy ones too
            if args and "Did you mean" not in exc.message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise
