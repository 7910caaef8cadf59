"""``--verify``: real timings of the recommended indexes, measured as a set (for staging).

The whole set is built once. Then every statement an index can affect is timed, one statement at
a time, under each configuration that matters to it: *before* (none of the set's indexes on its
tables), *the set*, and *the set minus one index* for each index on its tables. An index that is
not wanted in a configuration is hidden by ``DROP INDEX`` inside a transaction that is rolled back
(PostgreSQL: on the read session, which holds an ACCESS EXCLUSIVE lock on that table while the
statement runs; SQLite: on its read-write connection), so switching costs no rebuild.

Runs are interleaved: run *r* times each configuration of a statement back to back (the order
alternates between runs) after one unmeasured warm-up round that every configuration gets alike.
A statement faster than ``BURST_MS`` runs in a burst of up to ``MAX_BURST`` executions per
configuration and run, and the run's value is the burst's fastest (noise on a busy machine only
ever adds time); medians and p95 shown are over every execution.
Run *r*'s samples are therefore paired, and an index's *marginal gain* in run *r* is
Σ calls × (ms without it − ms with the whole set) over the statements whose plan with the whole
set uses it (EXPLAIN, once per round: removing an index a plan does not use cannot change that
plan, so timing it would add only noise) and the writes that must update it whatever their plans
(an INSERT or DELETE on its table, an UPDATE setting a column it stores — on PostgreSQL any
UPDATE of the table: one that is not HOT updates every index): their slowdown is its upkeep and
lowers its gain, without raising the gain that counts as material. A saving two indexes both
provide is credited to neither, and an index no plan uses is rejected outright.

Decision rule (:func:`decide`), per index, from its N per-run marginal gains ``d``: the median of
``d`` and its distribution-free confidence interval — the order statistics ``d(k)``..``d(N+1−k)``
that hold the true median with probability ≥ ``CONFIDENCE`` whatever the noise's shape (N = 5:
smallest..largest, 94 %). ``material`` = ``MIN_SHARE`` of those statements' time without it, at least
``MIN_MS`` per call. An index is rejected only on a difference that is significant given that
spread: *negative* when the whole interval is below 0 (slower with it), *immaterial* when the whole
interval is below ``material`` (a redundant index whose partner gives the same saving); *used by no
plan* when no timed plan uses it. Kept when the whole interval is above 0 and the median ≥
``material``; kept as *unconfirmed* when the interval straddles (a borderline gain on a noisy
machine): that keeps the planner's advice instead of flipping between runs. A verdict that is not
significant either way, and a rejection on timing, first get as many runs again (once per index and
round): a rejection stands only when the interval of all 2N runs still says so. Rejections go one
at a time — the significantly negative first, then unused ones, then the largest immaterial one —
and the rest are measured again without it, so of two indexes that each give the whole saving one
is kept. Anything built is dropped again on error, timeout, Ctrl-C and SIGTERM; a
before/after PNG chart is written beside the migrations.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qprof.advise.builds import (
    Leftover,
    Owned,
    advisory_lock,
    build_owned,
    drop_owned,
    is_valid,
    keep_owned,
    real_size,
    signals_as_interrupt,
    writable_connection,
)
from qprof.advise.generator import Recommendation, StatementEvidence
from qprof.advise.workload_source import AdviseStatement
from qprof.errors import QprofError
from qprof.stats import percentile

WARMUP = 1  # unmeasured rounds before the N measured ones, the same for every configuration
CONFIDENCE = 0.90  # the median's distribution-free interval covers the true median at least this often …
MIN_SHARE = 0.01  # … and a gain is material from this share of the affected statements' time without the index …
MIN_MS = 0.05  # … or this many ms per call, whichever is larger (timer and scheduler noise is about that)
BURST_MS = 20.0  # a statement faster than this runs in bursts per configuration and run …
MAX_BURST = 5  # … of up to this many executions; the run's value is the burst's fastest

ORDER = {"negative": 0, "unused": 1, "immaterial": 2}  # which rejected index goes first; the largest among equals
RULE = (
    "per index, the per-run marginal gains (Σ calls × ms saved, the set minus it vs the set, before/after interleaved "
    f"in each run) give a median and its distribution-free {CONFIDENCE:.0%} interval (order statistics; 5 runs: smallest "
    "to largest). Rejected only when the whole interval says so: below 0 (slower with it) or below the material gain "
    f"({MIN_SHARE:.0%} of its statements' time, at least {MIN_MS:g} ms per call), or no plan uses it; kept when the "
    "whole interval is above 0 and the median is material; an interval that straddles is measured again with as many "
    "runs and, still straddling, kept as advised but unconfirmed; a rejection on timing is also measured again with "
    "as many runs and stands only when the interval of all runs still says so; with fewer than 5 runs no interval reaches "
    f"{CONFIDENCE:.0%} and nothing is rejected on timing"
)


def statement_params(target: Any, statement: AdviseStatement) -> list | None:
    """Real values for ``$n``: the workload's, else inferred from the data; None when unknown."""
    if statement.params is not None:
        return list(statement.params)
    from qprof import sqltext
    from qprof.advise.whatif.base import rows_per_call
    from qprof.params import infer_parameters

    if not sqltext.placeholder_count(statement.sql):
        return []
    try:
        inferred = infer_parameters(target, statement.sql, rows_per_call(statement))
    except QprofError:
        return None
    return list(inferred.values) if inferred is not None else None


