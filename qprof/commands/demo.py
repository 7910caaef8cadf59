"""``qprof demo``: the whole story on the bundled SQLite sample, in seconds, with nothing to set up."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from qprof.cli.options import DebugOption, handle_errors
from qprof.commands.check import check_command
from qprof.commands.explain import explain_command
from qprof.commands.indexes import indexes
from qprof.commands.tables import tables
from qprof.commands.top import RankBy, top
from qprof.output import OutputFormat, console


def default_demo_path() -> Path:
    """Inside a checkout: sample_dbs/app.sqlite; otherwise under the user's data directory."""
    checkout = Path.cwd() / "sample_dbs"
    if (checkout / "__init__.py").is_file():
        return checkout / "app.sqlite"
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "qprof" / "demo.sqlite"


def bundled_workload() -> Path:
    return Path(str(resources.files("qprof.queries").joinpath("shop.sql")))


def _section(title: str) -> None:
    console.rule(title)


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
    _section(f"qprof top --db {path} --workload {workload.name} --by mean")
    top(db=str(path), workload=workload, runs=runs, by=RankBy.mean, limit=10, width=70, fmt=OutputFormat.table)
    _section(f"qprof tables --db {path}")
    tables(db=str(path), fmt=OutputFormat.table)
    _section(f"qprof indexes --db {path}")
    indexes(db=str(path), fmt=OutputFormat.table)
    slowest = f"{workload}:top_customers_in_country"
    _section(f"qprof explain --db {path} {workload.name}:top_customers_in_country --runs {runs}")
    explain_command(workload=slowest, db=str(path), runs=runs, fmt=OutputFormat.table)
    _section(f"qprof check --db {path} --workload {workload.name} --no-analyze")
    check_command(workload=str(workload), db=str(path), analyze=False)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(demo))
