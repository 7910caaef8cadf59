"""Choose indexes for the whole workload under a budget — greedy in the spirit of Extend
(Schlosser, Kossmann, Boissier: "Efficient Scalable Multi-Attribute Index Selection Using
Recursive Strategies", ICDE 2019).

Each round considers two kinds of step: a new index (any candidate shape the statements
suggest: single columns as in Extend, and their multi-column shapes) and extending a chosen
index by one more column. The step taken is the one with the best *net* weighted cost saved (read savings minus
the write overhead of maintaining it) per byte added. Rounds stop when no step saves at least
``min_gain`` of some statement's current cost or ``WORKLOAD_MIN_GAIN`` of the workload's, or the
budget or index count is reached.

Write overhead: every inserted row, and every update that is not HOT, adds an entry to each
index; indexing a column that UPDATEs change turns those updates from HOT into non-HOT ones.
Such candidates must save several times their cost to be taken.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from qprof.advise.candidates import Candidate, Key, served
from qprof.advise.catalog import Catalog
from qprof.advise.whatif import WhatIf, useful_columns
from qprof.advise.workload_source import AdviseStatement
from qprof.errors import QprofError

HOT_FACTOR = 4.0  # a candidate that breaks HOT updates must save this many times its write cost
# INCLUDE columns widen an index for good; they must spare some statement at least this much
# planner cost per execution (≈ 250 random heap-page reads), not just a handful of heap fetches.
COVER_MIN_GAIN = 1000.0
SERVE_EPSILON = 0.01  # an index "serves" a statement when removing it costs ≥ 1 % more
LEAVE_OUT = 0.01  # a chosen index whose removal raises the workload's cost by less than this goes
# Cost a step only on statements whose ideal plan used an index on its leading column: the
# planner's own choice says which access paths matter to a statement (a large cut in what-if calls).
ONLY_IDEAL_LEADS = True
MAX_PASSES = 3  # greedy → merge/leave-one-out rounds (freed budget is offered to the greedy again)
IDEAL_PER_LEAD = 3  # candidates per (table, leading column) in a statement's ideal configuration
MAX_MERGED_INCLUDE = 4  # INCLUDE columns a merged index may carry (as candidates.MAX_INCLUDE)
# A step also qualifies when it makes the whole workload this much cheaper, even if no single
# statement gains ``min_gain``: a small saving on a statement that dominates the workload is
# worth more than a large one on a rare statement. 0.3 % is Extend's own minimal relative
# improvement (Kossmann et al., PVLDB 2020), a published default rather than a fitted constant.
WORKLOAD_MIN_GAIN = 0.003


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
    dropped: dict[Candidate, str] = field(default_factory=dict)  # picks merged or left out after the greedy, and why
    pool: int = 0  # candidates the greedy stepped among
    phase_calls: dict[str, int] = field(default_factory=dict)  # distinct what-if calls per phase (--debug)


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
        self._leads: dict[str, set[tuple[tuple[str, str], str]] | None] = {}  # per statement, from its ideal plan
        self._ideal: dict[str, float] = {}  # per statement worth indexing: its cost with every candidate
        self._unused: set[tuple[Candidate, str]] = set()  # (index, statement) whose costed plan ignored it
        self.dropped: dict[Candidate, str] = {}
        self.pool: set[Candidate] = set(self.universe)
        self._short: dict[tuple[Candidate | None, Candidate], float] = {}
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
        """Statements whose plans the candidate can change: same table, its leading column used
        (and, when the plan of the statement's ideal configuration is known, a column that plan's
        indexes lead with or hold: the planner preferred those access paths for it)."""
        if candidate not in self._affected:
            lead = (candidate.table_key, candidate.keys[0].column)
            self._affected[candidate] = [
                s for s in self.statements if lead in useful_columns(s) and (self._leads.get(s.key) is None or lead in self._leads[s.key])
            ]
        return self._affected[candidate]

    def touched(self, candidate: Candidate) -> list[AdviseStatement]:
        """Every statement whose plan the candidate could change (for costing the final set)."""
        lead = (candidate.table_key, candidate.keys[0].column)
        return [s for s in self.statements if lead in useful_columns(s)]

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
        phases: dict[str, int] = defaultdict(int)
        mark = self.whatif.calls

        def tally(phase: str) -> None:
            nonlocal mark
            phases[phase] += self.whatif.calls - mark
            mark = self.whatif.calls

        before = {s.key: cost(s, ()) for s in self.statements}
        current = dict(before)
        tally("today")
        self._restrict(self._pool(before))
        tally("ideal")

        chosen: list[Candidate] = []
        rounds = 0
        # Greedy, then the set as a set (merge overlapping picks, leave out the redundant); budget
        # that frees goes back to the greedy (without what was left out), at most a few times.
        for _ in range(MAX_PASSES):
            chosen, steps = self._greedy(chosen, current)
            rounds += steps
            tally("greedy")
            settled = self._merge(chosen)
            tally("merge")
            settled = self._leave_one_out(settled)
            tally("leave-one-out")
            if settled == chosen or (self.budget is None and self.max_indexes is None):
                # Nothing freed that another greedy pass could spend: without a budget or an index
                # limit the first pass already took every step that qualified.
                chosen = settled
                break
            chosen = settled
            current = {s.key: self._cost_or(s, chosen, current[s.key]) for s in self.statements}
            self._restrict(self.pool - set(self.dropped))
        if self.budget is not None:
            current = {s.key: self._cost_or(s, chosen, current[s.key]) for s in self.statements}
            chosen = self._refine(chosen, current)
            tally("refine")
        after = {s.key: self._cost_or(s, chosen, current[s.key]) for s in self.statements}
        served_by = {c: self._served(c, chosen, after) for c in chosen}
        tally("evidence")
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
            dropped={c: r for c, r in self.dropped.items() if c not in chosen},
            pool=len(self.pool),
            phase_calls=dict(phases),
        )

    def _greedy(self, chosen: list[Candidate], current: dict[str, float], avoid: Candidate | None = None) -> tuple[list[Candidate], int]:
        """Take the best step (new index, or a chosen one one column longer) per byte until none pays
        (never to ``avoid``: the index a shrink trial replaced)."""
        chosen = list(chosen)
        used_bytes = sum(self.whatif.size(c) for c in chosen)
        rounds = 0
        self._short = {}  # steps costed this pass that did not qualify → what they saved then
        # A step's outcome depends only on the chosen indexes of its own table (and the current
        # costs of statements on it): evaluations stay fresh until a step on that table is taken.
        # Stale ones are kept as upper bounds (lazy greedy): a step is re-costed only when its old
        # rank could still win the round, since adding indexes rarely makes another one worth more.
        fresh: dict[tuple[Candidate | None, Candidate], tuple | None] = {}
        stale: dict[tuple[Candidate | None, Candidate], tuple] = {}
        while True:
            if self.max_indexes is not None and len(chosen) >= self.max_indexes:
                steps = [(old, new) for old in chosen for new in self.extensions(old, chosen)]
            else:
                steps = [(None, new) for new in self.seeds(chosen)]
                steps += [(old, new) for old in chosen for new in self.extensions(old, chosen)]
            if self.budget is not None:
                steps = [(o, n) for o, n in steps if used_bytes + self._added(o, n) <= self.budget]
            best = None
            queue = []
            for step in steps:
                if step[1] in self.failed or step[1] == avoid:
                    continue
                if step not in fresh and step not in stale:
                    bound = self._bound(step, current)
                    if bound is not None:
                        stale[step] = (bound, None, None)  # optimistic: costed only if it could win a round
                    else:
                        fresh[step] = self._try(step, chosen, current)
                if step in fresh:
                    if fresh[step] is not None:
                        queue.append((fresh[step][0], True, step))
                elif stale[step][0][0] > 0:  # a bound of nothing saved cannot win any round
                    queue.append((stale[step][0], False, step))
            queue.sort(key=lambda item: item[0], reverse=True)
            while queue:
                rank, is_fresh, step = queue.pop(0)
                if is_fresh:
                    best = (rank, step, fresh[step])
                    break
                leader = next((item[0] for item in queue if item[1]), None)  # the best step costed so far
                result = self._try(step, chosen, current, leader)
                if result is not None and result[1] is None:
                    # Costed far enough to know it cannot beat the leader: keep the tighter bound.
                    stale[step] = result
                    queue.append((result[0], False, step))
                    queue.sort(key=lambda item: item[0], reverse=True)
                    continue
                fresh[step] = result
                stale.pop(step, None)
                if fresh[step] is not None:
                    queue.append((fresh[step][0], True, step))
                    queue.sort(key=lambda item: item[0], reverse=True)
            self.on_progress(
                {
                    "round": rounds,
                    "steps": len(steps),
                    "whatif_calls": self.whatif.calls,
                    "best": None if best is None else str(best[1][1]),
                    "chosen": len(chosen),
                }
            )
            if best is None:
                return chosen, rounds
            _, (old, new), (_, added, new_costs) = best
            if old is not None:
                chosen[chosen.index(old)] = new
            else:
                chosen.append(new)
            used_bytes += added
            previous = dict(current)
            current.update(new_costs)
            rounds += 1
            changed = set(new_costs)
            for step in list(fresh):
                if step[1].table_key == new.table_key or any(s.key in changed for s in self.affected(step[1])):
                    result = fresh.pop(step)
                    if result is not None:
                        stale[step] = self._tightened(step, result, previous, current)
                    elif step in self._short and getattr(self.whatif, "plans_pick_best", True):
                        # (Measured costs — SQLite — are exempt: its planner may ignore an index until
                        # another exists, a join's inner side, so a step saving nothing then is retried.)
                        # It did not qualify then; more indexes rarely make another worth more, so what
                        # it saved then bounds it now (not the optimistic bound from the statements'
                        # ideal costs, which would have it re-costed after every pick on its statements).
                        saved = self._short[step]
                        stale[step] = ((saved / max(self._added(*step), 8192), saved, -len(step[1].keys), str(step[1])), None, None)

    def _tightened(self, step: tuple[Candidate | None, Candidate], result: tuple, previous: dict[str, float], current: dict[str, float]) -> tuple:
        """A stale evaluation's rank as an upper bound after another step changed some of its statements'
        costs: a statement now saves at most what it saved then (more indexes rarely make another one
        worth more) and at most what is left between its current and its ideal cost. Tighter than the
        old rank, so fewer stale steps need re-costing before a fresh one wins the round."""
        (ratio, net, *tail), added, costs = result
        saved_then = saved_now = 0.0
        weights = {s.key: s.weight for s in self.affected(step[1])}
        for key, after in costs.items():
            weight = weights.get(key, 0.0)
            gain = max(previous[key] - after, 0.0)
            saved_then += weight * gain
            ideal = self._ideal.get(key)
            left = max(current[key] - ideal, 0.0) if ideal is not None else gain
            saved_now += weight * min(gain, left)
        write = saved_then - net  # the step's extra write cost, as its rank counted it
        bound = max(saved_now - write, 0.0)
        return ((bound / max(added, 8192), bound, *tail), added, costs) if bound < net else result

    def _bound(self, step: tuple[Candidate | None, Candidate], current: dict[str, float]) -> tuple | None:
        """An optimistic rank for a step never costed: no index saves a statement more than its ideal
        configuration does (every candidate at once), so Σ weight × (current − ideal cost) over the
        statements it affects, per byte, bounds it. None when some statement's ideal is unknown."""
        old, new = step
        saved = 0.0
        for statement in self.affected(new):
            ideal = self._ideal.get(statement.key)
            if ideal is None:
                if self._leads.get(statement.key) is None:
                    return None  # an evaluator that cannot read plans: cost it now
                continue  # its ideal saves less than min_gain: the step cannot qualify through it
            saved += statement.weight * max(current[statement.key] - ideal, 0.0)
        if saved <= 0:
            return (0.0, 0.0, -len(new.keys), str(new))
        return (saved / max(self._added(old, new), 8192), saved, -len(new.keys), str(new))

    def _added(self, old: Candidate | None, new: Candidate) -> int:
        return self.whatif.size(new) - (self.whatif.size(old) if old else 0)

    def _try(self, step: tuple[Candidate | None, Candidate], chosen: list[Candidate], current: dict[str, float], leader: tuple | None = None) -> tuple | None:
        old, new = step
        try:
            return self._evaluate(old, new, chosen, current, leader)
        except QprofError as exc:
            # One candidate could not be costed (--whatif build hit lock_timeout, …):
            # skip it with the reason and go on with the others.
            self._recover()
            self.failed[new] = exc.message
            return None

    # -- the candidate pool --------------------------------------------------------------------
    def _pool(self, before: dict[str, float]) -> set[Candidate]:
        """The candidates worth stepping among: per statement, the indexes the planner uses when
        every candidate of the statement that fits the budget exists at once (one what-if call),
        with their key prefixes and their forms without INCLUDE (cheaper stand-ins under a tight
        budget). A statement that even its ideal configuration cannot make ``min_gain`` cheaper, nor
        the workload ``WORKLOAD_MIN_GAIN`` cheaper, contributes nothing. Each later key column alone
        joins the pool too. Evaluators that cannot tell which indexes a plan uses keep every candidate.
        """
        pool: set[Candidate] = set()
        total = self._total(before)
        for statement in self.statements:
            own = [c for c in statement.candidates if c in self.universe]
            if self.budget is not None:
                own = [c for c in own if self.whatif.size(c) <= self.budget]
            if ONLY_IDEAL_LEADS:
                self._leads[statement.key] = set()  # until its ideal plan says otherwise
            if not own:
                continue
            config = ideal_configuration(own)
            try:
                ideal = self.whatif.cost(statement, config)
                used = self.whatif.used(statement, config)
            except QprofError:
                self._recover()
                self._leads.pop(statement.key, None)
                pool.update(own)
                continue
            was = before[statement.key]
            if (
                was <= 0
                or was - ideal < self.min_abs_gain
                or ((was - ideal) / was < self.min_gain and statement.weight * (was - ideal) < WORKLOAD_MIN_GAIN * total)
            ):
                continue
            self._ideal[statement.key] = ideal
            if used is None or not getattr(self.whatif, "plans_pick_best", True):
                self._leads.pop(statement.key, None)
                pool.update(own)
                continue
            if ONLY_IDEAL_LEADS:
                self._leads[statement.key] = {(c.table_key, k.column) for c in used for k in c.keys}
            for index in used:
                pool.add(index)
                for length in range(1, len(index.keys) + 1):
                    pool.add(index.prefix(length))
                for key in index.keys[1:]:  # a later key column alone: a smaller index the planner may take instead
                    pool.add(Candidate(index.schema, index.table, (Key(key.column),)))
        self.pool = {c for c in pool if c in self.universe}
        return self.pool

    def _restrict(self, pool: set[Candidate]) -> None:
        """Step only among the pool (the greedy's seeds and extensions)."""
        self._by_table = defaultdict(list)
        self._children = defaultdict(list)
        for candidate in sorted(pool):
            self._by_table[candidate.table_key].append(candidate)
            if candidate.include:
                self._children[candidate.without_include()].append(candidate)
            elif len(candidate.keys) > 1:
                self._children[candidate.prefix(len(candidate.keys) - 1)].append(candidate)

    def _recover(self) -> None:
        self.whatif.recover()

    def _cost_or(self, statement: AdviseStatement, config: list[Candidate], fallback: float) -> float:
        try:
            return self.whatif.cost(statement, config)
        except QprofError:
            self._recover()
            return fallback

    def _evaluate(self, old: Candidate | None, new: Candidate, chosen: list[Candidate], current: dict[str, float], leader: tuple | None = None) -> tuple | None:
        """(rank, bytes added, new statement costs) of replacing ``old`` by ``new`` (or adding ``new``); None if not worth it.

        Statements are costed in order of what they could still gain (current − ideal cost); once
        what is saved so far plus all they could still gain cannot beat ``leader`` (the best rank
        costed this round), it stops and returns (that bound, None, None) instead."""
        config = [c for c in chosen if c != old] + [new]
        added = self._added(old, new)
        saved, qualifies = 0.0, False
        new_costs = {}
        affected = self.affected(new)
        potential = {s.key: self._potential(s, current) for s in affected}
        affected = sorted(affected, key=lambda s: -potential[s.key])
        remaining = sum(potential.values())
        for statement in affected:
            if leader is not None and math.isfinite(remaining):
                bound = (saved + remaining) / max(added, 8192)
                if bound < leader[0]:
                    return (bound, saved + remaining, -len(new.keys), str(new)), None, None
            remaining -= potential[statement.key]
            ideal = self._ideal.get(statement.key)
            if self._leads.get(statement.key) is not None and (ideal is None or current[statement.key] - ideal <= LEAVE_OUT * current[statement.key]):
                continue  # within 1 % of its ideal already (or never worth it): no step can help it much
            if (new, statement.key) in self._unused:
                continue  # its plan ignored this index beside fewer others; more indexes will not change that
            after = self.whatif.cost(statement, config)
            used = self.whatif.used(statement, config)
            if used is not None and new not in used:
                if getattr(self.whatif, "plans_pick_best", True):
                    self._unused.add((new, statement.key))
                continue
            new_costs[statement.key] = after
            gain = current[statement.key] - after
            saved += statement.weight * gain
            floor = max(self.min_abs_gain, self.cover_min_gain if new.include else 0.0)
            if current[statement.key] > 0 and gain / current[statement.key] >= self.min_gain and gain >= floor:
                qualifies = True
        floor = max(self.min_abs_gain, self.cover_min_gain if new.include else 0.0)  # as for one statement
        if not qualifies and not (saved >= WORKLOAD_MIN_GAIN * self._total(current) and saved >= floor):
            self._short[(old, new)] = max(saved, 0.0)
            return None
        write, hot = self.overhead(new)
        extra_write = write - (self.overhead(old)[0] if old else 0.0)
        net = saved - extra_write
        if net <= 0 or (hot and saved < HOT_FACTOR * extra_write):
            self._short[(old, new)] = max(saved, 0.0)
            return None
        ratio = net / max(added, 8192)
        return (ratio, net, -len(new.keys), str(new)), added, new_costs

    def _total(self, costs: dict[str, float]) -> float:
        """The workload's weighted cost for the given per-statement costs."""
        return sum(s.weight * costs[s.key] for s in self.statements)

    def _potential(self, statement: AdviseStatement, current: dict[str, float]) -> float:
        """At most what any step can save on the statement now (weighted); inf when its ideal is unknown."""
        if self._leads.get(statement.key) is None:
            return math.inf
        ideal = self._ideal.get(statement.key)
        return 0.0 if ideal is None else statement.weight * max(current[statement.key] - ideal, 0.0)

    def _served(self, index: Candidate, chosen: list[Candidate], after: dict[str, float]) -> list[str]:
        without = [c for c in chosen if c != index]
        keys = []
        for statement in self._using(index, chosen, self.affected(index)):
            if self._cost_or(statement, without, math.inf) > after[statement.key] * (1 + SERVE_EPSILON):
                keys.append(statement.key)
        return keys

    def _using(self, index: Candidate, chosen: list[Candidate], statements: list[AdviseStatement]) -> list[AdviseStatement]:
        """The statements whose plan under ``chosen`` uses ``index`` (all of them where plans are not read)."""
        result = []
        for statement in statements:
            try:
                used = self.whatif.used(statement, chosen)
            except QprofError:
                self._recover()
                used = None
            if used is None or index in used:
                result.append(statement)
        return result

    # -- budget refinement -------------------------------------------------------------------
    def _narrower(self, index: Candidate) -> list[list[Candidate]]:
        """Smaller stand-ins for a pick: without its INCLUDE columns, its keys but the last, and
        those keys beside the last key alone (two narrower indexes instead of one wide one)."""
        forms: list[list[Candidate]] = []
        if index.include:
            forms.append([index.without_include()])
        elif len(index.keys) > 1:
            shorter = index.prefix(len(index.keys) - 1)
            forms.append([shorter])
            forms.append([shorter, Candidate(index.schema, index.table, (index.keys[-1],))])
        return [[c for c in form if not served(self.catalog, c)] for form in forms]

    def _marginal(self, index: Candidate, config: list[Candidate]) -> float:
        """What the workload's statements whose plans use ``index`` would pay more without it (weighted)."""
        users = self._using(index, config, self.affected(index))
        return self._workload([c for c in config if c != index], users) - self._workload(config, users)

    def _refine(self, chosen: list[Candidate], current: dict[str, float]) -> list[Candidate]:
        """Under a budget, a wide pick taken early can crowd out what the greedy would have taken
        with its bytes: try each wide pick's narrower forms (largest pick first), give the bytes
        they free to the greedy (never back to the pick), and keep the result when the workload's
        estimated cost drops. The greedy's own bounds keep a trial that frees nothing useful cheap."""
        total = self._workload(chosen)
        for index in sorted(chosen, key=lambda c: (-self.whatif.size(c), str(c))):
            if index not in chosen:
                continue
            was_free = self.budget - sum(self.whatif.size(c) for c in chosen)
            for form in self._narrower(index):
                trial = [c for c in chosen if c != index] + [c for c in form if c not in chosen]
                # Over the budget (two narrow indexes can outweigh one wide one): make room by leaving
                # out the picks that give the least per byte under the trial set.
                while trial and sum(self.whatif.size(c) for c in trial) > self.budget:
                    others = [c for c in trial if c not in form]
                    if not others:
                        break
                    trial.remove(min(others, key=lambda c: (self._marginal(c, trial) / self.whatif.size(c), str(c))))
                free = self.budget - sum(self.whatif.size(c) for c in trial)
                if not trial or free < 0:
                    continue
                if not any(was_free < self.whatif.size(c) <= free and c != index and c not in trial for c in self.pool):
                    continue  # what fits now fitted before and the greedy did not take it: it can only lose
                touched = {s.key for c in (index, *form) for s in self.touched(c)}
                trial_current = {s.key: (self._cost_or(s, trial, current[s.key]) if s.key in touched else current[s.key]) for s in self.statements}
                filled, _ = self._greedy(trial, trial_current, avoid=index)
                cost = self._workload(filled)
                if cost < total * (1 - 1e-9):
                    self.dropped[index] = f"replaced by {', '.join(map(str, form))}: its bytes serve the workload better elsewhere"
                    for other in chosen:
                        if other not in filled and other != index:
                            self.dropped[other] = f"left out for {', '.join(map(str, form))}: less saved per byte"
                    chosen, total = filled, cost
                    current.update({s.key: self._cost_or(s, chosen, current[s.key]) for s in self.statements})
                    break
        return chosen

    # -- the set as a set ----------------------------------------------------------------------
    def _workload(self, config: list[Candidate], statements: Sequence[AdviseStatement] | None = None) -> float:
        return sum(s.weight * self._cost_or(s, config, math.inf) for s in (statements if statements is not None else self.statements))

    def _merge(self, chosen: list[Candidate]) -> list[Candidate]:
        """Overlapping picks on one table — one's keys lead the other's — become the longer index
        (storing both's INCLUDE columns) when that costs the statements they touch no more than ``LEAVE_OUT``."""
        merged = True
        while merged:
            merged = False
            for a, b in itertools.permutations(chosen, 2):
                if a.table_key != b.table_key or b.keys[: len(a.keys)] != a.keys:
                    continue
                include = tuple(sorted((set(a.include) | set(b.include)) - {k.column for k in b.keys}))
                both = Candidate(b.schema, b.table, b.keys, include)
                if len(include) > MAX_MERGED_INCLUDE:
                    continue
                config = [c for c in chosen if c not in (a, b)] + [both]
                if self.budget is not None and sum(self.whatif.size(c) for c in config) > self.budget:
                    continue
                touched = self.affected(a) + [x for x in self.affected(b) if x not in self.affected(a)]
                if self._workload(config, touched) > self._workload(chosen, touched) * (1 + LEAVE_OUT):
                    continue
                reason = f"merged into {both}: its keys lead {b}'s, and one index serves both"
                self.dropped[a] = reason
                if both != b:
                    self.dropped[b] = f"merged into {both} with {a}"
                chosen = config
                merged = True
                break
        return chosen

    def _leave_one_out(self, chosen: list[Candidate]) -> list[Candidate]:
        """Drop, one at a time, the index whose removal raises the estimated cost of the workload it
        touches (the statements it could serve, weighted) least, while that is below ``LEAVE_OUT``
        (1 %): no index ships that the others make redundant. Measured on the statements it touches
        rather than on the whole workload, so a real win on a small share of the workload stays."""
        while len(chosen) > 0:
            total = self._workload(chosen)
            if not math.isfinite(total) or total <= 0:
                return chosen
            weakest = None
            for index in chosen:
                without = [c for c in chosen if c != index]
                affected = self.affected(index)
                base = self._workload(chosen, affected)
                # A plan that does not use the index costs the same without it: cost only those that do.
                users = self._using(index, chosen, affected)
                share = (self._workload(without, users) - self._workload(chosen, users)) / base if base > 0 else 0.0
                if self.min_abs_gain and all(self._cost_or(s, without, math.inf) - self._cost_or(s, chosen, math.inf) < self.min_abs_gain for s in users):
                    share = min(share, 0.0)  # measured costs: spares no statement the gain a step must show
                if weakest is None or (share, -self.whatif.size(index)) < (weakest[0], -self.whatif.size(weakest[1])):
                    weakest = (share, index)
            share, index = weakest
            if share >= LEAVE_OUT:
                return chosen
            others = [c for c in chosen if c != index and c.table_key == index.table_key]
            self.dropped[index] = f"dropped: without it the statements it could serve cost only {max(share, 0.0):.2%} more (< {LEAVE_OUT:.0%})" + (
                f"; {', '.join(map(str, others))} serve(s) its statements" if others else ""
            )
            chosen = [c for c in chosen if c != index]
        return chosen