# -- the decision ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """What the measured per-run marginal gains say about one index."""

    verdict: str  # keep | unconfirmed | immaterial | negative | unused
    gain_ms: float  # median per-run marginal gain, Σ calls × ms
    low_ms: float  # the median's distribution-free confidence interval
    high_ms: float
    material_ms: float  # the least gain that counts

    @property
    def kept(self) -> bool:
        return self.verdict in ("keep", "unconfirmed")

    @property
    def settled(self) -> bool:
        """Significant either way (more runs would not be expected to change it)."""
        return self.verdict != "unconfirmed"

    def measured(self) -> str:
        return f"{self.gain_ms:,.2f} ms (median; {CONFIDENCE:.0%} interval {self.low_ms:,.2f} to {self.high_ms:,.2f} ms, Σ over the workload's calls)"

    def reason(self) -> str:
        if self.verdict == "negative":
            return f"measured net effect is negative: {self.measured()} with the rest of the set in place"
        if self.verdict == "unused":
            return "no timed statement's plan uses it with the rest of the set in place: its marginal gain is nil"
        if self.verdict == "immaterial":
            return f"marginal gain significantly below the {self.material_ms:,.2f} ms that counts: {self.measured()} with the rest of the set in place"
        if self.verdict == "unconfirmed":
            return f"kept as advised, gain not confirmed within noise: {self.measured()} straddles 0–{self.material_ms:,.2f} ms"
        return f"marginal gain {self.measured()}"


def _median_rank(n: int, confidence: float = CONFIDENCE) -> tuple[int, float]:
    """For ``n`` ≥ 1 samples: k, the largest with P(Binomial(n, ½) < k) ≤ (1 − confidence)/2 (at least 1),
    and how often x(k)..x(n+1−k) covers the true median, 1 − 2·P(X ≤ k − 1)."""
    k, tail = 1, 0.0
    while True:
        tail += math.comb(n, k - 1) / 2**n  # P(X ≤ k − 1)
        if k + 1 > (n + 1) // 2 or tail + math.comb(n, k) / 2**n > (1 - confidence) / 2:
            return k, 1 - 2 * tail
        k += 1


