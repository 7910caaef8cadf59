"""The wheel ships every package: pyproject.toml lists packages explicitly (package-dir maps
advisors/, sample_dbs/ and queries/ into qprof), so a new subpackage left out of the list works
in the editable install the suite uses and is missing from a built wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_under_qprof_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "qprof").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found <= listed, f"packages missing from [tool.setuptools] packages: {sorted(found - listed)}"
