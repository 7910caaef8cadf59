"""qprof: find the database statements that cost the most, learn why, and fix them with proof."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``qprof.capture`` and friends, imported on first use so ``import qprof`` stays cheap."""
    if name in ("capture", "trace_sqlite3", "NPlusOneError"):
        import qprof.nplusone as nplusone

        return getattr(nplusone, name)
    raise AttributeError(f"module 'qprof' has no attribute {name!r}")
