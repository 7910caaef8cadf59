"""The advisor pipeline: analyze statements → candidates → what-if costs → selection.

Statements that cannot be used are skipped with a reason and the run goes on. The result holds
everything the generator, verification and output need; nothing here writes to the database
(HypoPG's hypothetical indexes are session-local and reset afterwards).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qprof.advise.candidates import Analyzer, Candidate, candidates_for
from qprof.advise.catalog import Catalog, load_catalog
from qprof.advise.selection import Selection, select_indexes
from qprof.advise.whatif import WhatIf, make_whatif
from qprof.advise.workload_source import AdviseStatement, make_plannable
from qprof.errors import QprofError


NOTHING_TO_INDEX = ("no tables", "only catalog tables")


@dataclass
class Skip:
    """A statement the advisor could not use, why, and how much of the workload it stands for."""

    statement: str
    reason: str
    key: str | None = None
    queryid: str | None = None
    name: str | None = None
    calls: int = 0
    total_ms: float | None = None  # calls × mean time, when the source measured it
    share: float | None = None  # of the workload's time (or calls, see SkippedSummary.basis)

    @property
    def nothing_to_index(self) -> bool:
        """Skipped because there is no user table to index (``SELECT 1``, catalog queries), not a failure."""
        return self.reason in NOTHING_TO_INDEX or self.reason.endswith(": nothing to index")

    @classmethod
    def of(cls, statement: AdviseStatement, reason: str) -> Skip:
        return cls(statement.sql, reason, statement.key, statement.queryid, statement.name, statement.calls, statement.total_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "reason": self.reason,
            "key": self.key,
            "queryid": self.queryid,
            "name": self.name,
            "calls": self.calls,
            "total_ms": round(self.total_ms, 3) if self.total_ms is not None else None,
            "share": round(self.share, 4) if self.share is not None else None,
            "not_costed": not self.nothing_to_index,
        }


@dataclass
class SkippedSummary:
    """How much of the workload the advice does not cover: statements skipped and their share."""

    count: int  # statements that could not be costed (nothing-to-index skips are not counted)
    total: int
    share: float | None  # 0..1 of the workload's time (basis "time") or calls (basis "calls")
    basis: str  # "time" when every statement has a measured time, else "calls"
    nothing_to_index: int = 0

    def headline(self) -> str:
        """ "3 of 40 statements skipped — 48.7 % of the workload's time — see below"."""
        what = "time" if self.basis == "time" else "calls"
        share = f" — {self.share * 100:.1f} % of the workload's {what}" if self.share is not None else ""
        noun = "statement" if self.total == 1 else "statements"
        return f"{self.count} of {self.total} {noun} skipped{share} — not costed, no index advised for them; see below"

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "statements": self.total,
            "share": round(self.share, 4) if self.share is not None else None,
            "basis": self.basis,
            "nothing_to_index": self.nothing_to_index,
            "message": self.headline() if self.count else None,
        }


def skipped_summary(statements: Sequence[AdviseStatement], skipped: list[Skip]) -> SkippedSummary:
    """Give each skip its share of the workload (time when measured for all, else calls)."""
    timed = all(s.total_ms is not None for s in statements)
    basis = "time" if timed and statements else "calls"
    total = sum((s.total_ms or 0.0) if basis == "time" else s.weight for s in statements)
    for skip in skipped:
        part = (skip.total_ms or 0.0) if basis == "time" else float(max(skip.calls, 1))
        skip.share = part / total if total > 0 else None
    failed = [skip for skip in skipped if not skip.nothing_to_index]
    share = sum(skip.share or 0.0 for skip in failed) if total > 0 else None
    skipped.sort(key=lambda skip: (skip.nothing_to_index, -(skip.share or 0.0)))
    return SkippedSummary(len(failed), len(statements), share, basis, len(skipped) - len(failed))


@dataclass
class Advice:
    statements: list[AdviseStatement]
    skipped: list[Skip]
    selection: Selection
    catalog: Catalog
    whatif_method: str
    size_source: str
    cost_unit: str
    whatif_calls: int
    cache_hits: int
    seconds: float
    by_key: dict[str, AdviseStatement] = field(default_factory=dict)
    skipped_summary: SkippedSummary | None = None
    # where the time went (--debug): candidate analysis, what-if calls (of which server planning), the rest
    timings: dict[str, float] = field(default_factory=dict)
    whatif_work: str = ""  # the evaluator's own work beside planner calls (--debug)

    def recommendations(self) -> list[Candidate]:
        return list(self.selection.chosen)


def analyze_statements(catalog: Catalog, statements: Sequence[AdviseStatement], skipped: list[Skip]) -> list[AdviseStatement]:
    """Parse and resolve each statement; attach its tables and candidates, or skip it with the reason."""
    usable = []
    for statement in statements:
        try:
            analysis = Analyzer(catalog).analyze(statement.sql)
        except QprofError as exc:
            skipped.append(Skip.of(statement, _reason(exc.message)))
            statement.analysis = getattr(exc, "analysis", None)  # text only PostgreSQL reads: its writes still count
            continue
        statement.analysis = analysis
        statement.tables = frozenset(analysis.tables)
        statement.candidates = candidates_for(catalog, analysis)
        usable.append(statement)
    return usable


def _skip_locked(target: Any, usable: list[AdviseStatement], skipped: list[Skip]) -> list[AdviseStatement]:
    """Statements on a table another session holds ACCESS EXCLUSIVE are skipped now, with the
    reason: planning each (HypoPG, a build) would wait out lock_timeout, one statement after the
    other (89 s for a workload on one locked table)."""
    if target.engine != "postgresql":
        return usable
    from qprof.collectors.pg_catalog import locked_tables

    locked = locked_tables(target)
    if not locked:
        return usable
    kept = []
    for statement in usable:
        held = sorted(table for table in statement.tables if table in locked)
        if held:
            schema, name = held[0]
            skipped.append(Skip.of(statement, f"table {schema}.{name} is locked ACCESS EXCLUSIVE by pid {locked[held[0]]}"))
        else:
            kept.append(statement)
    return kept


def _reason(message: str) -> str:
    if message.startswith(("cannot parse", "cannot tokenize")) or message == "empty statement":
        return f"unparseable: {message}"
    return message


def advise(
    target: Any,
    statements: Sequence[AdviseStatement],
    *,
    whatif_mode: str = "auto",
    min_gain: float = 0.10,
    budget: int | None = None,
    max_indexes: int | None = None,
    from_server: bool = False,
    lock_timeout: float = 5.0,
    warn: Callable[[str], None] = lambda message: None,
    on_progress: Callable[[dict], None] | None = None,
    catalog: Catalog | None = None,
) -> Advice:
    started = time.perf_counter()
    progress = on_progress or (lambda info: None)
    catalog = catalog or load_catalog(target)
    skipped = [Skip.of(s, reason) for s, reason in make_plannable(statements, target.engine)]
    failed = {skip.key for skip in skipped}
    progress({"phase": f"analyzing {len(statements)} statement(s)"})
    usable = analyze_statements(catalog, [s for s in statements if s.key not in failed], skipped)
    analysis_seconds = time.perf_counter() - started
    whatif = make_whatif(target, catalog, whatif_mode, lock_timeout=lock_timeout, warn=warn)
    if whatif.method != "heuristic":  # the heuristic plans nothing, so it takes no lock
        usable = _skip_locked(target, usable, skipped)
    try:
        progress({"phase": f"costing {len(usable)} statement(s) as they are"})
        costed = _baseline(whatif, usable, skipped)
        selection = select_indexes(
            costed,
            whatif,
            catalog,
            from_server=from_server,
            min_gain=min_gain,
            budget=budget,
            max_indexes=max_indexes,
            on_progress=on_progress,
            writes=[s for s in statements if s.analysis is not None],  # skipped ones write too
        )
    finally:
        whatif.close()
    return Advice(
        statements=costed,
        skipped=skipped,
        selection=selection,
        catalog=catalog,
        whatif_method=whatif.method,
        size_source=whatif.size_source,
        cost_unit=whatif.cost_unit,
        whatif_calls=whatif.calls,
        cache_hits=whatif.cache_hits,
        seconds=time.perf_counter() - started,
        by_key={s.key: s for s in costed},
        skipped_summary=skipped_summary(statements, skipped),
        timings={"analysis": analysis_seconds, "whatif": whatif.seconds, "planning": whatif.planning_ms / 1000.0},
        whatif_work=whatif.work(),
    )


def recost(target: Any, advice: Advice, kept: Sequence[Candidate], *, whatif_mode: str = "auto", lock_timeout: float = 5.0) -> dict[str, float]:
    """Each statement's estimated cost with only the ``kept`` of the chosen indexes (the set --verify
    kept): the selection's "after" where every chosen index that matters to it is kept, its cost
    today where none is, and a what-if call only for the rest. (Not all of them again: the builds
    --verify ran refreshed the tables' page and row counts, which would shift every estimate.)"""
    from qprof.advise.selection import useful_columns

    from qprof.advise.whatif import maintains

    selection, keep = advice.selection, set(kept)
    result: dict[str, float] = {}
    mixed = []
    for statement in advice.statements:
        useful = useful_columns(statement)
        relevant = {c for c in selection.chosen if (c.table_key, c.keys[0].column) in useful or maintains(statement, c, advice.catalog.engine)}
        if relevant <= keep:
            result[statement.key] = selection.cost_after[statement.key]
        elif not relevant & keep:
            result[statement.key] = selection.cost_before[statement.key]
        else:
            mixed.append(statement)
    if mixed:
        whatif = make_whatif(target, advice.catalog, whatif_mode, lock_timeout=lock_timeout)
        try:
            result.update({s.key: whatif.cost(s, keep) for s in mixed})
        finally:
            whatif.close()
    return result


def _baseline(whatif: WhatIf, statements: list[AdviseStatement], skipped: list[Skip]) -> list[AdviseStatement]:
    """Cost every statement as it is today; one that cannot be explained is skipped."""
    costed = []
    for statement in statements:
        try:
            whatif.cost(statement, ())
        except QprofError as exc:
            _recover(whatif)
            skipped.append(Skip.of(statement, f"explain failed: {exc.message}"))
            continue
        costed.append(statement)
    return costed


def _recover(whatif: WhatIf) -> None:
    whatif.recover()


def recommendations(advice: Advice, engine: str) -> list:
    """The chosen indexes as Recommendations with names, DDL and per-statement evidence."""
    from qprof.advise.generator import Recommendation, StatementEvidence, create_ddl, drop_ddl, index_name

    selection = advice.selection
    taken = {index.name for index in advice.catalog.indexes}
    taken |= {rel.name for rel in advice.catalog.relations.values()}
    result = []
    for candidate in sorted(selection.chosen):
        name = index_name(candidate, taken)
        taken.add(name)
        evidence = []
        for key in selection.served.get(candidate, []):
            statement = advice.by_key[key]
            evidence.append(
                StatementEvidence(
                    key=key,
                    text=statement.sql,
                    calls=statement.calls,
                    queryid=statement.queryid,
                    name=statement.name,
                    cost_before=selection.cost_before.get(key),
                    cost_after=selection.cost_after.get(key),
                )
            )
        evidence.sort(key=lambda ev: -(ev.calls * ((ev.cost_before or 0) - (ev.cost_after or 0))))
        others = _others(advice, candidate, {ev.key for ev in evidence})
        relation = advice.catalog.relations.get(candidate.table_key)
        partitioned = engine == "postgresql" and relation is not None and relation.kind == "p"
        result.append(
            Recommendation(
                candidate=candidate,
                name=name,
                ddl=create_ddl(candidate, name, engine, concurrently=not partitioned),
                drop_ddl=drop_ddl(candidate.schema, name, engine, concurrently=not partitioned),
                engine=engine,
                partitioned=partitioned,
                size_bytes=selection.sizes[candidate],
                size_source=advice.size_source,
                write_overhead=selection.overhead[candidate],
                hot_columns=selection.hot_columns[candidate],
                statements=evidence,
                others=others,
            )
        )
    return result


MAX_OTHERS = 5  # statements on the table, not served by the index, that --verify also times


def _others(advice: Advice, candidate: Candidate, served_keys: set[str]) -> list:
    """Read statements on the index's table whose plans it may change (its leading column is one they
    use) but that it is not meant to help, and the writes that must keep it up to date: --verify
    times them to catch a plan that got worse and to charge the index its upkeep."""
    from qprof.advise.generator import StatementEvidence
    from qprof.advise.whatif import indexed_columns, maintains, useful_columns

    lead = (candidate.table_key, candidate.keys[0].column)
    indexed = indexed_columns(advice.catalog, candidate.table_key)
    found = []
    for statement in advice.statements:
        if statement.key in served_keys:
            continue
        if maintains(statement, candidate, advice.catalog.engine, indexed):
            found.append(statement)  # its write updates the index: slower with it, whatever its plan
            continue
        if lead not in useful_columns(statement) or statement.analysis is None or statement.analysis.kind != "select":
            continue  # a write that neither updates it nor is served by it gains nothing from it to check
        found.append(statement)
    found.sort(key=lambda s: -s.weight * advice.selection.cost_before.get(s.key, 0.0))
    return [
        StatementEvidence(
            key=s.key,
            text=s.sql,
            calls=s.calls,
            queryid=s.queryid,
            name=s.name,
            cost_before=advice.selection.cost_before.get(s.key),
            cost_after=advice.selection.cost_after.get(s.key),
        )
        for s in found[:MAX_OTHERS]
    ]


def drop_recommendations(catalog: Catalog, engine: str) -> list:
    """Drop migrations for unused and duplicate indexes (never ones that enforce a constraint)."""
    from qprof.advise.candidates import Key
    from qprof.advise.generator import Recommendation, drop_ddl, recreate_ddl
    from qprof.index_classes import DUPLICATE, UNUSED, classify

    result = []
    classified = classify([i for i in catalog.indexes])
    # The index a duplicate is kept for must survive even when it is itself unused.
    keepers = {(i.schema, i.covered_by) for i in classified if DUPLICATE in i.classes and i.covered_by}
    for index in classified:
        reasons = [c for c in index.classes if c in (UNUSED, DUPLICATE)]
        if not reasons or index.is_primary or index.constraint or not index.definition.upper().startswith("CREATE"):
            continue
        if DUPLICATE not in reasons and (index.schema, index.name) in keepers:
            continue
        if (index.schema, index.name) in catalog.attached_indexes:
            continue  # a partition's index attached to a parent index: only dropping the parent removes it
        partitioned = (index.schema, index.name) in catalog.partitioned_indexes
        why = "unused (no scans since statistics were reset)" if UNUSED in reasons else f"duplicate of {index.covered_by}"
        keys = tuple(Key(k.expression, k.descending) for k in index.keys)
        result.append(
            Recommendation(
                candidate=Candidate(index.schema, index.table, keys),
                name=index.name,
                ddl=drop_ddl(index.schema, index.name, engine, concurrently=not partitioned),
                drop_ddl=recreate_ddl(index.definition, engine, concurrently=not partitioned),
                engine=engine,
                partitioned=partitioned,
                size_bytes=index.size_bytes or 0,
                size_source="pg_relation_size" if engine == "postgresql" else "dbstat",
                write_overhead=0.0,
                kind="drop",
                reason=why,
            )
        )
    return result


def leftover_invalid_notes(advice: Advice, recs: Sequence) -> list[str]:
    """INVALID indexes an earlier interrupted run left (qprof's own names): say so, with the exact
    DROP, rather than silently proposing another name beside them. They cost on every write."""
    from qprof.advise.generator import drop_ddl, index_name

    if advice.catalog.engine != "postgresql":
        return []
    ours = {index_name(rec.candidate) for rec in recs}
    notes = []
    for index in advice.catalog.indexes:
        if index.valid or not (index.name in ours or index.name.startswith("qprof_")):
            continue
        concurrently = (index.schema, index.name) not in advice.catalog.partitioned_indexes
        notes.append(
            f"INVALID index {index.schema}.{index.name} on {index.qualified_table} (left by an interrupted build, "
            f"maybe an earlier qprof run) is maintained on every write but never used: "
            f"{drop_ddl(index.schema, index.name, 'postgresql', concurrently=concurrently)}"
        )
    return notes
