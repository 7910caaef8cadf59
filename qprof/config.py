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
                hint=f'add [profiles.{name}] with db = "…" to qprof.toml or [tool.qprof.profiles.{name}] to pyproject.toml',
            ) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read configuration {path}: {exc}") from None


# settings that hold rule codes (or severities): a list of strings, or one comma-separated string
CODE_LISTS = {
    "select": "a list of rule codes",
    "ignore": "a list of rule codes",
    "extend-ignore": "a list of rule codes",
    "fail-on": "a list of severities or rule codes",
}


def _is_code_list(value: Any) -> bool:
    return isinstance(value, str) or isinstance(value, list) and all(isinstance(item, str) for item in value)


def validate_settings(path: Path, settings: Any) -> dict[str, Any]:
    """Check the shape of the settings qprof reads, so a typo is a message naming the file,
    not a TypeError deep inside a command. Values (rule codes, option names) are checked where
    they are used, against what they name."""
    if not isinstance(settings, dict):
        raise BadInput(f"{path}: [tool.qprof] must be a table")
    profiles = settings.get("profiles")
    if profiles is not None:
        if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
            raise BadInput(
                f"{path}: profiles must be a table of profiles",
                hint='write [profiles.NAME] with db = "…" (in pyproject.toml: [tool.qprof.profiles.NAME])',
            )
        for name, profile in profiles.items():
            if "db" in profile and not isinstance(profile["db"], str):
                raise BadInput(f'{path}: profiles.{name}.db must be a string such as "postgresql://user@host/db"')
    for name, what in CODE_LISTS.items():
        for key in (name, name.replace("-", "_")):
            if key in settings and not _is_code_list(settings[key]):
                raise BadInput(f"{path}: {key} must be {what}", hint=f'for example {key} = ["QP1", "QP203"]')
    if "store" in settings and not isinstance(settings["store"], str):
        raise BadInput(f"{path}: store must be a string (a file path or a postgresql:// URL)")
    record = settings.get("record")
    if record is not None:
        slo = record.get("slo") if isinstance(record, dict) else None
        if not isinstance(record, dict) or (slo is not None and not _is_code_list(slo)):
            raise BadInput(
                f"{path}: record.slo must be a list of SLO expressions",
                hint='write [record] with slo = ["p95<100ms", "calls_per_s>50"] (in pyproject.toml: [tool.qprof.record])',
            )
    rules = settings.get("rules")
    if rules is not None and (not isinstance(rules, dict) or not all(isinstance(r, dict) for r in rules.values())):
        raise BadInput(
            f"{path}: rules must be a table of rule tables",
            hint="write [rules.QP101] with the rule's options (in pyproject.toml: [tool.qprof.rules.QP101])",
        )
    return settings


def load_config(start: Path | None = None) -> Config:
    """Find ``qprof.toml`` (preferred) or a pyproject.toml with ``[tool.qprof]``, walking up from ``start``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        own = folder / "qprof.toml"
        if own.is_file():
            return Config(own, validate_settings(own, _read_toml(own)))
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            tool = _read_toml(pyproject).get("tool", {})
            tool = tool.get("qprof") if isinstance(tool, dict) else None
            if tool is not None:
                return Config(pyproject, validate_settings(pyproject, tool))
        if (folder / ".git").exists():
            break
    return Config()
