"""One module per command group; each exposes ``register(app)``. Heavy imports (pandas,
matplotlib) belong inside command functions so ``qprof --help`` and ``qprof top`` stay fast."""
