"""The analysis rules, one module per rule (``qpNNN_<what>.py``), shipped as ``qprof.advisors``.

Codes are stable, like a linter's: QP1xx plans, QP2xx indexes and schema, QP3xx table access,
QP4xx maintenance and settings (QP5xx is reserved for N+1 findings). Each module defines
``RULE`` (:class:`qprof.advisors.base.Rule`); this registry finds them by file name, so adding a
rule means adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache

from .base import DATABASE, PLAN, PlanContext, Rule

_RULE_MODULE = re.compile(r"^qp\d{3}_\w+$")


@lru_cache(maxsize=1)
def all_rules() -> tuple[Rule, ...]:
    """Every rule, ordered by code."""
    rules = []
    for module in pkgutil.iter_modules(__path__):
        if _RULE_MODULE.match(module.name):
            rules.append(importlib.import_module(f"{__name__}.{module.name}").RULE)
    return tuple(sorted(rules, key=lambda rule: rule.code))


def get_rule(code: str) -> Rule | None:
    """The rule with this code (case-insensitive), or None."""
    code = code.strip().upper()
    return next((rule for rule in all_rules() if rule.code == code), None)


__all__ = ["DATABASE", "PLAN", "PlanContext", "Rule", "all_rules", "get_rule"]
