"""The Python API (``qprof.top``, ``qprof.explain``, … in :mod:`qprof.api`): each function against
the real private cluster or a real SQLite file, and its ``to_dict()`` equal to what the CLI prints
with ``--format json`` (volatile figures such as timings left out of the comparison)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, WORKLOAD, run_workload

import qprof

# Figures that differ between two runs of the same thing (wall-clock time, measured durations).
VOLATILE = {
    "seconds",
    "execution_ms",
    "planning_ms",
    "actual_ms",
    "samples_ms",
    "median_ms",
    "p95_ms",
    "min_ms",
    "max_ms",
    "mean_ms",
    "total_ms",
    "stddev_ms",
    "taken_at",
    "snapshot",
    "timing",
    "actual_total_ms",
    "actual_startup_ms",
    "started_at",
    "ended_at",
    "window",
    "name",
}


def _stable(value: Any) -> Any:
    """``value`` without the volatile keys, at any depth."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _same_json(result: Any, printed: dict) -> None:
    """The result's document is what the CLI printed: same keys, the same stable values."""
    document = json.loads(json.dumps(result.to_dict(), default=str))  # as a script reads it back
    assert printed["schema_version"] == document["schema_version"] == qprof.SCHEMA_VERSION
    assert list(document) == list(printed)
    assert _stable(document) == _stable(printed)


