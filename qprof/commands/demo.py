"""``qprof demo``: the whole story on the bundled SQLite sample, in seconds, with nothing to set up."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from qprof.cli.options import DebugOption, handle_errors
from qprof.output import console


def default_demo_path() -> Path:
    """Inside a checkout: sample_dbs/app.sqlite; otherwise under the user's data directory."""
    checkout = Path.cwd() / "sample_dbs"
    if (checkout / "__init__.py").is_file():
        return checkout / "app.sqlite"
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "qprof" / "demo.sqlite"


def bundled_workload() -> Path:
    return Path(str(resources.files("qprof.queries").joinpath("shop.sql")))


def _run(*args: str) -> None:
    """Run ``qprof ARGS`` as the user would type it (the section title shows the same line)."""
    import typer.main

    from qprof.cli.app import app

    console.rule("qprof " + " ".join(args))
    code = typer.main.get_command(app).main(list(args), prog_name="qprof", standalone_mode=False)
    if code:  # a step that fails ends the demo with its exit code, as it would in a shell
        raise typer.Exit(code)


def demo(
    db: Annotated[Path | None, typer.Option("--db", "-d", help="Where the sample SQLite file lives (built if missing).")] = None,
    scale: Annotated[float, typer.Option("--scale", min=0.001, help="Sample size when building it (1.0 ≈ 1M orders).")] = 0.1,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Executions per workload statement.")] = 3,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build the sample again even if it exists.")] = False,
    debug: DebugOption = False,
) -> None:
    """Build the SQLite sample (if missing), then run top, tables, indexes, explain and check on it.

    \b
    Examples:
      qprof demo
      qprof demo --db /tmp/demo.sqlite --scale 0.02
    """
    from qprof.sample_dbs import build_sqlite

    path = db or default_demo_path()
    if rebuild or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with console.status(f"building the sample database {path} (scale {scale})…"):
            build_sqlite(path, scale=scale)
        console.print(f"built {path}", markup=False)
    workload = bundled_workload()
    _run("top", "--db", str(path), "--workload", str(workload), "--by", "mean", "--runs", str(runs), "--limit", "10", "--width", "70")
    _run("tables", "--db", str(path))
    _run("indexes", "--db", str(path))
    _run("explain", "--db", str(path), f"{workload}:top_customers_in_country", "--runs", str(runs))
    _run("check", "--db", str(path), "--workload", str(workload), "--no-analyze")


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(demo))
