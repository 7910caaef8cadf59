"""Classify indexes as unused, duplicate, redundant or invalid — the evidence behind drop advice.

An index is *redundant* when its key columns are a leading prefix of another valid index on
the same table with the same method, expressions and predicate (the longer one serves every
lookup the shorter one does); *duplicate* when the keys are equal. Indexes that enforce
something (primary key, unique, exclusion) are never proposed for removal as unused, and are
the ones kept when two indexes are duplicates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from qprof.model import IndexInfo

UNUSED = "unused"
DUPLICATE = "duplicate"
REDUNDANT = "redundant"
INVALID = "invalid"


def _enforces(index: IndexInfo) -> bool:
    return index.is_unique or index.is_primary or index.constraint is not None


def covers(wide: IndexInfo, narrow: IndexInfo) -> bool:
    """Whether ``wide`` serves every lookup ``narrow`` serves, so ``narrow`` can go."""
    if wide is narrow or not wide.valid:
        return False
    if (wide.method, wide.predicate) != (narrow.method, narrow.predicate):
        return False
    if len(narrow.keys) > len(wide.keys) or wide.keys[: len(narrow.keys)] != narrow.keys:
        return False
    if narrow.is_unique and not (wide.is_unique and len(wide.keys) == len(narrow.keys)):
        return False  # a unique index on a prefix enforces something the wider one does not
    wide_columns = {key.expression for key in wide.keys} | set(wide.include)
    return set(narrow.include) <= wide_columns


def _keep_first(a: IndexInfo, b: IndexInfo) -> bool:
    """Of two identical indexes, keep the one that enforces a constraint, else the older name."""
    return (not _enforces(a), a.name) < (not _enforces(b), b.name)


def classify(indexes: Iterable[IndexInfo]) -> list[IndexInfo]:
    """Fill ``classes`` and ``covered_by`` on each index (in place) and return them."""
    indexes = list(indexes)
    by_table: dict[tuple[str, str], list[IndexInfo]] = defaultdict(list)
    for index in indexes:
        index.classes = []
        index.covered_by = None
        by_table[(index.schema, index.table)].append(index)
    for index in indexes:
        if not index.valid:
            index.classes.append(INVALID)
            continue
        if index.idx_scan == 0 and not _enforces(index):
            index.classes.append(UNUSED)
        for other in by_table[(index.schema, index.table)]:
            if not covers(other, index):
                continue
            if len(other.keys) == len(index.keys) and other.include == index.include:
                if _keep_first(index, other) or _enforces(index):
                    continue  # this one is the keeper of the identical pair
                index.classes.append(DUPLICATE)
            else:
                if _enforces(index):
                    continue
                index.classes.append(REDUNDANT)
            index.covered_by = other.name
            break
    return indexes
