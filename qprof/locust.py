"""The Locust plugin: the database side of a Locust run, reported beside Locust's own.

Import it in a locustfile (``import qprof.locust``); it adds options to Locust's command line::

    locust -f locustfile.py --headless -u 200 -r 20 -t 5m --host https://staging \\
        --qprof-db postgresql://qprof@db/shop --qprof-log /var/log/postgresql/pg.log \\
        --qprof-slo "p95<100ms" --html report.html

``test_start`` opens a window (a snapshot and the log's end), ``test_stop`` closes it, writes
``report-qprof.html``/``.md``/``.json`` beside Locust's ``--html`` file (or its ``--csv``
prefix, else ``qprof-record-<name>.*`` in the current folder) and sets
``environment.process_exit_code = 1`` when an SLO broke. Only the master (or a local runner)
records; workers do nothing. Without ``--qprof-db`` the plugin stays idle.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from locust import events
from locust.runners import WorkerRunner

logger = logging.getLogger("qprof")
_state: dict[str, Any] = {}


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("qprof", "Record the database side of this test (qprof record).")
    group.add_argument("--qprof-db", default="", help="Database to record (postgresql://… or 'host=… dbname=…'). Without it qprof stays idle.")
    group.add_argument(
        "--qprof-slo", action="append", default=[], help="SLO gate, repeatable, e.g. 'p95<100ms' or 'window:p99<1s'; a broken one makes Locust exit 1."
    )
    group.add_argument(
        "--qprof-slo-unmeasured",
        choices=("fail", "ok"),
        default="fail",
        help="An SLO that cannot be checked (no log, nothing measured): fail the test (default) or pass.",
    )
    group.add_argument("--qprof-log", default="", help="The server's log file, for measured P50/P95/P99.")
    group.add_argument("--qprof-store", default="", help="History store (default: qprof's, e.g. $QPROF_STORE).")
    group.add_argument("--qprof-name", default="", help="Store the run under this name (for qprof compare).")


def _options(environment: Any) -> Any:
    return getattr(environment, "parsed_options", None)


def _request(options: Any) -> Any:
    from qprof.config import load_config
    from qprof.history.cli import store_location
    from qprof.record.run import RecordRequest
    from qprof.record.slo import parse_slos, slos_from_config

    slos = parse_slos([*slos_from_config(load_config().settings), *(options.qprof_slo or [])])
    return RecordRequest(
        db=options.qprof_db,
        profile=None,
        statement_timeout="30s",
        store=store_location(options.qprof_store or None),
        slos=slos,
        command=None,
        name=options.qprof_name or None,
        log=options.qprof_log or None,
        quiet=True,
        origin="a Locust test (qprof.locust plugin)",
        slo_unmeasured_ok=getattr(options, "qprof_slo_unmeasured", "fail") == "ok",
    )


@events.init.add_listener
def _check_options(environment: Any, **_kwargs: Any) -> None:
    """Refuse a bad SLO before the test starts, with the grammar (exit 2)."""
    options = _options(environment)
    if options is None or not getattr(options, "qprof_db", ""):
        return
    from qprof.errors import QprofError

    try:
        _request(options)
    except QprofError as exc:
        sys.stderr.write(f"error: {exc.message}\n" + (f"hint: {exc.hint}\n" if exc.hint else ""))
        sys.exit(2)
    # import what the window needs now: at test_start the gevent loop is blocked while it
    # runs, and a short --run-time would be spent importing pandas and matplotlib
    import matplotlib  # noqa: F401
    import pandas  # noqa: F401
    import psycopg  # noqa: F401
    import sqlalchemy  # noqa: F401

    import qprof.history.collect
    import qprof.record.report
    import qprof.reports.build
    import qprof.reports.charts
    import qprof.reports.files  # noqa: F401

    _resync_clock()


def _resync_clock() -> None:
    """gevent caches the loop's time; after blocking work a timer set now (Locust's --run-time)
    would be measured from before it and fire at once."""
    import gevent

    gevent.get_hub().loop.update_now()


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kwargs: Any) -> None:
    options = _options(environment)
    if options is None or not getattr(options, "qprof_db", "") or isinstance(environment.runner, WorkerRunner):
        return
    from qprof.errors import QprofError
    from qprof.record.run import Recording

    recording = Recording(_request(options))
    try:
        recording.begin()
    except QprofError as exc:
        recording.close()
        logger.error("qprof: cannot open the window: %s", exc.message)
        environment.process_exit_code = 2
        return
    _state["recording"] = recording
    _resync_clock()
    logger.info("qprof: recording run %r", recording.name)


def _report_place(options: Any, name: str) -> tuple[Path, str]:
    """Beside Locust's --html file, else its --csv prefix, else the current folder."""
    html_file = getattr(options, "html_file", None)
    if html_file:
        path = Path(html_file)
        return path.parent, f"{path.stem}-qprof"
    prefix = getattr(options, "csv_prefix", None)
    if prefix:
        path = Path(prefix)
        return path.parent, f"{path.name}_qprof"
    return Path.cwd(), f"qprof-record-{name}"


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kwargs: Any) -> None:
    recording = _state.pop("recording", None)
    if recording is None:
        return
    from qprof.reports.files import write_report_files
    from qprof.errors import QprofError
    from qprof.history.store import utcnow
    from qprof.reports.charts import render_charts

    try:
        outcome = recording.finish()
        folder, stem = _report_place(_options(environment), recording.name)
        charts = render_charts(outcome.series)
        written = write_report_files(folder, stem, outcome.document, charts, utcnow().strftime("%Y-%m-%d %H:%M"), with_json=True)
    except QprofError as exc:
        logger.error("qprof: %s", exc.message)
        environment.process_exit_code = 2
        return
    finally:
        recording.close()
    logger.info("qprof: run %r report: %s", recording.name, ", ".join(str(p) for p in written))
    for verdict in outcome.verdicts:
        for item in verdict.broken[:5]:
            logger.error("qprof: SLO broken: %s — %s %s", verdict.slo.text, verdict.slo.show(item["value"], item.get("below_ms")), item["statement"][:80])
        if not verdict.checked:
            logger.error("qprof: SLO not checked: %s — %s", verdict.slo.text, verdict.unchecked_reason)
    if outcome.exit_code:  # a broken SLO, or one that could not be checked (unless --qprof-slo-unmeasured ok)
        environment.process_exit_code = 1
