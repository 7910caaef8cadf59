"""One module per command group; each exposes ``register(app)`` and has its commands listed in
:data:`qprof.cli.lazy.COMMANDS` (the CLI imports a module only when one of its commands runs;
tests/test_startup.py prints the table to paste when it is stale). Heavy imports (pandas,
matplotlib, sqlglot, psycopg) belong inside command functions so ``qprof --help`` and ``qprof top`` stay fast."""
