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
Such candidates must save several times their cost to be taken. Where the what-if measures
writes (SQLite: the write runs with the indexes it must update built), every step, merge,
leave-one-out and refinement costs the workload's writes on the index's table with it, whether
their plans use it or not, and that measured upkeep replaces the model (never counted twice).
Elsewhere (planner costs) the model counts it from the rows the writes change: pg_stat_statements'
``rows``, else the planner's estimate of the rows each execution changes, times its calls. A
candidate that would have paid on reads alone but not with its upkeep is reported as refused.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from qprof.advise.candidates import Candidate, Key, served
from qprof.advise.catalog import Catalog
from qprof.advise.whatif import WhatIf, indexed_columns, maintains, useful_columns
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
MAX_REFUSED = 3  # candidates refused for their write cost named per table (the largest read savings)
CONFIRM_RUNS = 5  # measured costs: fresh timings per set before a swap is kept (their median: 5 samples)


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


def write_loads(
    statements: Sequence[AdviseStatement],
    catalog: Catalog,
    *,
    from_server: bool,
    rows_per_call: Callable[[AdviseStatement], float | None] | None = None,
) -> dict[tuple[str, str], WriteLoad]:
    """Per-table write volume over the same period (and in the same weights) as the read statements.

    Rows come from the workload's own INSERT/UPDATE statements: pg_stat_statements' ``rows`` when
    it is the source, else the rows each execution changes by the planner's estimate
    (``rows_per_call``) times the statement weight, else the weight alone (one row per call: an
    UPDATE of 200 rows a call would count 200× too little). pg_stat_user_tables supplies the share of
    updates that are HOT today (n_tup_hot_upd / n_tup_upd): those are the ones an index on an
    updated column would turn into index-touching updates. (Its cumulative n_tup_ins/upd/del are
    not used as volumes directly: they include bulk loads and cover another time window.)
    """
    loads: dict[tuple[str, str], WriteLoad] = defaultdict(WriteLoad)
    for statement in statements:
        analysis = statement.analysis
        if analysis is None:
            continue
        per_call = rows_per_call(statement) if rows_per_call is not None and statement.rows is None else None
        volume = float(statement.rows) if statement.rows is not None else statement.weight * (per_call if per_call is not None else 1.0)
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
        self._maintaining: dict[Candidate, list[AdviseStatement]] = {}
        self._refused: dict[Candidate, tuple[float, str]] = {}  # paid on reads, not with its upkeep: (saved, why)
        self._leads: dict[str, set[tuple[tuple[str, str], str]] | None] = {}  # per statement, from its ideal plan
        self._ideal: dict[str, float] = {}  # per statement worth indexing: its cost with every candidate
        self._by_key = {s.key: s for s in self.statements}
        self._costed_with: dict[str, frozenset[Candidate]] = {}  # per statement: the indexes its current cost saw
        self._contexts: dict[str, tuple[int, frozenset[Candidate]]] = {}  # per statement: (chosen-set stamp, relevant chosen)
        self._stamp = 0
        # (statement, table) → (the chosen indexes relevant to it then, its cost with every step on the table too)
        self._tables: dict[tuple[str, tuple[str, str]], tuple[frozenset[Candidate], float]] = {}
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
        """Every statement whose cost the candidate could change (for costing the final set): whose
        plan it could change, and the writes whose measured cost includes updating it."""
        lead = (candidate.table_key, candidate.keys[0].column)
        found = [s for s in self.statements if lead in useful_columns(s)]
        return found + [s for s in self.maintaining(candidate) if s not in found]

    def maintaining(self, candidate: Candidate) -> list[AdviseStatement]:
        """The writes whose measured cost includes keeping the candidate up to date (an INSERT or
        DELETE on its table, an UPDATE setting a column it stores), whether their plans use it or
        not; none where costs are planner estimates (:meth:`overhead` models the upkeep there)."""
        if not getattr(self.whatif, "measures_writes", False):
            return []
        if candidate not in self._maintaining:
            self._maintaining[candidate] = [s for s in self.statements if maintains(s, candidate, self.catalog.engine)]
        return self._maintaining[candidate]

    def _upkeep(self, index: Candidate, config: list[Candidate], users: Sequence[AdviseStatement] = ()) -> float:
        """What keeping ``index`` up to date costs the workload's writes under ``config`` (weighted):
        measured, the writes' cost with it minus without it (except ``users``, whose plans use it:
        their difference is counted with what it saves); else the write model's estimate."""
        if not getattr(self.whatif, "measures_writes", False):
            return self.overhead(index)[0]
        without = [c for c in config if c != index]
        skip = {s.key for s in users}
        total = 0.0
        for statement in self.maintaining(index):
            if statement.key in skip:
                continue
            with_it, without_it = self._cost_or(statement, config, math.nan), self._cost_or(statement, without, math.nan)
            if math.isfinite(with_it) and math.isfinite(without_it):
                total += statement.weight * (with_it - without_it)
        return total

    def overhead(self, candidate: Candidate) -> tuple[float, list[str]]:
        """Write cost of maintaining the index by the model, and the updated columns it would make
        non-HOT; nothing where the what-if measures writes (their cost includes the upkeep)."""
        if getattr(self.whatif, "measures_writes", False):
            return 0.0, []
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
        chosen = self._swap(chosen, current)
        tally("swap")
        if self.budget is not None:
            current = {s.key: self._cost_or(s, chosen, current[s.key]) for s in self.statements}
            chosen = self._refine(chosen, current)
            tally("refine")
        after = {s.key: self._cost_or(s, chosen, current[s.key]) for s in self.statements}
        served_by = {c: self._served(c, chosen, after) for c in chosen}
        tally("evidence")
        overheads = {c: self.overhead(c) for c in chosen}
        if getattr(self.whatif, "measures_writes", False):  # the upkeep the writes' measured costs include
            by_key = {s.key: s for s in self.statements}
            overheads = {c: (max(self._upkeep(c, chosen, [by_key[k] for k in served_by[c]]), 0.0), []) for c in chosen}
        for candidate, reason in self._refusals(chosen).items():
            self.dropped.setdefault(candidate, reason)
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
        # The chosen indexes each statement's current cost was costed with: a pick can change the plan
        # of a statement it was not costed on (its ideal plan led elsewhere), whose current cost is
        # then refreshed before a step is measured against it (else that step is credited the pick's gain).
        self._mark()
        self._costed_with = {s.key: self._context(s, chosen) for s in self.statements}
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
            total = self._total(current)
            pending: dict[tuple[str, str], set[Candidate]] = defaultdict(set)  # per table: steps not costed under this set yet
            for step in steps:
                if step[1] in self.failed or step[1] == avoid:
                    continue
                if step not in fresh and step not in stale:
                    bound = self._bound(step, current, chosen, total)
                    if bound is not None:
                        stale[step] = (bound, None, None)  # optimistic: costed only if it could win a round
                    else:
                        self._refresh(step[1], chosen, current)
                        fresh[step] = self._try(step, chosen, current)
                if step in fresh:
                    if fresh[step] is not None:
                        queue.append((fresh[step][0], True, step))
                    continue
                pending[step[1].table_key].add(step[1])
                # What became known since (a table's bound, a smaller workload) may bound it lower now.
                rank = min(stale[step][0], self._bound(step, current, chosen, total) or stale[step][0])
                stale[step] = (rank, None, None)
                if rank[0] > 0:  # a bound of nothing saved cannot win any round
                    queue.append((rank, False, step))
            queue.sort(key=lambda item: item[0], reverse=True)
            while queue:
                rank, is_fresh, step = queue.pop(0)
                if is_fresh:
                    best = (rank, step, fresh[step])
                    break
                self._refresh(step[1], chosen, current)
                if self._reads_plans():
                    self._cost_tables(step[1], chosen, current, pending[step[1].table_key])  # one call per statement bounds all
                # Re-rank before costing it: a table's bound may have been learned since the queue was built.
                tighter = self._bound(step, current, chosen, total)
                if tighter is not None and tighter < rank:
                    stale[step] = (tighter, None, None)
                    if tighter[0] > 0:
                        queue.append((tighter, False, step))
                        queue.sort(key=lambda item: item[0], reverse=True)
                    continue
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
                pending[step[1].table_key].discard(step[1])
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
            self._mark()
            previous = dict(current)
            current.update(new_costs)
            rounds += 1
            for key in new_costs:
                self._costed_with[key] = self._context(self._by_key[key], chosen)
            # Statements whose plan the pick may have changed (costed or not): their steps' evaluations are stale.
            changed = set(new_costs)
            if self._reads_plans():
                changed |= {s.key for s in self.statements if self._costed_with[s.key] != self._context(s, chosen)}
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

    def _bound(self, step: tuple[Candidate | None, Candidate], current: dict[str, float], chosen: list[Candidate], total: float) -> tuple | None:
        """An optimistic rank for a step: Σ weight × (what it can save each statement it affects), per
        byte; zero when even that cannot qualify (no statement ``min_gain`` cheaper, nor the workload
        ``WORKLOAD_MIN_GAIN``). None when some statement's ideal is unknown (cost the step now).

        What a step can save a statement is bounded by ``_gain_bound``: by what all of its table's
        steps save it together beside the chosen set, once ``_cost_tables`` costed that, else by its
        ideal configuration (every candidate at once): the planner picks the cheapest plan among the
        paths it has, so adding paths never makes a statement dearer, and no single index saves more
        than a set that holds it."""
        old, new = step
        saved, qualifies = 0.0, False
        floor = max(self.min_abs_gain, self.cover_min_gain if new.include else 0.0)
        for statement in self.affected(new):
            gain = self._gain_bound(statement, new, current, chosen)
            if gain is None:
                return None  # an evaluator that cannot read plans: cost it now
            saved += statement.weight * gain
            if gain > 0 and gain >= self.min_gain * current[statement.key] and gain >= floor:
                qualifies = True
        if saved <= 0 or (self._reads_plans() and not (qualifies or (saved >= WORKLOAD_MIN_GAIN * total and saved >= floor))):
            return (0.0, 0.0, -len(new.keys), str(new))
        return (saved / max(self._added(old, new), 8192), saved, -len(new.keys), str(new))

    def _gain_bound(self, statement: AdviseStatement, new: Candidate, current: dict[str, float], chosen: list[Candidate]) -> float | None:
        """At most what a step adding ``new`` saves the statement now (unweighted; None: unknown).
        Zero where ``_evaluate`` would not count it: within ``LEAVE_OUT`` of its ideal, or its plan
        ignored ``new`` beside fewer indexes."""
        ideal = self._ideal.get(statement.key)
        if ideal is None:
            return None if self._leads.get(statement.key) is None else 0.0  # its ideal saves less than min_gain
        was = current[statement.key]
        if self._leads.get(statement.key) is None:
            return max(was - ideal, 0.0)  # measured costs (plans not read): only the ideal bounds it
        if was - ideal <= LEAVE_OUT * was or (new, statement.key) in self._unused:
            return 0.0
        table = self._table_gain(statement, new.table_key, chosen, current)
        return max(was - ideal if table is None else table, 0.0)

    def _reads_plans(self) -> bool:
        """Costs from plans the planner picked as cheapest (HypoPG, builds), not measured timings
        (SQLite): only then do the table bounds and refreshed costs hold, as the stored bounds do."""
        return getattr(self.whatif, "plans_pick_best", True)

    def _context(self, statement: AdviseStatement, chosen: list[Candidate]) -> frozenset[Candidate]:
        """The chosen indexes that can change the statement's plan (the evaluator's cache key), memoized
        until the greedy changes the chosen set (``_mark``): bounds ask for it per step and statement."""
        memo = self._contexts.get(statement.key)
        if memo is not None and memo[0] == self._stamp:
            return memo[1]
        context = self.whatif.relevant(statement, chosen)
        self._contexts[statement.key] = (self._stamp, context)
        return context

    def _mark(self) -> None:
        """The chosen set changed: memoized contexts are out of date."""
        self._stamp += 1

    def _refresh(self, new: Candidate, chosen: list[Candidate], current: dict[str, float]) -> None:
        """Re-cost, under the chosen set, the current cost of each statement a step on ``new`` would be
        measured against, where a pick changed its relevant indexes since it was costed."""
        if not self._reads_plans():
            return  # measured costs (SQLite): each re-measure is a timed run
        for statement in self.affected(new):
            context = self._context(statement, chosen)
            if self._costed_with.get(statement.key) != context:
                current[statement.key] = self._cost_or(statement, chosen, current[statement.key])
                self._costed_with[statement.key] = context

    def _table_gain(self, statement: AdviseStatement, table: tuple[str, str], chosen: list[Candidate], current: dict[str, float]) -> float | None:
        """What every step on ``table`` together saves the statement beside the chosen set, where
        ``_cost_tables`` costed it under the same relevant indexes (else None): an upper bound on
        what any one of those steps saves it, since the planner picks the cheapest plan among the
        paths it has and the set offers it every path any one step does."""
        known = self._tables.get((statement.key, table))
        if known is None:
            return None
        context, after = known
        if context != self._context(statement, chosen):
            return None  # costed beside other indexes: an index on one table can make one on another worth more
        return max(current[statement.key] - after, 0.0)

    def _cost_tables(self, new: Candidate, chosen: list[Candidate], current: dict[str, float], pending: set[Candidate]) -> None:
        """Cost, for each statement a step on ``new``'s table affects, every candidate a step on that
        table could add (those of the pool whose leading column the statement's ideal plan used,
        within the budget) beside the chosen set: one what-if call per statement bounds all the
        table's steps on it (``_table_gain``). Tiny tables are where this pays: a dimension's index
        of a few pages gets a huge optimistic bound per byte from the statements' ideal costs, yet
        together all its indexes save next to nothing. Only where it can pay: at least two steps on
        the table still to be costed on the statement (else the call would only add to the step's)."""
        table = new.table_key
        for statement in self.affected(new):
            if self._ideal.get(statement.key) is None or self._gain_bound(statement, new, current, chosen) == 0.0:
                continue
            context = self._context(statement, chosen)
            known = self._tables.get((statement.key, table))
            if known is not None and known[0] == context:
                continue
            leads = self._leads.get(statement.key)
            useful = useful_columns(statement)
            steps = [
                c
                for c in self._by_table.get(table, [])
                if (table, c.keys[0].column) in useful
                and (leads is None or (table, c.keys[0].column) in leads)
                and (self.budget is None or self.whatif.size(c) <= self.budget)
            ]
            if sum(1 for c in steps if c in pending) < 2:
                continue
            config = list(context) + [c for c in steps if c not in context]
            try:
                after = self.whatif.cost(statement, config)
            except QprofError:
                self._recover()
                continue
            self._tables[(statement.key, table)] = (context, after)

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
                ideal, used = self._ideal_cost(statement, config)
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

    def _ideal_cost(self, statement: AdviseStatement, config: list[Candidate]) -> tuple[float, frozenset[Candidate] | None]:
        """A statement's cost with every candidate of its ideal configuration, and the indexes its plan
        uses. A write measured with all of them built also pays to update those it does not need, so
        it is measured without the ones it must update too; the cheaper is its ideal, and both plans'
        indexes are worth trying (its best may need one it updates, or none)."""
        cost, used = self.whatif.cost(statement, config), self.whatif.used(statement, config)
        if not getattr(self.whatif, "measures_writes", False):
            return cost, used
        spared = list(dict.fromkeys(short for c in config if (short := self._unmaintained(statement, c)) is not None))
        if spared == list(config):
            return cost, used
        other, other_used = self.whatif.cost(statement, spared), self.whatif.used(statement, spared)
        both = None if used is None or other_used is None else used | other_used
        return min(cost, other), both

    def _unmaintained(self, statement: AdviseStatement, candidate: Candidate) -> Candidate | None:
        """The longest form of ``candidate`` the write need not update: its keys before the first one
        it sets, without INCLUDE columns it sets (``(b, c)`` for ``SET c`` → ``(b)``); None if none."""
        if not maintains(statement, candidate, self.catalog.engine):
            return candidate
        for length in range(len(candidate.keys), 0, -1):
            shorter = candidate.prefix(length)
            if not maintains(statement, shorter, self.catalog.engine):
                return shorter
        return None

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
        # writes whose measured cost changes with the step whatever their plans: costed every time
        upkeep = {s.key: s for s in (*self.maintaining(new), *(self.maintaining(old) if old else ()))}
        affected = self.affected(new)
        potential = {s.key: self._potential(s, current, new, chosen) for s in affected}
        affected = sorted(affected, key=lambda s: -potential[s.key])
        remaining = sum(potential.values())
        for statement in affected:
            if leader is not None and math.isfinite(remaining):
                bound = (saved + remaining) / max(added, 8192)
                if bound < leader[0]:
                    return (bound, saved + remaining, -len(new.keys), str(new)), None, None
            remaining -= potential[statement.key]
            writes_it = statement.key in upkeep
            ideal = self._ideal.get(statement.key)
            near_ideal = ideal is None or current[statement.key] - ideal <= LEAVE_OUT * current[statement.key]
            if not writes_it and self._leads.get(statement.key) is not None and near_ideal:
                continue  # within 1 % of its ideal already (or never worth it): no step can help it much
            if not writes_it and (new, statement.key) in self._unused:
                continue  # its plan ignored this index beside fewer others; more indexes will not change that
            after = self.whatif.cost(statement, config)
            used = self.whatif.used(statement, config)
            if used is not None and new not in used and not writes_it:
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
        # It pays on the statements it serves; now what its upkeep costs the writes on its table.
        upkeep_cost = 0.0
        for key, statement in upkeep.items():
            if key not in new_costs:
                new_costs[key] = self.whatif.cost(statement, config)
                upkeep_cost += statement.weight * (new_costs[key] - current[key])
        write, hot = self.overhead(new)
        extra_write = write - (self.overhead(old)[0] if old else 0.0)
        net = saved - upkeep_cost - extra_write
        if net <= 0 or (hot and saved < HOT_FACTOR * extra_write):
            self._short[(old, new)] = max(saved - upkeep_cost, 0.0)
            if upkeep_cost + extra_write > 0:
                self._refused[new] = (saved, self._refusal(new, saved, upkeep_cost + extra_write, hot, net > 0))
            return None
        self._refused.pop(new, None)
        ratio = net / max(added, 8192)
        return (ratio, net, -len(new.keys), str(new)), added, new_costs

    def _refusals(self, chosen: list[Candidate]) -> dict[Candidate, str]:
        """The candidates refused for their write cost worth naming: per table the ``MAX_REFUSED``
        that saved the most on reads, one per set of key columns ((d, c) stands for (c, d) and their
        covering forms), none a chosen index makes moot."""
        named: dict[Candidate, str] = {}
        seen: set[tuple[tuple[str, str], frozenset[str]]] = set()
        per_table: dict[tuple[str, str], int] = defaultdict(int)
        for candidate, (_, reason) in sorted(self._refused.items(), key=lambda item: (-item[1][0], str(item[0]))):
            group = (candidate.table_key, frozenset(k.column for k in candidate.keys))
            if candidate in chosen or any(candidate.is_prefix_of(c) for c in chosen) or group in seen or per_table[candidate.table_key] >= MAX_REFUSED:
                continue
            seen.add(group)
            per_table[candidate.table_key] += 1
            named[candidate] = reason
        return named

    def _refusal(self, index: Candidate, saved: float, upkeep: float, hot: list[str], short_of_factor: bool) -> str:
        """Why a candidate that pays on the statements it serves is not taken: what its upkeep costs."""
        unit = "ms" if getattr(self.whatif, "measures_writes", False) else "cost units"
        indexed = indexed_columns(self.catalog, index.table_key)
        writes = [s.label for s in self.statements if maintains(s, index, self.catalog.engine, indexed)]
        named = ", ".join(writes[:2]) + (f" and {len(writes) - 2} more" if len(writes) > 2 else "")
        how = "measured" if unit == "ms" else "estimated"
        why = f"refused for its write cost: it saves {saved:,.1f} {unit} over the workload's calls"
        why += f" but keeping it up to date costs the writes {upkeep:,.1f} {unit}"
        if hot:
            why += f" (it makes updates of {', '.join(hot)} non-HOT" + (f", so it must save {HOT_FACTOR:g}× that" if short_of_factor else "") + ")"
        return f"{why} ({how}; {named})"

    def _total(self, costs: dict[str, float]) -> float:
        """The workload's weighted cost for the given per-statement costs."""
        return sum(s.weight * costs[s.key] for s in self.statements)

    def _potential(self, statement: AdviseStatement, current: dict[str, float], new: Candidate | None = None, chosen: list[Candidate] | None = None) -> float:
        """At most what any step (adding ``new``, beside ``chosen``) can save on the statement now (weighted); inf when its ideal is unknown."""
        if self._leads.get(statement.key) is None:
            return math.inf
        if new is not None and chosen is not None:
            gain = self._gain_bound(statement, new, current, chosen)
            return math.inf if gain is None else statement.weight * gain
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
        """What the workload's statements whose plans use ``index`` would pay more without it, less
        what its upkeep costs the writes (weighted)."""
        users = self._using(index, config, self.affected(index))
        return self._workload([c for c in config if c != index], users) - self._workload(config, users) - self._upkeep(index, config, users)

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

    # -- measured costs: a better index of the same kind ----------------------------------------
    def _swap(self, chosen: list[Candidate], current: dict[str, float]) -> list[Candidate]:
        """Where costs are measured (SQLite), put in each pick's place the shape that serves its
        statements better: the shapes of those statements led by a column they look up by equality
        (or join on) that the pick lacks, followed by the pick's key columns (``priority = ? AND
        created_at > ? ORDER BY created_at``: (priority, created_at) for (created_at)).

        The greedy ranks steps per byte, so the one-column index wins when it is a few bytes smaller
        and nearly as fast; the two-column one is then a step that saves too few milliseconds
        (under ``min_abs_gain``) to be taken beside it. A swap adds no index, so it is kept when a
        statement gets ``min_gain`` cheaper and the workload (write upkeep included) cheaper too —
        in timings taken again, alternating between the two sets (``CONFIRM_RUNS`` each, medians),
        since the first ones were taken at other moments."""
        if getattr(self.whatif, "plans_pick_best", True):
            return chosen  # planner estimates: the greedy's own steps already compare these shapes
        for index in sorted(chosen):
            keys = {key.column for key in index.keys}
            options = {
                option
                for statement in self._using(index, chosen, self.affected(index))
                for option in statement.candidates
                if option in self.pool
                and option not in chosen
                and option.table_key == index.table_key
                and not option.include
                and option.keys[0].column not in keys
                and option.keys[0].column in _looked_up(statement, index.table_key)
                and keys <= {key.column for key in option.keys}
                and len(option.keys) <= len(index.keys) + 1
                and not served(self.catalog, option)
            }
            tried = []
            for option in options:
                config = [option if c == index else c for c in chosen]
                if self.budget is not None and sum(self.whatif.size(c) for c in config) > self.budget:
                    continue
                statements = {s.key: s for s in self.touched(index) + self.touched(option)}
                before = {key: self._cost_or(s, chosen, current[key]) for key, s in statements.items()}
                after = {key: self._cost_or(s, config, math.inf) for key, s in statements.items()}
                net = self._swap_gain(index, option, statements, before, after, 0.0)  # timings taken apart: only a screen
                if net is not None:
                    tried.append((net, option, config, statements, before, after))
            # best first; among swaps within the noise of the best, plain key directions, then the smaller index
            best = max((t[0] for t in tried), default=0.0)
            tried.sort(key=lambda t: (t[0] < best * (1 - SERVE_EPSILON), sum(k.descending for k in t[1].keys), self.whatif.size(t[1]), str(t[1])))
            for _, option, config, statements, before, after in tried[:2]:
                changed = [s for key, s in statements.items() if before[key] != after[key]]  # a plan that changed
                try:
                    confirmed = {s.key: self._retimed(s, chosen, config) for s in changed}
                except QprofError:
                    self._recover()
                    continue
                again = (dict(before, **{k: pair[0] for k, pair in confirmed.items()}), dict(after, **{k: pair[1] for k, pair in confirmed.items()}))
                if self._swap_gain(index, option, statements, *again, self.min_gain) is None:
                    continue
                chosen = config
                current.update({key: cost for key, cost in after.items() if key in current})  # the costs the cache holds
                self.dropped[index] = f"swapped for {option}: its statements run faster with it (measured again, alternating), no index more"
                break
        return chosen

    def _swap_gain(
        self, index: Candidate, option: Candidate, statements: dict[str, AdviseStatement], before: dict[str, float], after: dict[str, float], least: float
    ) -> float | None:
        """What replacing ``index`` by ``option`` saves the workload net of write upkeep; None unless
        positive with some statement more than ``least`` (a share of its cost) cheaper."""
        if not any(before[key] > 0 and (before[key] - after[key]) / before[key] > least for key in statements):
            return None
        saved = sum(s.weight * (before[key] - after[key]) for key, s in statements.items())
        net = saved - (self.overhead(option)[0] - self.overhead(index)[0])
        return net if net > 0 else None

    def _retimed(self, statement: AdviseStatement, old: list[Candidate], new: list[Candidate]) -> tuple[float, float]:
        """Medians of ``CONFIRM_RUNS`` fresh timings under ``old`` and ``new``, taken in turn (a slow
        moment of the machine hits both)."""
        first, second = [], []
        for _ in range(CONFIRM_RUNS):
            first.append(self.whatif.remeasure(statement, old))
            second.append(self.whatif.remeasure(statement, new))
        return statistics.median(first), statistics.median(second)

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
                touched = list({x.key: x for c in (a, b, both) for x in (*self.affected(c), *self.maintaining(c))}.values())
                # the write model's upkeep (planner costs): the merged index's minus the two it replaces
                upkeep = self.overhead(both)[0] - self.overhead(a)[0] - self.overhead(b)[0]
                if self._workload(config, touched) + upkeep > self._workload(chosen, touched) * (1 + LEAVE_OUT):
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
                # what it saves them, less what keeping it up to date costs the writes on its table
                upkeep = self._upkeep(index, chosen, users)
                saved = self._workload(without, users) - self._workload(chosen, users)
                share = (saved - upkeep) / base if base > 0 else 0.0
                if self.min_abs_gain and all(self._cost_or(s, without, math.inf) - self._cost_or(s, chosen, math.inf) < self.min_abs_gain for s in users):
                    share = min(share, 0.0)  # measured costs: spares no statement the gain a step must show
                if weakest is None or (share, -self.whatif.size(index)) < (weakest[0], -self.whatif.size(weakest[1])):
                    weakest = (share, index, saved, upkeep)
            share, index, saved, upkeep = weakest
            if share >= LEAVE_OUT:
                return chosen
            others = [c for c in chosen if c != index and c.table_key == index.table_key]
            if upkeep > 0 and saved - upkeep <= 0 < saved:
                unit = "ms" if getattr(self.whatif, "measures_writes", False) else "cost units"
                self.dropped[index] = (
                    f"dropped for its write cost: it saves the statements it serves {saved:,.1f} {unit} over their calls, "
                    f"keeping it up to date costs the writes on {index.qualified_table} {upkeep:,.1f} {unit}"
                )
            else:
                self.dropped[index] = f"dropped: without it the statements it could serve cost only {max(share, 0.0):.2%} more (< {LEAVE_OUT:.0%})" + (
                    f"; {', '.join(map(str, others))} serve(s) its statements" if others else ""
                )
            chosen = [c for c in chosen if c != index]
        return chosen


def _looked_up(statement: AdviseStatement, table: tuple[str, str]) -> set[str]:
    """The statement's columns of ``table`` compared by equality, IN, IS NULL or a join."""
    uses = statement.analysis.uses if statement.analysis is not None else []
    return {column for use in uses if use.relation.key == table for column in (*use.equality, *use.joins)}


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
    loads = write_loads(statements if writes is None else writes, catalog, from_server=from_server, rows_per_call=whatif.rows_written)
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
