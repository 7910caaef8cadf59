"""The advisor's code layout: no import cycles in qprof/advise (lazy imports inside functions
count too), every module imports on its own, and no module defines a name twice."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _checker():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "scripts" / "import_cycles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_in_advise():
    checker = _checker()
    graph = checker.import_graph(ROOT / "qprof" / "advise")
    assert "qprof.advise.builds" in graph and "qprof.advise.whatif.sqlite" in graph
    assert checker.cycles(graph) == []
    # the ones this layout removed stay removed
    assert "qprof.advise.selection" not in graph["qprof.advise.whatif.base"]
    assert "qprof.advise.advisor" not in graph["qprof.advise.selection"]
    assert "qprof.advise.verify" not in graph["qprof.advise.apply"]


def test_the_checker_finds_a_lazy_cycle(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import x\n")
    (package / "b.py").write_text("x = 1\ndef f():\n    from pkg.a import x\n    return x\n")
    assert _checker().cycles(_checker().import_graph(package)) == [["pkg.a", "pkg.b"]]
    # an import only type checkers run is no cycle
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import x\n")
    assert _checker().cycles(_checker().import_graph(package)) == []


MODULES = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in (ROOT / "qprof" / "advise").rglob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_each_advise_module_imports_alone(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], check=False, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_no_name_is_defined_twice_anywhere():
    # the redefinition that left whatif.py with a dead copy of every class fails the build (ruff
    # F811; F821/F823: names used but never bound), in every package the CI runs
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F811,F821,F823", "--no-cache", "qprof", "advisors", "bench", "tests", "scripts"],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_redefinition_check_catches_a_dead_copy(tmp_path):
    (tmp_path / "twice.py").write_text("class A:\n    x = 1\n\n\nclass A:\n    x = 2\n")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F811", "--no-cache", str(tmp_path)], check=False, capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 1 and "F811" in result.stdout
