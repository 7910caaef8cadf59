"""The wheel ships every package, and the wheel built here installs a working `qprof`: pyproject.toml lists packages explicitly (package-dir maps
advisors/, sample_dbs/ and queries/ into qprof), so a new subpackage left out of the list works
in the editable install the suite uses and is missing from a built wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_under_qprof_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "qprof").rglob("__init__.py") if "__pycache__" not in init.parts}
    assert found <= listed, f"packages missing from [tool.setuptools] packages: {sorted(found - listed)}"


def _wheel_sources() -> list[str]:
    """pyproject.toml, the readme and every folder [tool.setuptools] package-dir maps into the wheel."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return ["pyproject.toml", "README.md", *sorted(set(setuptools["package-dir"].values()))]


_WHEEL_SOURCES = _wheel_sources()


def test_the_wheel_builds_and_its_qprof_command_runs(tmp_path: Path) -> None:
    """What the README tells users to do: build a wheel here and install it (PyPI's `qprof` is
    another project). Built without build isolation so it works offline; installed with --target
    beside the suite's dependencies, and run from a neutral directory, so the command that runs is
    the wheel's and not the editable checkout's."""
    wheels, site, source = tmp_path / "dist", tmp_path / "site", tmp_path / "source"
    # pip builds in the source tree; a copy keeps build/ and egg-info out of the checkout (a stale
    # build/lib there would even ship modules deleted since into later wheels)
    skip = shutil.ignore_patterns("__pycache__", "*.sqlite", "*.egg-info")
    source.mkdir()
    for name in _WHEEL_SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=skip)
        else:
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(wheels)], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("qprof-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    # the package-dir mappings and the package data: rules, sample schema, the collectors' SQL
    assert "qprof/advisors/qp101_seq_scan_large_table.py" in names
    assert any(name.startswith("qprof/collectors/sql/") and name.endswith(".sql") for name in names)
    assert any(name.startswith("qprof/queries/") and name.endswith(".sql") for name in names)

    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site)}
    qprof = site / "bin" / "qprof"
    version = subprocess.run([str(qprof), "--version"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"qprof {tomllib.loads((REPO / 'pyproject.toml').read_text())['project']['version']}"

    where = subprocess.run(
        [sys.executable, "-c", "import qprof.advisors; print(qprof.advisors.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout
    rule = subprocess.run([str(qprof), "rules", "QP101"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert rule.returncode == 0 and "plan.seq-scan-large-table" in rule.stdout, rule.stderr
