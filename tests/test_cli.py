"""The CLI as a whole: every command teaches through --help, errors never show tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from qprof.cli.app import app

ROOT = typer.main.get_command(app)


def _commands(group, prefix=()):
    # list_commands/get_command, not group.commands: the root loads its commands lazily
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        yield (*prefix, name), command
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))


COMMANDS = list(_commands(ROOT))


def test_core_commands_are_registered() -> None:
    names = {path[0] for path, _ in COMMANDS}
    assert {"top", "tables", "indexes", "demo"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_and_option_has_help(path, command, cli) -> None:
    assert (command.help or "").strip(), f"qprof {' '.join(path)} has no help text"
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and param.name not in ("help",):
            assert (param.help or "").strip(), f"option {param.opts} of qprof {' '.join(path)} has no help"
    result = cli(*path, "--help")
    assert result.exit_code == 0 and "Usage" in result.stdout


def test_listing_commands_share_output_and_connection_options() -> None:
    for path, command in COMMANDS:
        if path[0] in ("top", "tables", "indexes"):
            options = {opt for param in command.params for opt in getattr(param, "opts", [])}
            assert {"--db", "--profile", "--format", "--statement-timeout", "--debug"} <= options, path


def test_version_and_usage_errors(cli) -> None:
    assert cli("--version").stdout.startswith("qprof ")
    bad = cli("top", "--by", "fastest")
    assert bad.exit_code == 2 and "Traceback" not in bad.stdout + bad.stderr


def test_debug_shows_the_traceback(cli, tmp_path: Path) -> None:
    quiet = cli("tables", "-d", tmp_path / "nope.sqlite")
    assert quiet.exit_code == 2 and "Traceback" not in quiet.stderr
    loud = cli("tables", "-d", tmp_path / "nope.sqlite", "--debug")
    assert loud.exit_code == 2 and "Traceback" in loud.stderr


def test_console_script_runs_as_a_process(sample_sqlite: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qprof", "indexes", "--db", str(sample_sqlite), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith("{")
