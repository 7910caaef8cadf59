"""Index classification, driven by tests/fixtures/index_classes.json (one case per entry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qprof.index_classes import classify
from qprof.model import IndexInfo, IndexKey

CASES = json.loads((Path(__file__).parent / "fixtures" / "index_classes.json").read_text())


def _index(spec: dict) -> IndexInfo:
    keys = [IndexKey(k) if isinstance(k, str) else IndexKey(**k) for k in spec["keys"]]
    return IndexInfo(
        schema="public",
        table="t",
        name=spec["name"],
        method=spec.get("method", "btree"),
        keys=keys,
        include=spec.get("include", []),
        predicate=spec.get("predicate"),
        is_unique=spec.get("unique", False),
        is_primary=spec.get("primary", False),
        constraint=spec.get("constraint"),
        valid=spec.get("valid", True),
        idx_scan=spec.get("idx_scan"),
    )


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_classification(case: dict) -> None:
    result = {i.name: [i.classes, i.covered_by] for i in classify([_index(s) for s in case["indexes"]])}
    assert result == case["expect"]