def ideal_configuration(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates that stand for all of a statement's at once: the widest few per leading column
    (a prefix or narrower variant of one offers the planner no access path the wider one lacks, and
    hundreds of near-duplicates only slow planning down). Their prefixes come back in the pool."""
    by_lead: dict[tuple[tuple[str, str], str], list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        if not any(candidate != other and candidate.is_prefix_of(other) for other in candidates):
            by_lead[(candidate.table_key, candidate.keys[0].column)].append(candidate)
    chosen = []
    for group in by_lead.values():
        group.sort(key=lambda c: (-len(c.keys), -len(c.include), str(c)))
        chosen.extend(group[:IDEAL_PER_LEAD])
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
    writes: Sequence[AdviseStatement] | None = None,
) -> Selection:
    """Run the greedy selection; statements whose cost cannot be evaluated must be removed before.
    ``writes``: the statements whose writes load the tables (default ``statements``; also those
    skipped for costing but whose writes are known)."""
    if min_gain < 0 or min_gain >= 1:
        raise QprofError("--min-gain must be between 0% and 100%")
    measured = whatif.cost_unit.startswith("ms")
    entry_cost = 0.01 if measured else 1.0
    loads = write_loads(statements if writes is None else writes, catalog, from_server=from_server)
    selector = Selector(
        statements,
        whatif,
        catalog,
        loads,
        min_gain=min_gain,
        budget=budget,
        max_indexes=max_indexes,
        entry_cost=entry_cost,
        min_abs_gain=0.05 if measured else 0.0,
        on_progress=on_progress,
    )
    return selector.run()
