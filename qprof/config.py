"""Project configuration: ``qprof.toml`` or ``[tool.qprof]`` in ``pyproject.toml``.

Teams keep their staging profile and rule selection next to their code, the way ruff and
sqlfluff are configured, so a bare ``qprof top --profile staging`` works for everyone.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qprof.errors import BadInput


@dataclass(frozen=True)
class Config:
    """Settings read from the nearest configuration file (empty when there is none)."""

    path: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        return self.settings.get("profiles", {})

    def profile(self, name: str) -> dict[str, Any]:
        """The profile called ``name``; an unknown name is a usage error listing the known ones."""
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            where = str(self.path) if self.path else "no qprof.toml or pyproject.toml [tool.qprof] found"
            raise BadInput(
                f"unknown profile {name!r} (known: {known}; read from {where})",
                hint=f"add [profiles.{name}] with db = \"…\" to qprof.toml "
                f"or [tool.qprof.profiles.{name}] to pyproject.toml",
            ) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read configuration {path}: {exc}") from None


def load_config(start: Path | None = None) -> Config:
    """Find ``qprof.toml`` (preferred) or a pyproject.toml with ``[tool.qprof]``, walking up from ``start``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        own = folder / "qprof.toml"
        if own.is_file():
            return Config(own, _read_toml(own))
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            tool = _read_toml(pyproject).get("tool", {}).get("qprof")
            if tool is not None:
                return Config(pyproject, tool)
        if (folder / ".git").exists():
            break
    return Config()
