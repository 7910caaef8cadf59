"""Which rules run, with which thresholds: ``select``/``ignore`` by code prefix, like ruff.

Configuration (``qprof.toml``, or ``[tool.qprof]`` in pyproject.toml)::

    select = ["QP"]                 # default: every rule
    ignore = ["QP3", "QP102"]
    fail-on = ["warning"]           # qprof check exits 1 on a warning or worse

    [rules.QP101]                   # [tool.qprof.rules.QP101] in pyproject.toml
    min_rows_scanned = 50000
    severity = "error"

The most specific prefix decides: ``select = ["QP1"]`` with ``ignore = ["QP10"]`` and
``select``-ing ``QP101`` again runs QP101 only of the QP10x rules. On a tie ``ignore`` wins.
``--select`` on the command line replaces the configured selection; ``--ignore`` adds to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qprof.errors import BadInput
from qprof.findings import SEVERITIES, Finding

ALL = "ALL"


def _split(values: Iterable[str] | str | None) -> list[str]:
    """Codes from a list and/or comma-separated strings, upper-cased."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise BadInput(f"rule codes must be a list of strings, got {values!r}")
    codes: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise BadInput(f"rule codes must be strings, got {value!r}")
        codes += [part.strip().upper() for part in value.replace(" ", ",").split(",") if part.strip()]
    return codes


def _known_codes() -> list[str]:
    from qprof.advisors import all_rules

    return [rule.code for rule in all_rules()]


def validate_prefixes(prefixes: Sequence[str], where: str) -> None:
    """Every prefix must match at least one rule code (``ALL`` matches all)."""
    codes = _known_codes()
    for prefix in prefixes:
        if prefix != ALL and not any(code.startswith(prefix) for code in codes):
            raise BadInput(
                f"{where}: {prefix!r} matches no rule code",
                hint=f"known codes: {', '.join(codes)} (prefixes like QP1 or QP20 work too); see qprof rules",
            )


def _matches(prefix: str, code: str) -> bool:
    return prefix == ALL or code.startswith(prefix)


def _specificity(prefix: str) -> int:
    return 0 if prefix == ALL else len(prefix)


@dataclass
class RulesConfig:
    """The selection, per-rule option overrides and severity overrides in effect."""

    select: list[str] = field(default_factory=lambda: ["QP"])
    ignore: list[str] = field(default_factory=list)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    severities: dict[str, str] = field(default_factory=dict)
    fail_on: list[str] = field(default_factory=list)

    def is_selected(self, code: str) -> bool:
        """Whether ``code`` runs: the most specific matching prefix decides, ``ignore`` wins ties."""
        best_select = max((_specificity(p) for p in self.select if _matches(p, code)), default=-1)
        best_ignore = max((_specificity(p) for p in self.ignore if _matches(p, code)), default=-1)
        return best_select >= 0 and best_select > best_ignore

    def options_for(self, rule: Any) -> dict[str, Any]:
        """The rule's default thresholds with the configured overrides applied."""
        merged = dict(rule.options)
        merged.update(self.options.get(rule.code, {}))
        return merged

    def severity_for(self, code: str, default: str) -> str:
        return self.severities.get(code, default)

    def apply_severity(self, finding: Finding) -> Finding:
        """A configured ``severity`` replaces the rule's (per-finding severities of the rule stay lower)."""
        override = self.severities.get(finding.code)
        if override:
            finding.severity = override
        return finding


def _rule_settings(raw: Any, where: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    from qprof.advisors import get_rule

    if raw is None:
        return {}, {}
    if not isinstance(raw, dict):
        raise BadInput(f"{where}: [rules] must be a table of rule codes")
    options: dict[str, dict[str, Any]] = {}
    severities: dict[str, str] = {}
    for code, values in raw.items():
        rule = get_rule(code)
        if rule is None:
            raise BadInput(f"{where}: [rules.{code}] names no rule", hint="qprof rules lists the codes")
        if not isinstance(values, dict):
            raise BadInput(f"{where}: [rules.{code}] must be a table of options")
        for key, value in values.items():
            if key == "severity":
                if value not in SEVERITIES:
                    raise BadInput(f"{where}: rules.{rule.code}.severity must be one of {', '.join(SEVERITIES)}")
                severities[rule.code] = value
                continue
            options.setdefault(rule.code, {})[key] = _checked_option(rule, key, value, where)
    return options, severities


def _checked_option(rule: Any, key: str, value: Any, where: str) -> Any:
    if key not in rule.options:
        known = ", ".join(["severity", *rule.options]) or "severity"
        raise BadInput(f"{where}: rules.{rule.code} has no option {key!r}", hint=f"{rule.code} options: {known}")
    default = rule.options[key]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise BadInput(f"{where}: rules.{rule.code}.{key} must be true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise BadInput(f"{where}: rules.{rule.code}.{key} must be a non-negative number, got {value!r}")
        return type(default)(value) if isinstance(default, float) or float(value).is_integer() else value
    return value


def _setting(settings: dict[str, Any], name: str) -> Any:
    return settings.get(name, settings.get(name.replace("-", "_")))


def load_rules_config(
    settings: dict[str, Any] | None = None,
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    fail_on: Sequence[str] | None = None,
    where: str = "configuration",
) -> RulesConfig:
    """Configuration settings (``Config.settings``) overlaid with command-line choices."""
    settings = settings or {}
    configured_select = _split(_setting(settings, "select"))
    configured_ignore = _split(_setting(settings, "ignore")) + _split(_setting(settings, "extend-ignore"))
    validate_prefixes(configured_select, where)
    validate_prefixes(configured_ignore, where)
    cli_select, cli_ignore = _split(select), _split(ignore)
    validate_prefixes(cli_select, "--select")
    validate_prefixes(cli_ignore, "--ignore")
    options, severities = _rule_settings(settings.get("rules"), where)
    return RulesConfig(
        select=cli_select or configured_select or ["QP"],
        ignore=configured_ignore + cli_ignore,
        options=options,
        severities=severities,
        fail_on=validate_fail_on(fail_on) if fail_on else validate_fail_on(_split(_setting(settings, "fail-on"))),
    )


def fail_on_matches(fail_on: Sequence[str], findings: Iterable[Finding]) -> list[Finding]:
    """Findings that trip the gate: a severity (``warning`` means warning or worse) or a code prefix."""
    from qprof.findings import severity_rank

    levels = [v.lower() for v in fail_on if v.lower() in SEVERITIES]
    prefixes = [v.upper() for v in fail_on if v.lower() not in SEVERITIES]
    floor = min((severity_rank(level) for level in levels), default=None)
    tripped = []
    for finding in findings:
        by_severity = floor is not None and severity_rank(finding.severity) >= floor
        if by_severity or any(_matches(prefix, finding.code) for prefix in prefixes):
            tripped.append(finding)
    return tripped


def validate_fail_on(values: Sequence[str]) -> list[str]:
    """``--fail-on`` values: severities or rule code prefixes; anything else is a usage error."""
    out = []
    for value in _split(values):
        if value.lower() in SEVERITIES:
            out.append(value.lower())
        else:
            validate_prefixes([value], "--fail-on")
            out.append(value)
    return out


def statement_ignores(ignore: Iterable[str], code: str) -> bool:
    """Whether a ``-- qprof: ignore QP1 QP203`` comment silences ``code`` (prefixes; ALL or none listed = all)."""
    ignore = [i.upper() for i in ignore]
    return any(_matches(prefix, code) for prefix in ignore)
