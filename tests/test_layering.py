"""The package's layering: no import cycle anywhere in qprof/ or advisors/ (scripts/import_cycles.py,
which counts imports inside functions, relative imports and lazy-export tables), and the log
parser living where every reader of logs can use it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _whole_graph(checker) -> dict[str, set[str]]:
    return checker.import_graph(*(ROOT / path for path in checker.DEFAULT_ROOTS), names={ROOT / path: name for path, name in checker.DEFAULT_ROOTS.items()})


def test_no_import_cycle_in_the_whole_package(import_cycles) -> None:
    result = subprocess.run([sys.executable, "scripts/import_cycles.py"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(" 0 cycle(s)")
    graph = _whole_graph(import_cycles)
    # both folders are read, advisors/ under the name it is shipped as, relative imports resolved
    assert "qprof.collectors.logs.ranges" in graph and "qprof.cli.app" in graph
    assert "qprof.advisors.base" in graph["qprof.advisors.qp101_seq_scan_large_table"]
    assert "qprof.advisors.context" in graph["qprof.api.check"]
    # the façade of the log collector re-exports its modules; none imports it back
    assert "qprof.collectors.logs.ranges" in graph["qprof.collectors.logs"]
    assert "qprof.collectors.logs" not in graph["qprof.collectors.logs.ranges"]


def test_no_cycle_between_subpackages_either(import_cycles) -> None:
    """Folded to subpackages the graph is a DAG too: the rules' configuration lives with the rules
    (qprof.advisors.config) and the pytest plugin sits above both N+1 detection and the Django recorder."""
    folded = import_cycles.package_graph(_whole_graph(import_cycles))
    assert "qprof" not in folded  # the root façade is above the layers
    assert import_cycles.cycles(folded) == []
    # the log collector and the fingerprints no longer pull N+1 detection in
    assert "qprof.nplusone" not in folded["qprof.collectors"]
    assert "qprof.nplusone" not in folded["qprof.advise"]


def test_the_checker_sees_relative_lazy_export_and_cross_folder_cycles(import_cycles, tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text('_EXPORTS = {"helper": "app.b"}\n')
    (tmp_path / "app" / "a.py").write_text("def f():\n    from .b import x\n    return x\n")
    (tmp_path / "app" / "b.py").write_text("from app.a import f\nx = 1\n")
    (tmp_path / "app" / "c.py").write_text("from app import helper\n")  # a name of the façade: its __init__
    (tmp_path / "app" / "d.py").write_text("from app import a\n")  # a submodule, not the façade
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "__init__.py").write_text("")
    (tmp_path / "rules" / "r.py").write_text("import importlib\nM = importlib.import_module('app.e')\n")
    (tmp_path / "app" / "e.py").write_text("def g():\n    from app.rules.r import M\n    return M\n")
    graph = import_cycles.import_graph(tmp_path / "app", tmp_path / "rules", names={tmp_path / "rules": "app.rules"})
    assert graph["app.c"] == {"app"} and graph["app.d"] == {"app.a"} and graph["app"] == {"app.b"}
    assert import_cycles.cycles(graph) == [["app.a", "app.b"], ["app.e", "app.rules.r"]]


def test_the_log_parser_is_a_collector_not_part_of_nplusone(import_cycles) -> None:
    assert (ROOT / "qprof" / "collectors" / "logs" / "__init__.py").is_file()
    assert not (ROOT / "qprof" / "nplusone" / "logparse").exists()
    graph = import_cycles.import_graph(ROOT / "qprof")
    readers = {name for name, imported in graph.items() if any(m.startswith("qprof.collectors.logs") for m in imported)}
    # N+1 detection, advise --log and record all read logs through it
    assert {"qprof.nplusone.loganalysis", "qprof.advise.workload_source", "qprof.record.logwindow"} <= readers


def test_the_checker_refuses_to_pass_on_nothing(tmp_path) -> None:
    script = str(ROOT / "scripts" / "import_cycles.py")
    # the default folders are the repository's, wherever it runs from
    elsewhere = subprocess.run([sys.executable, script], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert int(elsewhere.stdout.splitlines()[-1].split()[0]) > 100, elsewhere.stdout
    missing = subprocess.run([sys.executable, script, "qprof/nosuch"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 2 and "no such folder: qprof/nosuch" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = subprocess.run([sys.executable, script, str(tmp_path / "empty")], capture_output=True, text=True, timeout=120, check=False)
    assert empty.returncode == 2 and "nothing to check" in empty.stderr
