"""qprof: find the database statements that cost the most, learn why, and fix them with proof."""

__version__ = "0.1.0"
