"""The docs site: generated pages are current, the site builds strictly, and the README stays a
short, true front door into it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=300, **kwargs)


def test_generated_command_and_rule_pages_are_up_to_date() -> None:
    result = _run("scripts/gen_docs.py", "--check")
    assert result.returncode == 0, f"{result.stderr}\nregenerate with: make docs"


def test_a_rule_docstring_missing_a_section_stops_the_generator() -> None:
    code = (
        "import sys; sys.argv = ['gen']; sys.path.insert(0, 'scripts'); import gen_docs\n"
        "from qprof.advisors.base import make_rule\n"
        "rule = make_rule('QP999 x.y — z.\\n\\nAnti-pattern: a.\\n\\nFix: b.', code='QP999', name='x.y', severity='info',"
        " title='t', scope='plan', check=lambda *a: [], options={'n': 1})\n"
        "gen_docs._rule_page(rule, 'qp999_x')\n"
    )
    result = _run("-c", code)
    assert result.returncode != 0
    assert "advisors/qp999_x.py: the docstring lacks 'Example:', 'Known problems:', 'Options:'" in result.stderr


def test_every_rule_and_command_has_a_page() -> None:
    sys.path.insert(0, str(REPO))
    from qprof.advisors import all_rules

    for rule in all_rules():
        page = (REPO / "docs" / "rules" / f"{rule.code}.md").read_text()
        for heading in ("## What it does", "## Why it matters", "## Example", "## How to fix", "## Options", "## Known problems"):
            assert heading in page, (rule.code, heading)
    commands = {path.stem for path in (REPO / "docs" / "commands").glob("*.md")}
    assert {"qprof", "top", "explain", "check", "advise", "record", "baseline"} <= commands


def test_mkdocs_builds_strictly(tmp_path: Path) -> None:
    result = _run("-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(REPO / "mkdocs.yml"), "-d", str(tmp_path / "site"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "rules" / "QP101" / "index.html").exists()
    assert (tmp_path / "site" / "commands" / "advise" / "index.html").exists()


def test_readme_is_short_and_its_links_into_docs_resolve() -> None:
    assert len(README.splitlines()) < 200
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", README)
    assert len(links) >= 5
    missing = [link for link in links if not (REPO / link).exists()]
    assert not missing, missing


def test_readme_test_command_is_what_ci_runs() -> None:
    assert "make test" in README
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^exec make test\b", ci, re.M)


def test_install_text_never_installs_the_unrelated_pypi_project() -> None:
    """`qprof` on PyPI is someone else's package: every install line names a wheel or a checkout."""
    texts = {"README.md": README} | {str(p.relative_to(REPO)): p.read_text() for p in (REPO / "docs").rglob("*.md")}
    bad = re.compile(r"pip install\s+(?:-\S+\s+)*['\"]?qprof(?:\[|['\"\s]|$)", re.M)
    offenders = [name for name, text in texts.items() if bad.search(text)]
    assert not offenders, offenders
    assert "pip install dist/qprof-" in README


def test_pyproject_points_at_pages_that_exist() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    for page in re.findall(r"docs/[\w/.-]+\.md", pyproject):
        assert (REPO / page).exists(), page
    assert "docs/configuration.md" in pyproject  # [tool.qprof]'s pointer to the settings it reads
    test_extra = tomllib.loads(pyproject)["project"]["optional-dependencies"]["test"]
    assert any(dep.startswith("mkdocs-material") for dep in test_extra)
