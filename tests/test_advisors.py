"""Every rule against its data-driven fixture (tests/fixtures/advisors/QPnnn.json).

One fixture per rule, with failing cases (a finding expected, with the evidence that should
carry it) and passing ones. A case gives either a real PostgreSQL EXPLAIN JSON (``plan``),
catalog facts (``context``), or a tiny SQLite schema (and statement) built and run for real
(``sqlite``).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from qprof.advisors import PLAN, all_rules, get_rule
from qprof.advisors.base import PlanContext
from qprof.advisors.context import DatabaseContext, collect_database
from qprof.conninfo import parse_target
from qprof.plans.postgres import parse_explain_json
from qprof.plans.sqlite import explain_sqlite
from qprof.targets import open_target

FIXTURES = Path(__file__).parent / "fixtures" / "advisors"
OWN_PREFIXES = ("QP1", "QP2", "QP3", "QP4")  # QP5xx (N+1) is tested with its detector


def _cases():
    for path in sorted(FIXTURES.glob("QP*.json")):
        document = json.loads(path.read_text())
        assert document["rule"] == path.stem
        for case in document["cases"]:
            yield pytest.param(path.stem, case, id=f"{path.stem}-{case['name']}")


def _sqlite_file(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "fixture.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(spec["schema"])
        if spec.get("wal"):
            conn.execute("PRAGMA journal_mode = WAL")
    return path


def _findings(code: str, case: dict, tmp_path: Path) -> list:
    rule = get_rule(code)
    options = {**rule.options, **case.get("options", {})}
    if "plan" in case:
        plan = parse_explain_json(case["plan"], sql=case.get("sql", ""))
        return list(rule.check(plan, PlanContext("postgresql", "fixture"), options))
    if "context" in case:
        return list(rule.check(DatabaseContext.from_dict(case["context"]), options))
    path = _sqlite_file(tmp_path, case["sqlite"])
    with open_target(parse_target(str(path))) as target:
        if rule.scope == PLAN:
            plan = explain_sqlite(target, case["sqlite"]["statement"])
            rows = {t.name: t.n_live_tup for t in collect_database(target).tables}
            return list(rule.check(plan, PlanContext("sqlite", "fixture", table_rows=rows.get), options))
        return list(rule.check(collect_database(target), options))


@pytest.mark.parametrize(("code", "case"), list(_cases()))
def test_rule_fixture(code: str, case: dict, tmp_path: Path) -> None:
    rule = get_rule(code)
    findings = _findings(code, case, tmp_path)
    if "expect_min" in case:
        assert len(findings) >= case["expect_min"], [f.message for f in findings]
    else:
        assert len(findings) == case["expect"], [f.message for f in findings]
    for finding in findings:
        assert (finding.code, finding.name, finding.title) == (rule.code, rule.name, rule.title)
        assert finding.message and finding.suggestion and finding.evidence
        json.dumps(finding.to_dict())  # JSON-serialisable as --format json emits it
    if findings and "evidence" in case:
        for key, value in case["evidence"].items():
            assert findings[0].evidence[key] == value, (key, findings[0].evidence)
    if "suggestion_contains" in case:
        assert any(case["suggestion_contains"] in f.suggestion for f in findings), [f.suggestion for f in findings]


def test_every_rule_has_a_fixture_with_passing_and_failing_cases() -> None:
    for rule in all_rules():
        if not rule.code.startswith(OWN_PREFIXES):
            continue
        path = FIXTURES / f"{rule.code}.json"
        assert path.exists(), f"{rule.code} has no fixture"
        cases = json.loads(path.read_text())["cases"]
        assert any(c.get("expect", 1) == 0 for c in cases), f"{rule.code}: no passing case"
        assert any(c.get("expect", 0) > 0 or c.get("expect_min", 0) > 0 for c in cases), f"{rule.code}: no failing case"


def test_rules_are_documented_and_codes_stable() -> None:
    rules = [r for r in all_rules() if r.code.startswith(OWN_PREFIXES)]
    assert [r.code for r in rules] == [
        "QP101",
        "QP102",
        "QP103",
        "QP104",
        "QP105",
        "QP201",
        "QP202",
        "QP203",
        "QP204",
        "QP301",
        "QP401",
        "QP402",
    ]
    names = [r.name for r in all_rules()]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule.severity in ("info", "warning", "error")
        assert "Anti-pattern" in rule.doc and "Fix" in rule.doc, rule.code
        assert "." in rule.name and rule.title and "\n" not in rule.title
