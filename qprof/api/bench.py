"""``qprof.api.bench.bench``: a workload timed N times per statement (P50/P95/P99), as ``qprof bench``
and ``qprof baseline save/check --workload`` use it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qprof.api.base import Result
from qprof.api.session import Database, session
from qprof.errors import QprofError

if TYPE_CHECKING:  # qprof.runner brings sqlglot: imported where it runs
    from qprof.runner import Skipped


@dataclass
class BenchResult(Result):
    """What :func:`bench` returns; ``to_dict()`` is ``qprof bench --format json``."""

    target: str
    workload: str
    runs: int
    warmup: int
    statements: list[Any]  # qprof.history.baselines.BenchResult per statement
    skipped: list[Skipped] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "workload": self.workload,
            "runs": self.runs,
            "warmup": self.warmup,
            "statements": [r.to_dict() for r in self.statements],
            "skipped": [s.to_dict() for s in self.skipped],
        }


def bench(
    db: Database = None,
    *,
    workload: str | Path,
    runs: int = 20,
    warmup: int = 1,
    profile: str | None = None,
    statement_timeout: str | float = "30s",
    allow_functions: str | Sequence[str] | None = None,
    on_progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> BenchResult:
    """Time every statement of ``workload`` ``runs`` times after ``warmup`` unmeasured runs (DML in
    rolled-back transactions). A statement qprof.safety does not clear is skipped with the reason
    (nothing of it runs) and ``warn`` hears why; raises :class:`qprof.errors.QprofError` when none
    could be timed."""
    from qprof.arguments import at_least
    from qprof.history.baselines import bench_workload
    from qprof.workload import load_workload

    at_least("--runs", runs, 1)
    at_least("--warmup", warmup, 0)
    statements = load_workload(workload)
    with session(db, profile=profile, statement_timeout=statement_timeout, allow_functions=allow_functions) as target:
        description = target.describe()
        results, skipped = bench_workload(target, statements, runs, warmup=warmup, on_progress=(lambda s: on_progress(s.name)) if on_progress else None)
    for item in skipped if warn else ():
        warn(f"skipped {item.statement}: {item.reason}")
    if not results:
        raise QprofError(f"no statement of {workload} could be timed", hint="see the warnings above")
    return BenchResult(description, str(workload), runs, warmup, list(results), list(skipped))
