"""Start-up stays cheap: the root group lists commands without importing them, and importing qprof or
its CLI pulls in none of the heavy libraries. Speed itself is measured by bench/top.py, not here."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

from qprof import commands
from qprof.cli.lazy import COMMANDS, load_module_commands, summary

HEAVY = ("sqlglot", "pandas", "matplotlib", "sqlalchemy", "psycopg", "pglast", "rich", "tabulate")


def _registered() -> dict[str, tuple[str, str]]:
    """What the command modules really register: name -> (module, summary of its help)."""
    found: dict[str, tuple[str, str]] = {}
    for module in pkgutil.iter_modules(commands.__path__):
        for name, command in load_module_commands(module.name).items():
            assert name not in found, f"command {name!r} registered by both {found[name][0]} and {module.name}"
            found[name] = (module.name, summary(command.help))
    return found


def test_the_lazy_table_says_what_the_modules_register() -> None:
    registered = _registered()
    table = {name: (entry.module, entry.summary) for name, entry in COMMANDS.items()}
    if table != registered:
        fixed = "\n".join(f"    {name!r}: LazyCommand({m!r}, {s!r})," for name, (m, s) in sorted(registered.items()))
        pytest.fail(f"qprof/cli/lazy.py COMMANDS is stale; it should read:\n{fixed}")


def _modules_after(code: str) -> set[str]:
    """Top-level packages imported by running ``code`` in a fresh interpreter."""
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import qprof",
        "import qprof.cli.app",
        "import qprof.output",
        # the listing commands people run most; psycopg loads when they connect, not before
        "import qprof.commands.top",
        "import qprof.commands.tables",
        # pytest loads the plugin (an entry point) in every session of a project that installs qprof
        "import qprof.pytest_plugin",
    ],
)
def test_importing_qprof_loads_no_heavy_library(statement: str) -> None:
    loaded = _modules_after(statement)
    assert not loaded & set(HEAVY), f"{statement} imports {sorted(loaded & set(HEAVY))}"


def test_root_help_lists_every_command_without_importing_one() -> None:
    code = (
        "from qprof.cli.app import app\n"
        "try:\n    app(['--help'], prog_name='qprof')\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('qprof.commands.')))"
    )
    probe = f"import sys\n{code}"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout
    listed = result.stdout.split("Commands:")[1]
    for name, entry in COMMANDS.items():
        assert name in listed and entry.summary.split()[0] in listed


def test_root_help_is_printed_for_no_arguments(cli) -> None:
    result = cli()
    assert result.exit_code == 2 and "Commands:" in result.stdout and "top" in result.stdout


def test_a_command_loads_only_its_own_module() -> None:
    code = (
        "from qprof.cli.app import app\n"
        "try:\n    app(['rules', '--format', 'json'], prog_name='qprof')\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('qprof.commands.')))"
    )
    result = subprocess.run([sys.executable, "-c", f"import sys\n{code}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED ['qprof.commands.rules']" in result.stdout


def test_sub_groups_usage_errors_and_suggestions_still_work(cli) -> None:
    listing = cli("baseline", "--help")
    assert listing.exit_code == 0 and "check" in listing.stdout
    typo = cli("topp")
    assert typo.exit_code == 2 and "Did you mean 'top'?" in typo.stderr
    assert len(typo.stderr.strip().splitlines()) == 1  # one line, not click's box
    nested = cli("baseline", "chek")
    assert nested.exit_code == 2 and "Did you mean 'check'?" in nested.stderr


def test_float_options_still_refuse_inf_on_lazily_loaded_commands(cli) -> None:
    result = cli("advise", "--min-mean-ms", "inf")
    assert result.exit_code == 2 and "not a finite number" in result.stderr


def test_completing_a_command_name_imports_no_command() -> None:
    code = (
        "import typer.main\nfrom typer._click import Context\nfrom qprof.cli.app import app\n"
        "root = typer.main.get_command(app)\nctx = Context(root, info_name='qprof')\n"
        "print('NAMES', [c.value for c in root.shell_complete(ctx, 't')], [c.value for c in root.shell_complete(ctx, '--v')])\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('qprof.commands.')))"
    )
    result = subprocess.run([sys.executable, "-c", f"import sys\n{code}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "NAMES ['tables', 'top'] ['--version']" in result.stdout
    assert "LOADED []" in result.stdout
