"""The command line. The Typer app lives in :mod:`qprof.cli.app`; this package stays empty so
command modules can import :mod:`qprof.cli.options` without building the app first."""
