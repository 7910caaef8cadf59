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


MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "qprof" / "advise").rglob("*.py")
)


@pytest.mark.parametrize("module", MODULES)
def test_each_advise_module_imports_alone(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], check=False, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_no_name_is_defined_twice_in_advise():
    # the redefinition that left whatif.py with a dead copy of every class (ruff's F811)
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F811", "--no-cache", "qprof/advise"],
                            check=False, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
