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


def _first(command, kind):
    """The command's first int (or enum) option."""
    import enum

    for param in command.params:
        if getattr(param, "param_type_name", "") != "option" or param.multiple:
            continue
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if kind == "int" and annotation is int:
            return param.opts[0]
        if kind == "choice" and isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return param.opts[0]
    return None


LEAVES = [(path, command) for path, command in COMMANDS if not hasattr(command, "commands")]


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_usage_errors_are_one_line_for_every_command(path, command, cli) -> None:
    """Missing argument, bad choice, bad number: one line naming the problem and the command's
    --help, exit 2 — never click's boxed usage."""
    cases = []
    if any(getattr(p, "param_type_name", "") == "argument" and p.required for p in command.params):
        cases.append(())
    for kind, value in (("int", "many"), ("choice", "nope")):
        option = _first(command, kind)
        if option:
            cases.append((option, value))
    for args in cases:
        result = cli(*path, *args)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2, (args, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("qprof: error: "), (args, result.stderr)
        assert "╭" not in result.stderr and "Usage:" not in result.stderr and "Traceback" not in result.stderr
        assert f"'qprof {' '.join(path)} --help'" in lines[0]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_keeps_bracketed_text(path, command, cli) -> None:
    """Rich reads [tool.qprof] as markup and drops it unless escaped: every [section] the help
    source names must reach the rendered --help."""
    import re

    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    wanted = {m.group(1) for text in texts for m in re.finditer(r"\\?(\[[a-z][\w.]*\])", text)}
    shown = " ".join(cli(*path, "--help").stdout.split())
    for section in wanted:
        assert section in shown, f"qprof {' '.join(path)} --help lost {section}"


def test_shell_completion_installs_and_completes_in_bash(tmp_path: Path) -> None:
    """`qprof --install-completion bash` writes a script that real bash sources and that completes
    commands and option values (the console script, as a user's shell runs it)."""
    script = Path(sys.executable).with_name("qprof")
    # Typer detects the shell from the process's ancestors (shellingham), which differ between a
    # terminal, CI and a detached run; this switch makes it take the shell named on the command line.
    env = {"HOME": str(tmp_path), "SHELL": "/bin/bash", "PATH": f"{script.parent}:/usr/bin:/bin", "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    installed = subprocess.run([str(script), "--install-completion", "bash"], capture_output=True, text=True, env=env, timeout=60)
    assert installed.returncode == 0, installed.stderr
    completion = tmp_path / ".bash_completions" / "qprof.sh"
    assert completion.is_file() and str(completion) in (tmp_path / ".bashrc").read_text()

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        probe = f"source {completion}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _qprof_completion qprof; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("qprof", "to") == ["top"]
    assert {"sarif", "gitlab", "csv"} <= set(complete("qprof", "check", "--format", ""))
    assert "--username" in complete("qprof", "top", "--user")