def test_import_qprof_stays_cheap_and_exports_the_api_on_first_use() -> None:
    code = (
        "import sys, qprof\n"
        "heavy = [m for m in ('qprof.api.top', 'qprof.api.base', 'pandas', 'sqlglot', 'psycopg', 'sqlalchemy', 'typer') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert all(callable(getattr(qprof, n)) for n in ('top', 'explain', 'check', 'advise', 'snapshot', 'report', 'record'))\n"
        "import qprof.advise.advisor, qprof.record.run\n"  # the subpackages of the same names stay callable
        "assert callable(qprof.advise) and callable(qprof.record)\n"
        "import qprof.api.advise as api\n"
        "assert qprof.advise.advisor.advise is not api.advise\n"
        "print(qprof.SCHEMA_VERSION)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(qprof.SCHEMA_VERSION)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_module_but_the_cli_imports_a_command_module() -> None:
    """Commands are thin over qprof.api; what two of them share lives outside qprof/commands."""
    offenders = []
    for path in sorted((REPO / "qprof").rglob("*.py")):
        if path.parent.name == "cli":
            continue  # the app registers the commands
        for name in _imports(path):
            if name.startswith("qprof.commands."):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == []


def test_api_modules_keep_heavy_libraries_inside_functions() -> None:
    """Importing the API loads no database driver, parser, dataframe or chart library: each is
    imported by the function that needs it (start-up time of the CLI and of scripts)."""
    code = (
        "import sys, importlib, qprof.api\n"
        "for module in set(qprof.api.EXPORTS.values()): importlib.import_module('qprof.api.' + module)\n"
        "heavy = ('pandas', 'matplotlib', 'sqlalchemy', 'sqlglot', 'pglast', 'psycopg')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_explain_on_sqlite_returns_the_plan_the_cli_prints(cli, sample_sqlite: Path) -> None:
    sql = "SELECT * FROM orders WHERE customer_id = 42"
    result = qprof.explain(str(sample_sqlite), sql=sql, analyze=False)
    assert [d.item.sql for d in result.statements] == [sql]
    done = result.statements[0]
    assert done.kind == "select" and not done.plan.analyzed and done.plan.to_dict()
    assert result.skipped == []
    _same_json(result, cli.json("explain", "--db", sample_sqlite, "--sql", sql, "--no-analyze"))


def test_explain_times_runs_when_asked(sample_sqlite: Path) -> None:
    result = qprof.explain(str(sample_sqlite), workload=f"{WORKLOAD}:orders_by_customer", runs=3)
    timing = result.statements[0].timing
    assert timing["runs"] == 3 and len(timing["samples_ms"]) == 3 and timing["median_ms"] > 0


def test_check_on_sqlite_finds_what_the_cli_finds_and_gates(cli, sample_sqlite: Path) -> None:
    result = qprof.check(str(sample_sqlite), workload=str(WORKLOAD), analyze=False, fail_on=["info"])
    assert result.findings and result.statements_explained > 0
    assert result.failed == bool(result.tripped) and result.failed  # every finding is at least info
    assert {f.code for f in result.tripped} == {f.code for f in result.findings}
    printed = cli("check", "--db", sample_sqlite, "--workload", WORKLOAD, "--no-analyze", "--fail-on", "info", "--format", "json")
    assert printed.exit_code == 1  # the same gate the API reported
    _same_json(result, json.loads(printed.stdout))
    code = result.findings[0].code
    only = qprof.check(str(sample_sqlite), workload=str(WORKLOAD), analyze=False, select=[code])
    assert only.findings and {f.code for f in only.findings} == {code} and not only.failed  # no fail_on given
    with pytest.raises(qprof.errors.BadInput, match="matches no rule code"):
        qprof.check(str(sample_sqlite), select=["QP9"])


@pytest.mark.postgres
def test_top_reads_pg_stat_statements_and_leaves_an_open_target_open(cli, app_dsn: str) -> None:
    with qprof.session(app_dsn) as target:
        result = qprof.top(target, by="calls", limit=5)
        assert target.fetch_value("SELECT 1") == 1  # still open: the caller owns it
    assert result.source == "pg_stat_statements" and result.by == "calls"
    calls = [s.calls for s in result.statements]
    assert 0 < len(calls) <= 5 and calls == sorted(calls, reverse=True)
    printed = cli.json("top", "--db", app_dsn, "--by", "calls", "--limit", "5")
    assert [s["queryid"] for s in printed["statements"]] == [s.queryid for s in result.statements]
    _same_json(result, printed)
    with pytest.raises(qprof.errors.BadInput):
        qprof.top(app_dsn, by="fastest")


def test_top_times_a_workload_on_sqlite(cli, sample_sqlite: Path) -> None:
    result = qprof.top(str(sample_sqlite), workload=WORKLOAD, runs=2, by="mean", limit=3)
    assert result.source == "workload" and len(result.statements) == 3
    means = [s.mean_ms for s in result.statements]
    assert means == sorted(means, reverse=True)
    printed = cli.json("top", "--db", sample_sqlite, "--workload", WORKLOAD, "--runs", "2", "--by", "mean", "--limit", "3")
    assert set(printed) == set(result.to_dict())


@pytest.mark.postgres
def test_snapshot_and_report_through_the_api_match_the_cli(cli, app_dsn: str, tmp_path: Path) -> None:
    store = str(tmp_path / "history.db")
    first = qprof.snapshot(app_dsn, store=store, name="api")
    assert first.statements > 0 and first.tables > 0 and first.target == "api"
    run_workload(app_dsn, runs=2)
    printed = cli.json("snapshot", "--db", app_dsn, "--store", store, "--name", "api")
    assert printed["snapshot"] == first.snapshot + 1
    _same_json(first, printed)

    result = qprof.report(store=store, between=(str(first.snapshot), str(printed["snapshot"])), advance=False)
    assert result.target == "api" and result.start < result.end
    assert result.data["summary"]["calls"] > 0 and result.data["top_by_total"]
    assert result.data["summary"]["target"] == "api" and result.regressions == result.data["regressions"]
    report_printed = cli.json("report", "--store", store, "--between", str(first.snapshot), str(printed["snapshot"]))
    _same_json(result, report_printed)


@pytest.mark.postgres
def test_advise_on_postgres_recommends_what_the_cli_recommends(cli, app_dsn: str, tmp_path: Path) -> None:
    statements = ["SELECT * FROM orders WHERE status = 'pending' AND created_at > now() - interval '1 day'"]
    result = qprof.advise(app_dsn, sql=statements, workload=[WORKLOAD], write=False, whatif="hypopg")
    assert result.recommendations, result.notes
    assert all(r.candidate.table for r in result.recommendations)
    assert result.files == [] and result.failed == [] and result.leftovers == []
    printed = cli.json("advise", "--db", app_dsn, "--sql", statements[0], "--workload", WORKLOAD, "--no-write", "--whatif", "hypopg")
    _same_json(result, printed)


def test_advise_on_sqlite_writes_migrations_into_out(sample_sqlite: Path, tmp_path: Path) -> None:
    out = tmp_path / "migrations"
    result = qprof.advise(str(sample_sqlite), workload=[WORKLOAD], out=out, migration_format="flyway")
    assert result.recommendations and result.files
    assert all(Path(f).parent == out and Path(f).name.startswith("V") for f in result.files)
    assert result.to_dict()["migration_format"] == "flyway"
    assert {Path(f).name for f in result.files} == {p.name for p in out.glob("V*.sql")}
    with pytest.raises(qprof.errors.BadInput):
        qprof.advise(str(sample_sqlite), workload=[WORKLOAD], migration_format="liquibase", write=False)


@pytest.mark.postgres
def test_cleanup_reports_nothing_left_behind(cli, app_dsn: str) -> None:
    result = qprof.cleanup(app_dsn)
    assert result.dropped == [] and result.failed == []
    _same_json(result, cli.json("advise", "--db", app_dsn, "--cleanup"))


@pytest.mark.postgres
def test_record_a_command_window_and_its_slo(app_dsn: str, tmp_path: Path) -> None:
    store = str(tmp_path / "history.db")
    script = tmp_path / "load.py"
    script.write_text(
        "import psycopg, sys\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as c:\n"
        "    for i in range(20):\n"
        "        c.execute('SELECT count(*) FROM orders WHERE customer_id = %s', (i,))\n",
        encoding="utf-8",
    )
    result = qprof.record(app_dsn, command=[sys.executable, str(script), app_dsn], store=store, name="api-run", slos=["calls_per_s>0"], advisors=False)
    assert result.exit_code == 0 and result.name == "api-run"
    assert result.data["run"]["exit_code"] == 0
    lookups = [s for s in result.data["statements"] if "customer_id" in s["query"]]
    assert [s["calls"] for s in lookups] == [20]  # the window holds exactly the load's statements
    # the wrapped command needs real file descriptors: the CLI runs as its own process here
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "qprof",
            "record",
            "--db",
            app_dsn,
            "--store",
            store,
            "--name",
            "cli-run",
            "--slo",
            "calls_per_s>0",
            "--no-advisors",
            "--format",
            "json",
            "--",
            sys.executable,
            str(script),
            app_dsn,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    document = json.loads(printed.stdout)
    assert [s["calls"] for s in document["statements"] if "customer_id" in s["query"]] == [20]
    assert document["schema_version"] == qprof.SCHEMA_VERSION and list(document) == list(result.to_dict())
    failing = qprof.record(app_dsn, command=[sys.executable, "-c", "raise SystemExit(7)"], store=store)
    assert failing.exit_code == 7  # the command's own code, the run stored all the same
    with pytest.raises(qprof.errors.BadInput):
        qprof.record(app_dsn, command=["true"], duration="1s", store=store)


def test_every_json_document_carries_the_schema_version(cli, sample_sqlite: Path) -> None:
    for args in (["rules"], ["tables", "--db", sample_sqlite], ["indexes", "--db", sample_sqlite]):
        assert cli.json(*args)["schema_version"] == qprof.SCHEMA_VERSION


@pytest.mark.postgres
def test_an_allowance_on_an_open_target_lasts_only_for_the_call_that_gave_it(app_dsn: str) -> None:
    """allow_functions given to one call on the caller's target must not let a later call run a
    function that moves a sequence for good (setval is not undone by the rollback)."""
    import psycopg

    with psycopg.connect(app_dsn, autocommit=True) as conn:
        conn.execute("DROP SEQUENCE IF EXISTS apifix_seq")
        conn.execute("CREATE SEQUENCE apifix_seq")
        conn.execute("SELECT setval('apifix_seq', 5)")
    sql = "UPDATE orders SET total_cents = total_cents WHERE id = 1 AND setval('apifix_seq', 777777) > 0"
    try:
        with qprof.session(app_dsn) as target:
            assert qprof.explain(target, sql=sql).statements[0].not_executed is not None
            qprof.top(target, allow_functions=["setval"], limit=1)
            assert target.allowed_functions == frozenset()  # given back after the call
            later = qprof.explain(target, sql=sql)
            assert later.statements[0].not_executed is not None, "the earlier call's allowance carried over"
        with psycopg.connect(app_dsn) as conn:
            assert conn.execute("SELECT last_value FROM apifix_seq").fetchone()[0] == 5
    finally:
        with psycopg.connect(app_dsn, autocommit=True) as conn:
            conn.execute("DROP SEQUENCE IF EXISTS apifix_seq")


def test_one_string_is_one_value_wherever_the_api_takes_several(sample_sqlite: Path) -> None:
    db = str(sample_sqlite)
    one = qprof.advise(db, workload=str(WORKLOAD), write=False)
    assert one.to_dict()["summary"]["statements"] == qprof.advise(db, workload=[WORKLOAD], write=False).to_dict()["summary"]["statements"] > 1
    sql = "SELECT * FROM orders WHERE customer_id = 42"
    assert qprof.advise(db, sql=sql, write=False).to_dict()["summary"]["statements"] == 1
    as_text = qprof.check(db, workload=str(WORKLOAD), analyze=False, fail_on="info")
    as_list = qprof.check(db, workload=[str(WORKLOAD)], analyze=False, fail_on=["info"])
    assert as_text.fail_on == as_list.fail_on == ["info"] and as_text.failed and as_list.failed
    assert as_text.statements_explained == as_list.statements_explained > 0
    code = as_text.findings[0].code
    assert {f.code for f in qprof.check(db, select=code, workload=WORKLOAD, analyze=False).findings} == {code}
    from qprof.api.session import allowed

    assert allowed("setval") == allowed(["setval"]) == frozenset({"setval"})
    with pytest.raises(qprof.errors.BadInput, match="workload must be a string or a list"):
        qprof.advise(db, workload=42, write=False)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda db: qprof.advise(db, workload=[WORKLOAD], verify=True, runs=0, write=False), "--runs must be at least 1"),
        (lambda db: qprof.advise(db, workload=[WORKLOAD], top=0, write=False), "--top must be at least 1"),
        (lambda db: qprof.advise(db, workload=[WORKLOAD], max_indexes=0, write=False), "--max-indexes must be at least 1"),
        (lambda db: qprof.advise(db, workload=[WORKLOAD], min_calls=0, write=False), "--min-calls must be at least 1"),
        (lambda db: qprof.advise(db, workload=[WORKLOAD], min_mean_ms=-1, write=False), "--min-mean-ms must be at least 0"),
        (lambda db: qprof.advise(db, workload=[WORKLOAD], budget=-1, write=False), "--budget must be at least 0"),
        (lambda db: qprof.advise(db, workload=[WORKLOAD], min_gain="-5", write=False), "invalid percentage"),
        (lambda db: qprof.explain(db, sql="select 1", runs=-3), "--runs must be at least 0"),
        (lambda db: qprof.bench(db, workload=WORKLOAD, runs=0), "--runs must be at least 1"),
        (lambda db: qprof.bench(db, workload=WORKLOAD, runs=-1), "--runs must be at least 1"),
        (lambda db: qprof.bench(db, workload=WORKLOAD, warmup=-1), "--warmup must be at least 0"),
        (lambda db: qprof.top(db, workload=WORKLOAD, runs=0), "--runs must be at least 1"),
        (lambda db: qprof.top(db, workload=WORKLOAD, limit=0), "--limit must be at least 1"),
        (lambda db: qprof.top(db, workload=WORKLOAD, min_calls=0), "--min-calls must be at least 1"),
        (lambda db: qprof.report(store=db + ".history", since="1h", limit=0), "--limit must be at least 1"),
    ],
)
def test_counts_out_of_the_clis_bounds_are_bad_input(sample_sqlite: Path, call, message: str) -> None:
    with pytest.raises(qprof.errors.BadInput, match=message):
        call(str(sample_sqlite))


@pytest.mark.parametrize("db", [42, [REPO / "app.sqlite"], {"dbname": "app"}])
def test_a_db_of_the_wrong_type_is_bad_input_naming_what_is_accepted(db: Any) -> None:
    with pytest.raises(qprof.errors.BadInput, match="db must be a connection string or URI, a SQLite file path, ConnectionOptions or an open target"):
        qprof.advise(db=db, sql="select 1", write=False)
    with pytest.raises(qprof.errors.BadInput, match="got " + type(db).__name__):
        qprof.top(db=db)


def test_a_sqlite_file_may_be_given_as_a_path(sample_sqlite: Path) -> None:
    assert isinstance(sample_sqlite, Path)
    assert qprof.top(sample_sqlite, workload=WORKLOAD, runs=1, limit=2).source == "workload"
