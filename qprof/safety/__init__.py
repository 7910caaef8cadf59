"""Read-only means no side effect: what qprof may execute, decided before anything runs.

EXPLAIN ANALYZE, timed runs (``bench``, ``top --workload``, ``explain --runs``) and
``advise --verify`` timings all pass :func:`require_executable`. A statement executes only
when every function it may call — by name, through an operator, a view, a rule, a policy, a
default, a CHECK constraint, a trigger or a foreign table — is immutable/stable, on the short
list of harmless volatile functions (:mod:`qprof.safety.allowlist`), or named by the user with
``--allow-function``. Anything else gets a plain EXPLAIN and the reason.

Modules: :mod:`~qprof.safety.pg_calls` (the parse tree), :mod:`~qprof.safety.pg_resolve`
(the catalog), :mod:`~qprof.safety.sqlite` (SQLite's authorizer), :mod:`~qprof.safety.allowlist`
(the rule), :mod:`~qprof.safety.verdict` (the answer), :mod:`~qprof.safety.gate` (the gate).
"""

from __future__ import annotations

from qprof.safety.gate import execution_verdict, require_executable
from qprof.safety.verdict import CalledFunction, ExecutionRefused, Verdict

__all__ = ["CalledFunction", "ExecutionRefused", "Verdict", "execution_verdict", "require_executable"]
