"""``qprof.record``: the database side of a load test — snapshot, run the command, snapshot, report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qprof.api.base import Result
from qprof.errors import BadInput


@dataclass
class RecordResult(Result):
    """What :func:`record` returns; ``to_dict()`` is ``qprof record --format json``.

    ``exit_code``: the command's own when it failed, else 1 when an SLO broke (or could not be
    checked, unless ``slo_unmeasured_ok``), else 0. ``verdicts``: one per SLO.
    """

    data: dict[str, Any]
    series: dict[str, Any]
    exit_code: int
    verdicts: list[Any] = field(default_factory=list)  # qprof.record.slo.Verdict

    def document(self) -> dict[str, Any]:
        return self.data

    @property
    def name(self) -> str:
        return str(self.data["run"]["name"])

    def charts(self) -> dict[str, Any]:
        """``{key: (title, png bytes)}``: matplotlib charts of the window."""
        from qprof.reports.charts import render_charts

        return render_charts(self.series)


def record(
    db: str | None = None,
    *,
    command: Sequence[str] | None = None,
    duration: str | float | None = None,
    name: str | None = None,
    log: str | None = None,
    log_prefix: str | None = None,
    slos: str | Sequence[str] = (),
    slo_unmeasured_ok: bool = False,
    limit: int = 10,
    advisors: bool = True,
    store: str | None = None,
    profile: str | None = None,
    statement_timeout: str = "30s",
    quiet: bool = True,
    command_stdout_to_stderr: bool = False,
) -> RecordResult:
    """Record one window: run ``command`` (argv list) between two snapshots, or wait ``duration``
    (``"10m"`` or seconds) while the load runs elsewhere; store the run under ``name`` in the
    history ``store`` and report exactly that window.

    ``slos`` (``"p95<100ms"``, ``"window:p99<1s"``, …) add to ``slo`` under ``[record]`` in qprof.toml;
    percentiles come only from the server ``log`` (default: ``pg_current_logfile()`` when readable).
    ``advisors=False`` skips the plan rules on the window's top statements. Raises
    :class:`qprof.errors.BadInput` for a bad SLO or when neither/both of command and duration are given.
    """
    from qprof.config import load_config
    from qprof.history.location import resolve_store
    from qprof.record.run import RecordRequest
    from qprof.record.run import record as run_record
    from qprof.record.slo import parse_slos, slos_from_config
    from qprof.units import parse_duration

    from qprof.arguments import at_least, several

    at_least("--limit", limit, 1)
    config = load_config()
    parsed = parse_slos([*slos_from_config(config.settings), *(several(slos, "slos") or ())])  # BadInput naming the grammar
    if command and duration:
        raise BadInput("give either a command (after --) or --duration, not both")
    if not command and not duration:
        raise BadInput(
            "nothing to record: give the load-test command after --, or --duration 10m", hint="qprof record -d DB -- locust -f locustfile.py --headless -t 5m"
        )
    seconds = None
    if duration:
        seconds = parse_duration(duration, default_unit="s") if isinstance(duration, str) else float(duration)
        if seconds <= 0:
            raise BadInput("--duration must be more than 0")
    request = RecordRequest(
        db=db,
        profile=profile,
        statement_timeout=statement_timeout,
        store=resolve_store(store, config),
        slos=parsed,
        command=list(command) if command else None,
        duration_s=seconds,
        name=name,
        log=log,
        log_prefix=log_prefix,
        limit=limit,
        advisors=advisors,
        quiet=quiet,
        command_stdout_to_stderr=command_stdout_to_stderr,
        slo_unmeasured_ok=slo_unmeasured_ok,
    )
    outcome = run_record(request)
    return RecordResult(outcome.document, outcome.series, outcome.exit_code, list(outcome.verdicts))
