"""The index advisor behind ``qprof advise``: workload → candidates (sqlglot) → what-if costs
(HypoPG, rolled-back builds, a heuristic, or a SQLite scratch copy) → Extend-style selection under
a budget → optional verification with real timings → migration files (and ``--apply``).

Entry point for code: :func:`qprof.advise.advisor.advise`.
"""
