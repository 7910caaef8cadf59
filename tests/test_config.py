"""Configuration files of the wrong shape: a clear message naming the file and exit 2, for
every command that reads them, never a TypeError deep inside one."""

from __future__ import annotations

from pathlib import Path

import pytest

from qprof.config import load_config

BAD_SETTINGS = [
    ("select = 5", ("check",), "select must be a list of rule codes"),
    ('ignore = ["QP1", 2]', ("check",), "ignore must be a list of rule codes"),
    ("fail-on = 1", ("check",), "fail-on must be a list of severities or rule codes"),
    ("extend_ignore = {a = 1}", ("check",), "extend_ignore must be a list of rule codes"),
    ('profiles = "x"', ("top", "--profile", "s"), "profiles must be a table of profiles"),
    ("[profiles]\ns = 5", ("top", "--profile", "s"), "profiles must be a table of profiles"),
    ("[profiles.s]\ndb = 5", ("top", "--profile", "s"), "profiles.s.db must be a string"),
    ("store = 5", ("snapshots", "list"), "store must be a string"),
    ("rules = 5", ("check",), "rules must be a table of rule tables"),
    ("[rules]\nQP101 = 5", ("check",), "rules must be a table of rule tables"),
]


@pytest.mark.parametrize("toml, command, message", BAD_SETTINGS)
def test_wrong_types_in_qprof_toml(cli, sample_sqlite: Path, tmp_path: Path, toml: str, command: tuple, message: str) -> None:
    config = tmp_path / "qprof.toml"
    config.write_text(toml + "\n", encoding="utf-8")
    args = [*command, "-d", str(sample_sqlite)] if command[0] == "check" else list(command)
    result = cli(*args)
    assert result.exit_code == 2, result.stderr
    assert f"{config}: {message}" in result.stderr, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_wrong_types_in_pyproject_name_the_file(cli, sample_sqlite: Path, tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "app"\n\n[tool.qprof]\nselect = 5\n', encoding="utf-8")
    result = cli("check", "-d", str(sample_sqlite))
    assert result.exit_code == 2 and f"{pyproject}: select must be a list of rule codes" in result.stderr, result.stderr
    pyproject.write_text('[tool]\nqprof = "x"\n', encoding="utf-8")
    result = cli("check", "-d", str(sample_sqlite))
    assert result.exit_code == 2 and "[tool.qprof] must be a table" in result.stderr, result.stderr


def test_well_formed_settings_still_load(cli, sample_sqlite: Path, tmp_path: Path) -> None:
    (tmp_path / "qprof.toml").write_text(
        f'select = "QP2"\nignore = ["QP202"]\nstore = "{tmp_path / "h.db"}"\n'
        f'[profiles.s]\ndb = "{sample_sqlite}"\nnote = "extra keys are the profile\'s own business"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path)
    assert config.profile("s")["db"] == str(sample_sqlite)
    doc = cli.json("check", "--profile", "s")
    assert {f["code"] for f in doc["findings"]} == {"QP204"}  # a single string selects like a list