def median_interval(samples: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The distribution-free confidence interval of the median: order statistics x(k)..x(N+1−k)
    (:func:`_median_rank`; at least 1: smallest..largest)."""
    ordered = sorted(samples)
    if not ordered:
        return 0.0, 0.0
    k, _ = _median_rank(len(ordered), confidence)
    return ordered[k - 1], ordered[len(ordered) - k]


def interval_coverage(n: int) -> float:
    """How often :func:`median_interval` of ``n`` samples covers the true median. Below
    :data:`CONFIDENCE` for n < 5 (n = 1: 0, n = 2: 50 %, n = 4: 87.5 %)."""
    return _median_rank(n)[1] if n >= 1 else 0.0


def decide(gains: Sequence[float], bases: Sequence[float], floor_ms: float = 0.0) -> Decision:
    """Keep, keep unconfirmed, or reject as immaterial or negative, from paired per-run gains (see
    the module doc); ``floor_ms``: the least material gain (``MIN_MS`` × the statements' calls).
    Too few runs for a 90 % interval (under 5) never reject: one noisy run must not drop an index."""
    gain = statistics.median(gains)
    low, high = median_interval(gains)
    base = statistics.median(bases) if bases else 0.0
    material = max(MIN_SHARE * base, floor_ms)
    if interval_coverage(len(gains)) < CONFIDENCE:
        verdict = "keep" if low > 0 and gain >= material else "unconfirmed"
    elif high < 0:
        verdict = "negative"
    elif high < material:
        verdict = "immaterial"
    elif low > 0 and gain >= material:
        verdict = "keep"
    else:
        verdict = "unconfirmed"
    return Decision(verdict, gain, low, high, material)


REGRESSION_RATIO = 1.10  # "measurably slower": median after > 110 % of median before …
REGRESSION_MS = 1.0  # … and by more than this many milliseconds


def regressed(before_ms: float, after_ms: float) -> bool:
    """Whether a statement got measurably slower (medians; small differences are noise)."""
    return after_ms > before_ms * REGRESSION_RATIO and after_ms - before_ms > REGRESSION_MS


def slower(before: Sequence[float], after: Sequence[float]) -> bool:
    """Paired runs: slower by a margin (:func:`regressed`) that is also significant given the spread."""
    differences = [a - b for a, b in zip(after, before, strict=True)]
    return regressed(statistics.median(before), statistics.median(after)) and median_interval(differences)[0] > 0


# -- measuring -------------------------------------------------------------------------------------
@dataclass
class _Timed:
    statement: AdviseStatement
    params: list
    modifying: bool
    relevant: list[Recommendation]  # the set's indexes that can change its plan (on its tables)
    samples: dict[frozenset[str], list[float]]  # present indexes (names) → one sample per measured run
    failed: bool = False
    uses: set[str] = field(default_factory=set)  # the set's indexes its plan uses with the whole set
    upkeep: set[str] = field(default_factory=set)  # the set's indexes its write must update (whatever its plan)
    raw: dict[frozenset[str], list[float]] = field(default_factory=dict)  # every measured execution
    burst: int = 1  # executions back to back per configuration and run (fast statements: several)


@contextmanager
def _hidden(target: Any, timed: _Timed, hide: Sequence[tuple[str, str]]) -> Iterator[Any]:
    """A rolled-back transaction in which the ``hide`` indexes are dropped; yields the connection
    (SQLite: the read-write one) on which to run the statement. Errors become QprofErrors."""
    if target.engine == "sqlite":
        import sqlite3

        from qprof.targets.sqlite import translate_error

        try:
            with target.rolled_back_transaction() as writer, target._deadline(writer):
                for _, name in hide:
                    writer.execute('DROP INDEX IF EXISTS "{}"'.format(name.replace('"', '""')))
                yield writer
        except sqlite3.Error as exc:
            raise translate_error(exc, what="statement", timeout=target.statement_timeout) from None
        return
    from psycopg import sql

    # read-write to drop the hidden indexes, and for a DML statement's own read-write savepoint
    with target.rolled_back_transaction(read_only=not (hide or timed.modifying)) as conn:
        for schema, name in hide:
            target.fetch_all(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(schema, name)), what="hiding an index for the measurement")
        if hide and not timed.modifying:
            target.fetch_all("SET TRANSACTION READ ONLY")  # the statement itself reads only
        yield conn


def _sample(target: Any, timed: _Timed, hide: Sequence[tuple[str, str]], times: int = 1) -> list[float]:
    """``times`` executions in milliseconds, back to back in one rolled-back transaction with the
    ``hide`` indexes dropped (the first one also re-plans after the schema change; a burst's
    fastest does not)."""
    with _hidden(target, timed, hide) as conn:
        if target.engine == "sqlite":
            from qprof import sqltext

            query = sqltext.to_sqlite(timed.statement.sql)
            if not timed.modifying:
                return [target._timed(conn, query, timed.params).ms for _ in range(times)]
            samples = []
            for _ in range(times):  # each DML execution undone before the next
                conn.execute("SAVEPOINT qprof_sample")
                try:
                    samples.append(target._timed(conn, query, timed.params).ms)
                finally:
                    conn.execute("ROLLBACK TO qprof_sample")
                    conn.execute("RELEASE qprof_sample")
            return samples
        from qprof.runner import timed_runs

        return [timing.ms for timing in timed_runs(target, timed.statement.sql, timed.params, times, modifying=timed.modifying)]


def _indexes_used(target: Any, timed: _Timed, hide: Sequence[tuple[str, str]]) -> set[str]:
    """The index names in the statement's plan with the ``hide`` indexes dropped."""
    with _hidden(target, timed, hide) as conn:
        if target.engine == "sqlite":
            from qprof import sqltext

            rows = conn.execute("EXPLAIN QUERY PLAN " + sqltext.to_sqlite(timed.statement.sql), tuple(timed.params)).fetchall()
            return {word.strip('"') for row in rows for word in str(row[-1]).split()}
        from qprof.plans import explain

        plan = explain(target, timed.statement.sql, timed.params, analyze=False)
        return {node.index_name for node in plan.nodes() if node.index_name}


def _configs(timed: _Timed, active: Sequence[Recommendation]) -> list[frozenset[str]]:
    """Before, the set, and the set minus each index its plan uses or its write must update, as the
    names present (on its tables). Removing an index the plan with the set does not use leaves the
    plan as it is (the planner chose it over a superset), so timing that would only add noise —
    unless the write updates it: then it costs time outside the plan."""
    present = frozenset(r.name for r in timed.relevant if r in active)
    found = [frozenset(), present, *(present - {name} for name in sorted(present & (timed.uses | timed.upkeep)))]
    return list(dict.fromkeys(found))


def _hide(timed: _Timed, active: Sequence[Recommendation], owned: dict[str, Owned], config: frozenset[str]) -> list[tuple[str, str]]:
    return [name for rec in timed.relevant if rec in active and rec.name not in config for name in owned[rec.name].names[:1]]


def _measure(
    target: Any,
    timed: Sequence[_Timed],
    active: Sequence[Recommendation],
    owned: dict[str, Owned],
    runs: int,
    notes: list[str],
    on_progress: Callable[[str], None],
    *,
    more: bool = False,
) -> None:
    """Interleaved rounds: each run times every configuration of every statement once. ``more``:
    append ``runs`` further runs to the samples already taken (same configurations, no warm-up)."""
    built_as = {name: rec.name for rec in active for _, name in owned[rec.name].names}
    for item in timed:
        if item.failed or more:
            continue
        try:
            used = _indexes_used(target, item, [])
        except QprofError as exc:
            item.failed = True
            notes.append(f"{item.statement.label}: explain failed, left out of the verification: {exc.message}")
            continue
        item.uses = {built_as[name] for name in used if name in built_as}
        item.samples = {config: [] for config in _configs(item, active)}
        item.raw = {config: [] for config in item.samples}
        item.burst = 1
    total = WARMUP + runs
    for run in range(WARMUP if more else 0, total):
        for item in timed:
            if item.failed:
                continue
            configs = list(item.samples)
            if run % 2:
                configs.reverse()  # no configuration always runs first (caches, autovacuum, …)
            stage = "warm-up" if run < WARMUP else f"run {run - WARMUP + 1}/{runs}"
            on_progress(f"timing {item.statement.label} with {len(configs) - 1} configuration(s) of the set ({stage})")
            slowest = 0.0
            for config in configs:
                try:
                    burst = _sample(target, item, _hide(item, active, owned, config), item.burst)
                except QprofError as exc:
                    item.failed = True
                    notes.append(f"{item.statement.label}: timing failed, left out of the verification: {exc.message}")
                    break
                slowest = max(slowest, *burst)
                if run >= WARMUP:
                    item.raw[config].extend(burst)
                    item.samples[config].append(min(burst))  # the least disturbed of the burst
            if run == WARMUP - 1:
                item.burst = max(1, min(MAX_BURST, math.ceil(BURST_MS / max(slowest, 0.01))))


def _measurable(rec: Recommendation, timed: Iterable[_Timed]) -> bool:
    """Whether a statement ``rec`` is meant to help was timed (without failing)."""
    meant_for = {ev.key for ev in rec.statements}
    return any(item.statement.key in meant_for and rec in item.relevant and not item.failed for item in timed)


def _gains(rec: Recommendation, timed: Sequence[_Timed], active: Sequence[Recommendation]) -> tuple[list[float], list[float], float] | None:
    """Per run: Σ calls × (ms without ``rec`` − ms with the set), and Σ calls × ms without it, over
    the statements whose plan with the set uses it (none: both empty), and ``MIN_MS`` × their calls
    (the least gain that counts, whatever their time); the writes that only update it add their
    (negative) difference to the gains, not to what counts as material. None when none of the
    statements it is meant to help was timed: the other reads on its table only tell whether it
    slows them, and judging it by those alone would reject an index for what was never measured."""
    gains: list[float] = []
    bases: list[float] = []
    floor = 0.0
    if not _measurable(rec, timed):
        return None
    upkeep: list[list[float]] = []
    for item in timed:
        if item.failed or rec not in item.relevant or rec.name not in item.uses | item.upkeep:
            continue
        present = frozenset(r.name for r in item.relevant if r in active)
        with_set, without = item.samples[present], item.samples[present - {rec.name}]
        weight = item.statement.weight
        if rec.name not in item.uses:  # a write that only keeps it up to date
            upkeep.append([weight * (b - a) for a, b in zip(with_set, without, strict=True)])
            continue
        floor += MIN_MS * weight
        for run, (a, b) in enumerate(zip(with_set, without, strict=True)):
            if run == len(gains):
                gains.append(0.0)
                bases.append(0.0)
            gains[run] += weight * (b - a)
            bases[run] += weight * b
    for costs in upkeep if gains else ():  # paired by run with the gains (same runs, interleaved); no plan uses it: unused
        for run, cost in enumerate(costs[: len(gains)]):
            gains[run] += cost
    return gains, bases, floor


def _upkeep_note(rec: Recommendation, timed: Iterable[_Timed]) -> str:
    """Which writes charged the index their upkeep (timed with and without it), for its verdict."""
    writes = [item.statement.label for item in timed if not item.failed and rec.name in item.upkeep and rec.name not in item.uses]
    if not writes:
        return ""
    return f", counting the time {', '.join(writes[:3])}{' …' if len(writes) > 3 else ''} spend(s) keeping it up to date"


def _fill_evidence(rec: Recommendation, timed: dict[str, _Timed], active: Sequence[Recommendation], runs: int) -> None:
    """Statement before → after: none of the set → the set for a kept index; without it → with it
    (the rest of the set in place) for a rejected one."""
    for ev in (*rec.statements, *rec.others):
        item = timed.get(ev.key)
        if item is None or item.failed:
            continue
        present = frozenset(r.name for r in item.relevant if r in active or r is rec)
        config = present - {rec.name} if rec.rejected else frozenset()
        before, after = item.raw.get(config), item.raw.get(present)
        if not before or not after:
            continue
        ev.ms_before, ev.p95_before = statistics.median(before), percentile(before, 0.95)
        ev.ms_after, ev.p95_after = statistics.median(after), percentile(after, 0.95)
        ev.regressed = slower(item.samples[config], item.samples[present])
        ev.params, ev.runs = list(item.params), len(item.samples[present])


def verify(
    target: Any,
    recs: Sequence[Recommendation],
    statements: dict[str, AdviseStatement],
    *,
    runs: int = 5,
    keep: bool = False,
    lock_timeout: float = 5.0,
    build_timeout: float | None = None,
    on_progress: Callable[[str], None] = lambda message: None,
    leftovers: list[Leftover] | None = None,
    cleanup_seconds: float | None = None,
) -> list[str]:
    """Build the set, time it (see the module doc), fill ms/p95 before and after, real size, build
    time and ``net_ms_saved`` (the marginal gain) on each recommendation; notes for the user.

    An index the rule does not keep gets ``rejected`` set, is dropped at once and never kept (not
    even with ``--apply``); with ``keep`` the others stay built. A failure sets ``error``. Only
    what the builds created is ever dropped (see :mod:`qprof.advise.builds`); an index that cannot
    be dropped again is appended to ``leftovers`` and named in the notes with the exact DROP.
    """
    notes: list[str] = []
    leftovers = leftovers if leftovers is not None else []
    owned: dict[str, Owned] = {}
    built: list[Recommendation] = []
    kept: set[str] = set()

    def drop(conn: Any, rec: Recommendation) -> None:
        left = drop_owned(conn, owned.pop(rec.name), target.engine, seconds=cleanup_seconds)
        leftovers.extend(left)
        notes.extend(item.message() for item in left)

    with (
        signals_as_interrupt(),
        writable_connection(target, lock_timeout=lock_timeout, build_timeout=build_timeout) as conn,
        advisory_lock(conn, target.engine),
    ):
        try:
            for rec in recs:
                owned[rec.name] = Owned()
                try:
                    on_progress(f"building {rec.name}")
                    rec.build_ms = build_owned(conn, rec, target.engine, owned[rec.name])
                    if not is_valid(conn, owned[rec.name], target.engine):
                        raise QprofError(f"{rec.name} was built INVALID")
                    rec.real_size_bytes = real_size(conn, owned[rec.name], target.engine)
                    built.append(rec)
                except QprofError as exc:
                    rec.error = f"verification failed: {exc.message}"
                    notes.append(f"{rec.name}: verification failed: {exc.message}")
                    drop(conn, rec)
            timed = _timed_statements(target, built, statements, notes)
            for rec in built:
                if not _measurable(rec, timed.values()):
                    notes.append(
                        f"{rec.name}: kept as advised, not measured: none of the statements it is meant to "
                        "help could be timed (give their values with --log or a workload's -- params:)"
                    )
            active = list(built)
            pending = list(timed.values())
            extended: set[str] = set()
            while active:
                _measure(target, pending, active, owned, runs, notes, on_progress)
                decisions = {}
                for rec in active:
                    measured = _gains(rec, timed.values(), active)
                    if measured is not None:  # else nothing it serves could be timed: kept as advised
                        decisions[rec.name] = decide(*measured) if measured[0] else Decision("unused", 0.0, 0.0, 0.0, 0.0)
                for rec in active:
                    if rec.name in decisions:
                        rec.net_ms_saved = decisions[rec.name].gain_ms
                losers = [rec for rec in active if rec.name in decisions and not decisions[rec.name].kept]
                # A verdict not yet measured twice gets once as many runs again before it is acted on:
                # a rejection (on a shared machine a load shift can move all of one set's runs together)
                # and, when nothing is rejected, an interval that straddles (a borderline verdict should
                # rest on more than one run's noise). Either stands only when the 2N-run interval says so.
                if losers:
                    again = [rec for rec in losers if decisions[rec.name].verdict != "unused" and rec.name not in extended]
                else:
                    again = [rec for rec in active if rec.name in decisions and not decisions[rec.name].settled and rec.name not in extended]
                if again:
                    extended.update(rec.name for rec in again)
                    items = [item for item in timed.values() if any(rec in item.relevant for rec in again)]
                    _measure(target, items, active, owned, runs, notes, on_progress, more=True)
                    pending = []
                    continue
                if not losers:
                    for rec in active:
                        if rec.name in decisions and decisions[rec.name].verdict == "unconfirmed":
                            notes.append(f"{rec.name}: {decisions[rec.name].reason()}")
                    break
                # One at a time: the others' marginal gains change without it.
                loser = min(losers, key=lambda r: (ORDER.get(decisions[r.name].verdict, 3), -(r.real_size_bytes or 0), r.name))
                loser.rejected = decisions[loser.name].reason() + _upkeep_note(loser, timed.values())
                _fill_evidence(loser, timed, active, runs)
                notes.append(f"{loser.name} not recommended: {loser.rejected}")
                active.remove(loser)
                drop(conn, loser)
                pending = [item for item in timed.values() if loser in item.relevant]
                extended -= {rec.name for rec in active if any(rec in item.relevant for item in pending)}
            for rec in active:
                _fill_evidence(rec, timed, active, runs)
                for ev in (*rec.statements, *rec.others):
                    if ev.regressed:
                        notes.append(
                            f"{rec.name}: {ev.name or ev.queryid or ev.key} is slower with the set "
                            f"({ev.ms_before:,.2f} → {ev.ms_after:,.2f} ms median) but {rec.name} saves "
                            f"{rec.net_ms_saved or 0:,.1f} ms net over the workload's calls: kept"
                        )
            for rec in active if keep else ():
                failure = keep_owned(conn, owned[rec.name], rec, target.engine)
                if failure is None:
                    kept.add(rec.name)
                    rec.applied, rec.valid = True, True
                else:
                    rec.error = f"keeping {rec.name} failed: {failure}"
                    notes.append(f"{rec.name}: {rec.error}")
        finally:
            # Error, timeout, Ctrl-C or SIGTERM: whatever was built for measuring goes again (a
            # failed CONCURRENTLY build can leave an INVALID index: dropped too). Nothing else is.
            for rec in recs:
                if rec.name in owned and rec.name not in kept:
                    drop(conn, rec)
    return notes


def _timed_statements(target: Any, built: Sequence[Recommendation], statements: dict[str, AdviseStatement], notes: list[str]) -> dict[str, _Timed]:
    """The statements to time (those the set's indexes serve, and the other reads on their
    tables), with the parameter values used and the indexes that can change each one's plan."""
    from qprof.plans.postgres import check_explainable, clean_sql

    found: dict[str, _Timed] = {}
    for rec in built:
        for ev in (*rec.statements, *rec.others):
            if ev.key in found or ev.key not in statements:
                continue
            statement = statements[ev.key]
            params = statement_params(target, statement)
            if params is None:
                notes.append(f"{statement.label}: no real parameter values known; not timed")
                continue
            try:
                modifying = check_explainable(clean_sql(statement.sql))
            except QprofError as exc:
                notes.append(f"{statement.label}: not timed: {exc.message}")
                continue
            found[ev.key] = _Timed(statement, params, modifying, [], {})
    for item in found.values():
        item.relevant = [
            rec
            for rec in built
            if rec.candidate.table_key in item.statement.tables or any(ev.key == item.statement.key for ev in (*rec.statements, *rec.others))
        ]
        if item.modifying:
            item.upkeep = {rec.name for rec in item.relevant if _updates(item.statement, rec)}
    return found


def _updates(statement: AdviseStatement, rec: Recommendation) -> bool:
    """Whether the write must update ``rec``'s index: it inserts or deletes on its table or sets a
    column it holds; on PostgreSQL also an UPDATE the advice listed beside it (one that sets another
    index's column: not HOT, so it adds an entry to every index — the advisor knows the catalog)."""
    from qprof.advise.whatif import maintains

    if maintains(statement, rec.candidate, "sqlite"):
        return True
    return rec.engine != "sqlite" and maintains(statement, rec.candidate, rec.engine) and any(ev.key == statement.key for ev in rec.others)


def method_note(runs: int) -> str:
    """How --verify measured, for the output and the migration headers."""
    return (
        f"measured one statement at a time: median and p95 of {runs} run(s) after {WARMUP} warm-up "
        f"(statements under {BURST_MS:g} ms: bursts of up to {MAX_BURST} executions per run, the fastest counts), "
        "before/after interleaved in each run; " + RULE
    )


def verification_summary(runs: int, recs: Sequence[Recommendation]) -> dict[str, Any]:
    """How --verify measured, and the parameter values each timed statement ran with (for the JSON)."""
    params: dict[str, Any] = {}
    for rec in recs:
        for ev in (*rec.statements, *rec.others):
            if ev.params is not None:
                params.setdefault(ev.name or str(ev.queryid or ev.key), ev.to_dict()["params"])
    return {
        "runs": runs,
        "warmup": WARMUP,
        "one_statement_at_a_time": True,
        "statistics": "median and p95 (nearest rank)",
        "rule": RULE,
        "method": method_note(runs),
        "params": params,
    }


def write_chart(recs: Sequence[Recommendation], path: Path, title: str) -> Path | None:
    """One bar pair (before/after median ms) per statement; None when nothing was timed."""
    pairs: list[tuple[str, float, float]] = []
    for rec in recs:
        for ev in (*rec.statements, *rec.others):
            if ev.ms_before is not None and ev.ms_after is not None:
                label = (ev.name or str(ev.queryid or ev.key))[:28] + f"\n[{rec.name[:28]}]"
                pairs.append((label, ev.ms_before, ev.ms_after))
    if not pairs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max(6.0, 1.2 * len(pairs) + 2)
    fig, ax = plt.subplots(figsize=(width, 4.8))
    positions = range(len(pairs))
    ax.bar([p - 0.2 for p in positions], [b for _, b, _ in pairs], 0.4, label="before", color="#c44e52")
    ax.bar([p + 0.2 for p in positions], [a for _, _, a in pairs], 0.4, label="after", color="#55a868")
    ax.set_xticks(list(positions))
    ax.set_xticklabels([label for label, _, _ in pairs], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("median execution ms (log scale)")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.legend()
    for position, (_, b, a) in zip(positions, pairs, strict=True):
        if a:
            ax.annotate(f"{b / a:.1f}x", (position, max(a, b)), ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["RULE", "Decision", "StatementEvidence", "decide", "median_interval", "method_note", "regressed", "verification_summary", "verify", "write_chart"]
