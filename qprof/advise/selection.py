"""Choose indexes for the whole workload under a budget — greedy in the spirit of Extend
(Schlosser, Kossmann, Boissier: "Efficient Scalable Multi-Attribute Index Selection Using
Recursive Strategies", ICDE 2019).

Each round considers two kinds of step: a new index (any candidate shape the statements
suggest: single columns as in Extend, and their multi-column shapes) and extending a chosen
index by one more column. The step taken is the one with the best *net* weighted cost saved (read savings minus
the write overhead of maintaining it) per byte added. Rounds stop when no step saves at least
``min_gain`` of some statement's current cost, or the budget or index count is reached.

Write overhead: every inserted row, and every update that is not HOT, adds an entry to each
index; indexing a column that UPDATEs change turns those updates from HOT into non-HOT ones.
Such candidates must save several times their cost to be taken.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from qprof.advise.candidates import Candidate, served
from qprof.advise.catalog import Catalog
from qprof.advise.whatif import WhatIf, useful_columns
from qprof.advise.workload_source import AdviseStatement
from qprof.errors import QprofError

HOT_FACTOR = 4.0  # a candidate that breaks HOT updates must save this many times its write cost
# INCLUDE columns widen an index for good; they must spare some statement at least this much
# planner cost per execution (≈ 250 random heap-page reads), not just a handful of heap fetches.
COVER_MIN_GAIN = 1000.0
SERVE_EPSILON = 0.01  # an index "serves" a statement when removing it costs ≥ 1 % more


@dataclass
class WriteLoad:
    """Rows written per table over the same period as the statement weights."""

    inserts: float = 0.0
    updates: float = 0.0  # non-HOT updates (they touch every index)
    hot_updates: float = 0.0
    updated_columns: dict[str, float] = field(default_factory=dict)  # column → updates that SET it


@dataclass
class Selection:
    chosen: list[Candidate]
    cost_before: dict[str, float]
    cost_after: dict[str, float]
    served: dict[Candidate, list[str]]
    sizes: dict[Candidate, int]
    overhead: dict[Candidate, float]
    hot_columns: dict[Candidate, list[str]]
    rounds: int = 0
    candidates: int = 0
    failed: dict[Candidate, str] = field(default_factory=dict)  # candidates whose evaluation failed (lock_timeout, …)


def write_loads(statements: Sequence[AdviseStatement], catalog: Catalog, *, from_server: bool) -> dict[tuple[str, str], WriteLoad]:
    """Per-table write volume over the same period (and in the same weights) as the read statements.

    Rows come from the workload's own INSERT/UPDATE statements: pg_stat_statements' ``rows`` when
    it is the source, else the statement weights. pg_stat_user_tables supplies the share of
    updates that are HOT today (n_tup_hot_upd / n_tup_upd): those are the ones an index on an
    updated column would turn into index-touching updates. (Its cumulative n_tup_ins/upd/del are
    not used as volumes directly: they include bulk loads and cover another time window.)
    """
    loads: dict[tuple[str, str], WriteLoad] = defaultdict(WriteLoad)
    for statement in statements:
        analysis = statement.analysis
        if analysis is None:
            continue
        volume = float(statement.rows) if statement.rows is not None else statement.weight
        for table in analysis.inserts_into:
            loads[table].inserts += volume
        for table, columns in analysis.updated_columns.items():
            relation = catalog.relations.get(table)
            hot_share = 1.0
            if relation is not None and relation.n_tup_upd:
                hot_share = relation.n_tup_hot_upd / relation.n_tup_upd
            loads[table].hot_updates += volume * hot_share
            loads[table].updates += volume * (1.0 - hot_share)
            for column in columns:
                loads[table].updated_columns[column] = loads[table].updated_columns.get(column, 0.0) + volume * hot_share
    return loads


class Selector:
    def __init__(
        self,
        statements: Sequence[AdviseStatement],
        whatif: WhatIf,
        catalog: Catalog,
        loads: dict[tuple[str, str], WriteLoad],
        *,
        min_gain: float = 0.10,
        budget: int | None = None,
        max_indexes: int | None = None,
        entry_cost: float = 1.0,
        min_abs_gain: float = 0.0,
        cover_min_gain: float = COVER_MIN_GAIN,
        on_progress: Callable[[dict], None] | None = None,
    ) -> None:
        self.statements = list(statements)
        self.failed: dict[Candidate, str] = {}
        self.whatif = whatif
        self.catalog = catalog
        self.loads = loads
        self.min_gain = min_gain
        self.budget = budget
        self.max_indexes = max_indexes
        self.entry_cost = entry_cost
        self.min_abs_gain = min_abs_gain  # measured costs (ms) are noisy: ignore gains below this
        self.cover_min_gain = cover_min_gain
        self.on_progress = on_progress or (lambda info: None)
        self.universe: set[Candidate] = set()
        for statement in self.statements:
            self.universe |= statement.candidates
        self.universe = {c for c in self.universe if not served(catalog, c)}
        self._affected: dict[Candidate, list[AdviseStatement]] = {}
        self._index_universe()

    def _index_universe(self) -> None:
        """Candidates grouped by table, and each shape's one-column-longer extensions."""
        self._by_table: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
        self._children: dict[Candidate, list[Candidate]] = defaultdict(list)
        for candidate in sorted(self.universe):
            self._by_table[candidate.table_key].append(candidate)
            if candidate.include:
                self._children[candidate.without_include()].append(candidate)  # "cover it" step
            elif len(candidate.keys) > 1:
                self._children[candidate.prefix(len(candidate.keys) - 1)].append(candidate)

    # -- bookkeeping ---------------------------------------------------------------------------
    def affected(self, candidate: Candidate) -> list[AdviseStatement]:
        """Statements whose plans the candidate can change: same table, its leading column used."""
        if candidate not in self._affected:
            lead = (candidate.table_key, candidate.keys[0].column)
            self._affected[candidate] = [s for s in self.statements if lead in useful_columns(s)]
        return self._affected[candidate]

    def overhead(self, candidate: Candidate) -> tuple[float, list[str]]:
        """Write cost of maintaining the index, and the updated columns it would make non-HOT."""
        load = self.loads.get(candidate.table_key) or WriteLoad()
        relation = self.catalog.relations.get(candidate.table_key)
        stored = candidate.all_columns
        width = sum((relation.columns[c].avg_width or 8) if relation and c in relation.columns else 8 for c in stored)
        per_entry = self.entry_cost * (1.0 + width / 64.0)
        if self.catalog.engine == "sqlite":
            # No HOT in SQLite: an UPDATE touches an index only when it sets one of its columns.
            touched = max((load.updated_columns.get(c, 0.0) for c in stored), default=0.0)
            return (load.inserts + touched) * per_entry, []
        cost = (load.inserts + load.updates) * per_entry
        hot = [c for c in stored if load.updated_columns.get(c)]  # INCLUDE columns break HOT too
        if hot:
            lost = min(max(load.updated_columns[c] for c in hot), load.hot_updates)
            indexes = len(self.catalog.indexes_on(*candidate.table_key)) + 1
            cost += lost * per_entry * indexes
        return cost, hot

    def seeds(self, chosen: list[Candidate]) -> list[Candidate]:
        """New indexes: every candidate shape not chosen yet (Extend starts from single columns only;
        also seeding with the statements' own multi-column shapes lets ``WHERE a = ? ORDER BY b``
        start at (a, b) rather than at whichever single column looks best alone)."""
        by_table: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
        for index in chosen:
            by_table[index.table_key].append(index)
        result = []
        for table, candidates in self._by_table.items():
            taken = by_table.get(table, [])
            for candidate in candidates:
                if candidate in taken or any(candidate.is_prefix_of(o) for o in taken):
                    continue
                result.append(candidate)
        return result

    def extensions(self, index: Candidate, chosen: list[Candidate]) -> list[Candidate]:
        return [c for c in self._children.get(index, []) if c not in chosen]

    # -- the greedy loop -----------------------------------------------------------------------
    def run(self) -> Selection:
        cost = self.whatif.cost
        before = {s.key: cost(s, ()) for s in self.statements}
        current = dict(before)
        chosen: list[Candidate] = []
        used_bytes = 0
        rounds = 0
        # A step's outcome depends only on the chosen indexes of its own table (and the current
        # costs of statements on it): evaluations are kept until a step on that table is taken.
        evaluated: dict[tuple[Candidate | None, Candidate], tuple | None] = {}
        while True:
            if self.max_indexes is not None and len(chosen) >= self.max_indexes:
                steps = [(old, new) for old in chosen for new in self.extensions(old, chosen)]
            else:
                steps = [(None, new) for new in self.seeds(chosen)]
                steps += [(old, new) for old in chosen for new in self.extensions(old, chosen)]
            best = None
            for old, new in steps:
                if new in self.failed:
                    continue
                if (old, new) not in evaluated:
                    try:
                        evaluated[(old, new)] = self._evaluate(old, new, chosen, current)
                    except QprofError as exc:
                        # One candidate could not be costed (--whatif build hit lock_timeout, …):
                        # skip it with the reason and go on with the others.
                        self._recover()
                        self.failed[new] = exc.message
                        evaluated[(old, new)] = None
                result = evaluated[(old, new)]
                if result is None:
                    continue
                rank, added, new_costs = result
                if self.budget is not None and used_bytes + added > self.budget:
                    continue
                if best is None or rank > best[0]:
                    best = (rank, old, new, added, new_costs)
            self.on_progress(
                {"round": rounds, "steps": len(steps), "whatif_calls": self.whatif.calls,
                 "best": None if best is None else str(best[2]), "chosen": len(chosen)}
            )
            if best is None:
                break
            _, old, new, added, new_costs = best
            if old is not None:
                chosen[chosen.index(old)] = new
            else:
                chosen.append(new)
            used_bytes += added
            current.update(new_costs)
            rounds += 1
            changed = set(new_costs)
            evaluated = {
                step: result for step, result in evaluated.items()
                if step[1].table_key != new.table_key and not any(s.key in changed for s in self.affected(step[1]))
            }
        chosen = self._prune(chosen)
        after = {s.key: self._cost_or(s, chosen, current[s.key]) for s in self.statements}
        served_by = {c: self._served(c, chosen, after) for c in chosen}
        overheads = {c: self.overhead(c) for c in chosen}
        return Selection(
            chosen=chosen,
            cost_before=before,
            cost_after=after,
            served=served_by,
            sizes={c: self.whatif.size(c) for c in chosen},
            overhead={c: overheads[c][0] for c in chosen},
            hot_columns={c: overheads[c][1] for c in chosen},
            rounds=rounds,
            candidates=len(self.universe),
            failed=dict(self.failed),
        )

    def _recover(self) -> None:
        self.whatif.recover()

    def _cost_or(self, statement: AdviseStatement, config: list[Candidate], fallback: float) -> float:
        try:
            return self.whatif.cost(statement, config)
        except QprofError:
            self._recover()
            return fallback

    def _evaluate(self, old: Candidate | None, new: Candidate, chosen: list[Candidate], current: dict[str, float]) -> tuple | None:
        """(rank, bytes added, new statement costs) of replacing ``old`` by ``new`` (or adding ``new``); None if not worth it."""
        config = [c for c in chosen if c != old] + [new]
        added = self.whatif.size(new) - (self.whatif.size(old) if old else 0)
        saved, qualifies = 0.0, False
        new_costs = {}
        for statement in self.affected(new):
            after = self.whatif.cost(statement, config)
            new_costs[statement.key] = after
            gain = current[statement.key] - after
            saved += statement.weight * gain
            floor = max(self.min_abs_gain, self.cover_min_gain if new.include else 0.0)
            if current[statement.key] > 0 and gain / current[statement.key] >= self.min_gain and gain >= floor:
                qualifies = True
        if not qualifies:
            return None
        write, hot = self.overhead(new)
        extra_write = write - (self.overhead(old)[0] if old else 0.0)
        net = saved - extra_write
        if net <= 0 or (hot and saved < HOT_FACTOR * extra_write):
            return None
        ratio = net / max(added, 8192)
        return (ratio, net, -len(new.keys), str(new)), added, new_costs

    def _served(self, index: Candidate, chosen: list[Candidate], after: dict[str, float]) -> list[str]:
        without = [c for c in chosen if c != index]
        keys = []
        for statement in self.affected(index):
            if self._cost_or(statement, without, math.inf) > after[statement.key] * (1 + SERVE_EPSILON):
                keys.append(statement.key)
        return keys

    def _prune(self, chosen: list[Candidate]) -> list[Candidate]:
        """Drop chosen indexes that later choices made useless (nothing costs more without them)."""
        changed = True
        while changed:
            changed = False
            after = {s.key: self._cost_or(s, chosen, 0.0) for s in self.statements}  # unknown: keep
            for index in list(chosen):
                if not self._served(index, chosen, after):
                    chosen = [c for c in chosen if c != index]
                    changed = True
                    break
        return chosen


def select_indexes(
    statements: Sequence[AdviseStatement],
    whatif: WhatIf,
    catalog: Catalog,
    *,
    from_server: bool,
    min_gain: float = 0.10,
    budget: int | None = None,
    max_indexes: int | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> Selection:
    """Run the greedy selection; statements whose cost cannot be evaluated must be removed before."""
    if min_gain < 0 or min_gain >= 1:
        raise QprofError("--min-gain must be between 0% and 100%")
    measured = whatif.cost_unit.startswith("ms")
    entry_cost = 0.01 if measured else 1.0
    loads = write_loads(statements, catalog, from_server=from_server)
    selector = Selector(
        statements, whatif, catalog, loads, min_gain=min_gain, budget=budget, max_indexes=max_indexes,
        entry_cost=entry_cost, min_abs_gain=0.05 if measured else 0.0, on_progress=on_progress,
    )
    return selector.run()
