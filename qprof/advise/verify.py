"""``--verify``: real before/after timings for each recommended index (for staging).

For each index: time the statements it helps (EXPLAIN ANALYZE with real parameter values, one
warm-up, median and p95 of ``runs``), build the index, time them again, then drop it (or keep
it with ``--apply``). Anything built for measurement is dropped again on error, timeout,
Ctrl-C and SIGTERM. A before/after PNG chart is written beside the migrations.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
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


def p95(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(0.95 * len(ordered) + 0.5)) - 1))]


def statement_params(target: Any, statement: AdviseStatement) -> list | None:
    """Real values for ``$n``: the workload's, else inferred from the data; None when unknown."""
    if statement.params is not None:
        return list(statement.params)
    from qprof import sqltext
    from qprof.params import infer_parameters

    if not sqltext.placeholder_count(statement.sql):
        return []
    try:
        inferred = infer_parameters(target, statement.sql)
    except QprofError:
        return None
    return list(inferred.values) if inferred is not None else None


def time_statement(target: Any, statement: AdviseStatement, params: list, runs: int) -> list[float]:
    """One warm-up, then ``runs`` EXPLAIN ANALYZE executions; execution milliseconds."""
    from qprof.plans import explain

    samples = []
    for attempt in range(runs + 1):
        plan = explain(target, statement.sql, params, analyze=True)
        if attempt:
            samples.append(float(plan.execution_ms or 0.0))
    return samples


REGRESSION_RATIO = 1.10  # "measurably slower": median after > 110 % of median before …
REGRESSION_MS = 1.0  # … and by more than this many milliseconds


def regressed(before_ms: float, after_ms: float) -> bool:
    """Whether a statement got measurably slower (medians; small differences are noise)."""
    return after_ms > before_ms * REGRESSION_RATIO and after_ms - before_ms > REGRESSION_MS


def judge(rec: Recommendation) -> str | None:
    """Net measured effect of one index over the statements timed for it (Σ calls × ms saved);
    the reason to reject it when that is negative and some statement measurably regressed."""
    timed = [ev for ev in (*rec.statements, *rec.others) if ev.ms_before is not None and ev.ms_after is not None]
    if not timed:
        return None
    for ev in timed:
        ev.regressed = regressed(ev.ms_before, ev.ms_after)  # type: ignore[arg-type]
    rec.net_ms_saved = sum(ev.calls * (ev.ms_before - ev.ms_after) for ev in timed)  # type: ignore[operator]
    worse = [ev for ev in timed if ev.regressed]
    if rec.net_ms_saved < 0 and worse:
        names = ", ".join(f"{ev.name or ev.queryid or ev.key} {ev.ms_before:,.2f}→{ev.ms_after:,.2f} ms" for ev in worse)
        return f"measured net effect is negative ({rec.net_ms_saved:,.1f} ms over the workload's calls): slower {names}"
    return None


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
    """Fill ms_before/ms_after, real size and build time on each recommendation; notes for the user.

    Besides the statements an index is meant to help, the other reads on its table whose plans it
    may change are timed too. A statement measurably slower with the index is flagged
    ``regressed``; an index whose net measured effect is negative gets ``rejected`` set and is
    never kept (not even with ``--apply``). A failure sets ``error`` on the recommendation.

    Only what the build itself created is ever dropped (see :mod:`qprof.advise.builds`); an index
    that cannot be dropped again is appended to ``leftovers`` and named in the notes with the
    exact DROP command.
    """
    notes: list[str] = []
    leftovers = leftovers if leftovers is not None else []
    params_of: dict[str, list | None] = {}
    with signals_as_interrupt(), writable_connection(target, lock_timeout=lock_timeout, build_timeout=build_timeout) as conn, \
            advisory_lock(conn, target.engine):
        for rec in recs:
            evidence = [ev for ev in (*rec.statements, *rec.others) if ev.key in statements]
            before: dict[str, list[float]] = {}
            for ev in evidence:
                statement = statements[ev.key]
                if ev.key not in params_of:
                    params_of[ev.key] = statement_params(target, statement)
                params = params_of[ev.key]
                if params is None:
                    notes.append(f"{statement.label}: no real parameter values known; not timed")
                    continue
                on_progress(f"timing {statement.label} before {rec.name}")
                try:
                    before[ev.key] = time_statement(target, statement, params, runs)
                except QprofError as exc:
                    notes.append(f"{statement.label}: timing failed: {exc.message}")
            built_ok = False
            owned = Owned()
            try:
                on_progress(f"building {rec.name}")
                rec.build_ms = build_owned(conn, rec, target.engine, owned)
                if not is_valid(conn, owned, target.engine):
                    raise QprofError(f"{rec.name} was built INVALID")
                rec.real_size_bytes = real_size(conn, owned, target.engine)
                for ev in evidence:
                    if ev.key not in before:
                        continue
                    on_progress(f"timing {statements[ev.key].label} with {rec.name}")
                    after = time_statement(target, statements[ev.key], params_of[ev.key] or [], runs)
                    ev.ms_before, ev.p95_before = statistics.median(before[ev.key]), p95(before[ev.key])
                    ev.ms_after, ev.p95_after = statistics.median(after), p95(after)
                built_ok = True
                rec.rejected = judge(rec)
                if rec.rejected:
                    notes.append(f"{rec.name} not recommended: {rec.rejected}")
                else:
                    for ev in (*rec.statements, *rec.others):
                        if ev.regressed:
                            notes.append(
                                f"{rec.name} makes {ev.name or ev.queryid or ev.key} slower "
                                f"({ev.ms_before:,.2f} → {ev.ms_after:,.2f} ms median) but saves "
                                f"{rec.net_ms_saved:,.1f} ms net over the workload's calls: kept"
                            )
            except QprofError as exc:
                rec.error = f"verification failed: {exc.message}"
                notes.append(f"{rec.name}: verification failed: {exc.message}")
            finally:
                # Error, timeout, Ctrl-C or SIGTERM: whatever was built for measuring goes again.
                # (A failed CONCURRENTLY build can leave an INVALID index behind: dropped too.)
                # So does an index whose measured net effect is negative. Nothing else is dropped.
                failure = keep_owned(conn, owned, rec, target.engine) if keep and built_ok and not rec.rejected else "not kept"
                if failure is None:
                    rec.applied, rec.valid = True, True
                elif keep and built_ok and not rec.rejected:
                    rec.error = f"keeping {rec.name} failed: {failure}"
                    notes.append(f"{rec.name}: {rec.error}")
                if owned.names:
                    left = drop_owned(conn, owned, target.engine, seconds=cleanup_seconds)
                    leftovers.extend(left)
                    notes.extend(item.message() for item in left)
    return notes


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
    for position, (_, b, a) in zip(positions, pairs):
        if a:
            ax.annotate(f"{b / a:.1f}x", (position, max(a, b)), ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["StatementEvidence", "verify", "write_chart", "p95", "judge", "regressed"]
