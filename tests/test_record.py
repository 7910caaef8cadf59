"""``qprof record``, ``compare`` and the Locust plugin against a real server that logs every
statement's duration (its own private cluster: log_min_duration_statement = 0 must not change
the shared one), with real clients: pgbench, Locust and a small web app."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from pgcluster import PgCluster

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[1]
QPROF = [sys.executable, "-m", "qprof"]
SLOW = "SELECT id, grp FROM items WHERE code = md5"
ROWS = 60_000
PGBENCH_SCRIPT = f"""\\set k random(1, {ROWS})
SELECT id, grp FROM items WHERE code = md5(:k::text);
SELECT 1 + :k AS fast;
"""


@pytest.fixture(scope="module")
def logged_cluster():
    cluster = PgCluster(settings={"log_min_duration_statement": "0", "track_io_timing": "on"})
    try:
        cluster.start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start the private PostgreSQL cluster: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


def _database(cluster: PgCluster, name: str) -> str:
    dsn = cluster.create_database(name, extensions=("pg_stat_statements",))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE items AS SELECT g AS id, md5(g::text) AS code, g % 100 AS grp FROM generate_series(1, {ROWS}) g")
        conn.execute("ANALYZE items")
    return dsn


@pytest.fixture(scope="module")
def shop(logged_cluster) -> str:
    return _database(logged_cluster, "shop")


def qprof(*args: str, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPROF_", "PG"))}
    return subprocess.run([*QPROF, *map(str, args)], check=False, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


def pgbench(cluster: PgCluster) -> str:
    return str(cluster.bindir / "pgbench")


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


def wait_for_run(store: Path, timeout: float = 90) -> None:
    """Until a run is registered in ``store`` (its start snapshot is taken)."""
    from qprof.history.store import Store

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.exists():
            with contextlib.suppress(Exception), Store(str(store)) as history:  # it may be being created
                if history.runs():
                    return
        time.sleep(0.1)
    raise AssertionError("the run did not start")


def logged_durations(log: Path, start: int, end: int, fragment: str) -> list[float]:
    """The durations the server logged for ``fragment`` between two byte offsets — read here
    with a plain regular expression, independently of qprof's parser."""
    text = log.read_bytes()[start:end].decode("utf-8", "replace")
    pattern = re.compile(r"duration: ([0-9.]+) ms  statement: (.*)")
    return [float(m.group(1)) for m in pattern.finditer(text) if fragment in m.group(2)]


def test_record_around_pgbench_counts_calls_measures_p95_and_gates_on_an_slo(logged_cluster, shop, tmp_path):
    store = tmp_path / "history.db"
    script = tmp_path / "checkout.sql"
    script.write_text(PGBENCH_SCRIPT)
    clients, transactions = 2, 30
    result = qprof(
        "record",
        "-d",
        shop,
        "--store",
        store,
        "--log",
        logged_cluster.logfile,
        "--name",
        "bench-1",
        "--slo",
        "p95<0.01ms",
        "--slo",
        "calls_per_s>0.1",
        "-f",
        "json",
        "--no-advisors",
        "--",
        pgbench(logged_cluster),
        "-n",
        "-f",
        script,
        "-t",
        transactions,
        "-c",
        clients,
        shop,
    )
    assert result.returncode == 1, result.stderr  # the p95 SLO broke
    doc = json.loads(result.stdout)  # pgbench's own output went to stderr
    assert "number of transactions actually processed" in result.stderr
    slow = [s for s in doc["statements"] if s["query"].startswith(SLOW)]
    assert len(slow) == 1
    assert slow[0]["calls"] == clients * transactions  # exactly what pgbench ran
    log = doc["run"]["log"]
    durations = logged_durations(logged_cluster.logfile, log["start"], log["end"], "FROM items WHERE code = md5(")
    assert len(durations) == clients * transactions
    assert slow[0]["samples"] == len(durations)
    truth = nearest_rank(durations, 0.95)
    assert abs(slow[0]["p95_ms"] - truth) <= 0.10 * truth, (slow[0]["p95_ms"], truth)
    assert slow[0]["p50_ms"] <= slow[0]["p95_ms"] <= slow[0]["p99_ms"]
    # the broken SLO is named with its statement, on stderr; the other one holds
    assert "SLO broken: p95<0.01ms" in result.stderr and "FROM items WHERE code" in result.stderr
    verdicts = {v["slo"]: v for v in doc["slo_verdicts"]}
    assert verdicts["calls_per_s>0.1"]["ok"] and not verdicts["p95<0.01ms"]["ok"]
    assert doc["run"]["status"] == "complete" and doc["run"]["exit_code"] == 0
    # stored under its name: report --run reads the same window
    again = qprof("report", "--run", "bench-1", "--store", store, "-f", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"]["window"] == doc["summary"]["window"]


def test_record_duration_window_while_the_load_runs_elsewhere(shop, tmp_path):
    store = tmp_path / "history.db"
    (tmp_path / "qprof.toml").write_text('[record]\nslo = ["mean<0.0001ms", "p95<1s"]\n')  # SLOs from the config
    recorder = subprocess.Popen(
        [*QPROF, "record", "-d", shop, "--store", str(store), "--duration", "4s", "-f", "json", "--no-advisors", "--name", "remote-load"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    wait_for_run(store)
    with psycopg.connect(shop, autocommit=True) as conn:
        for i in range(25):
            conn.execute("SELECT count(*) FROM items WHERE grp = %s", [i])
    out, err = recorder.communicate(timeout=120)
    assert recorder.returncode == 1, err  # the mean SLO from qprof.toml broke
    assert "SLO broken: mean<0.0001ms" in err
    assert "SLO not checked, gate failed: p95<1s" in err  # no percentile source: said, not guessed
    doc = json.loads(out)
    counted = [s for s in doc["statements"] if "WHERE grp" in s["query"]]
    assert counted and counted[0]["calls"] == 25
    assert doc["run"]["command"] is None
    # no log given and none discoverable: the percentile columns say "—" and how to enable them
    assert counted[0]["p95_ms"] is None and "log_min_duration_statement = 0" in err
    assert doc["percentiles"]["source"] is None


def test_bad_slo_is_a_usage_error_naming_the_grammar(tmp_path):
    result = qprof("record", "--slo", "p95 < 100 furlongs", "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid SLO" in result.stderr and "p50|p95|p99|mean|max|calls_per_s|total" in result.stderr
    assert "Traceback" not in result.stderr


def test_slo_grammar():
    from qprof.record.slo import check, parse_slo

    assert parse_slo("p95<100ms").limit == 100 and parse_slo("p95<100ms").scope == "statement"
    assert parse_slo("window:p99 <= 1.5s").limit == 1500 and parse_slo("window:p99<=1.5s").scope == "window"
    assert parse_slo("calls_per_s>50/s").scope == "window" and parse_slo("statement:calls_per_s>2").scope == "statement"
    for bad in ("p95", "p95<", "p97<1ms", "p95<1/s", "calls_per_s>5ms", "p95=1ms"):
        with pytest.raises(Exception, match="invalid SLO"):
            parse_slo(bad)
    rows = [
        {"queryid": "1", "query": "a", "calls": 10, "total_ms": 50.0, "mean_ms": 5.0, "p95_ms": 9.0, "p50_ms": 4.0, "p99_ms": 9.5, "max_ms": 10.0},
        {"queryid": "2", "query": "b", "calls": 10, "total_ms": 5.0, "mean_ms": 0.5, "p95_ms": None, "p50_ms": None, "p99_ms": None, "max_ms": None},
    ]
    window = {"seconds": 10.0, "calls": 20, "db_time_ms": 55.0, "mean_ms": 2.75, "p95_ms": 8.0}
    p95, mean, rate = check([parse_slo("p95<5ms"), parse_slo("mean<1ms"), parse_slo("calls_per_s>5")], rows, window)
    assert [b["queryid"] for b in p95.broken] == ["1"] and p95.unchecked_reason == "1 statement(s) without a measurement"
    assert [b["queryid"] for b in mean.broken] == ["1"]
    assert rate.checked and rate.broken and rate.broken[0]["value"] == 2.0


def test_one_percentile_definition():
    from qprof.stats import percentile, tail_percentile

    assert percentile([5, 1, 4, 2, 3], 0.95) == 5  # nearest rank: the largest of five
    assert percentile(list(range(1, 101)), 0.95) == 95 and percentile(list(range(1, 101)), 0.50) == 50
    # only executions >= threshold logged: 6 of 100 calls; P95 (rank 95) is the 1st logged, P99 the 5th
    assert tail_percentile([10, 20, 30, 40, 50, 60], 100, 0.95) == 10
    assert tail_percentile([10, 20, 30, 40, 50, 60], 100, 0.99) == 50
    assert tail_percentile([10, 20], 100, 0.95) is None  # below the threshold: unknown, never guessed


def test_failing_and_missing_commands_still_close_and_store_the_window(shop, tmp_path):
    store = tmp_path / "history.db"
    failed = qprof("record", "-d", shop, "--store", store, "--no-advisors", "-f", "json", "--name", "fails", "--", "sh", "-c", "exit 7")
    assert failed.returncode == 7, failed.stderr
    assert "the command exited with code 7" in failed.stderr
    missing = qprof("record", "-d", shop, "--store", store, "--no-advisors", "-f", "json", "--name", "missing", "--", "no-such-load-tool")
    assert missing.returncode == 127 and "command not found: no-such-load-tool" in missing.stderr
    from qprof.history.store import Store

    with Store(str(store)) as history:
        runs = {r["name"]: r for r in history.runs()}
    assert runs["fails"]["status"] == "failed" and runs["fails"]["exit_code"] == 7 and runs["fails"]["end_snapshot_id"]
    assert runs["missing"]["exit_code"] == 127 and runs["missing"]["end_snapshot_id"]
    taken = qprof("record", "-d", shop, "--store", store, "--no-advisors", "--name", "fails", "--", "true")
    assert taken.returncode == 2 and "already exists" in taken.stderr
    listed = json.loads(qprof("runs", "list", "--store", store, "-f", "json").stdout)["runs"]
    assert [(r["name"], r["exit_code"]) for r in listed] == [("fails", 7), ("missing", 127)]


def test_interrupt_is_forwarded_and_the_window_still_closes(shop, tmp_path):
    store = tmp_path / "history.db"
    marker = tmp_path / "child-got-sigint"
    child = (
        f"import signal,sys,time,pathlib\n"
        f"def on(*a): pathlib.Path({str(marker)!r}).write_text('yes'); sys.exit(3)\n"
        f"signal.signal(signal.SIGINT, on)\n"
        f"time.sleep(60)\n"
    )
    recorder = subprocess.Popen(
        [*QPROF, "record", "-d", shop, "--store", str(store), "--no-advisors", "-f", "json", "--name", "stopped", "--", sys.executable, "-c", child],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_run(store)
    time.sleep(1.0)  # the child is running
    recorder.send_signal(signal.SIGINT)  # to qprof alone, as a CI runner would
    out, err = recorder.communicate(timeout=120)
    assert marker.read_text() == "yes"  # the child got it
    assert recorder.returncode == 3, err  # the child's own exit code
    doc = json.loads(out)
    assert doc["run"]["status"] == "interrupted" and doc["run"]["end_snapshot"]


@pytest.mark.parametrize("how", ["group", "timeout"])
def test_a_sigint_to_the_whole_process_group_reaches_the_command_once(shop, tmp_path, how):
    """No terminal: `kill -INT -PGID` (or `timeout -s INT`) signals qprof and everything in its
    group. The command (Locust counts Ctrl-Cs: a second one stops it hard) gets exactly one SIGINT."""
    store = tmp_path / "history.db"
    marker = tmp_path / "sigints"
    child = (
        f"import signal, sys, time\n"
        f"got = []\n"
        f"def on(*a):\n"
        f"    got.append(1)\n"
        f"    open({str(marker)!r}, 'a').write('INT\\n')\n"
        f"signal.signal(signal.SIGINT, on)\n"
        f"for _ in range(600):\n"
        f"    time.sleep(0.1)\n"
        f"    if got:\n"
        f"        time.sleep(1.0)\n"  # a second SIGINT would arrive in this second
        f"        sys.exit(3)\n"
    )
    argv = [*QPROF, "record", "-d", shop, "--store", str(store), "--no-advisors", "-f", "json", "--name", f"group-{how}", "--", sys.executable, "-c", child]
    if how == "timeout":
        argv = ["timeout", "-s", "INT", "8", *argv]
    recorder = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if how == "group":
        wait_for_run(store)
        time.sleep(1.0)  # the child is running
        os.killpg(recorder.pid, signal.SIGINT)  # qprof's whole group, as a CI runner cancelling a job does
    out, err = recorder.communicate(timeout=120)
    assert marker.read_text() == "INT\n", err  # exactly one
    assert recorder.returncode == (3 if how == "group" else 124), err
    doc = json.loads(out)
    assert doc["run"]["status"] == "interrupted" and doc["run"]["end_snapshot"]
    assert "interrupted again" not in err


def test_a_second_interrupt_stops_a_command_that_ignores_the_first(shop, tmp_path):
    store = tmp_path / "history.db"
    stubborn = "import signal,time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(120)\n"
    recorder = subprocess.Popen(
        [*QPROF, "record", "-d", shop, "--store", str(store), "--no-advisors", "-f", "json", "--name", "stubborn", "--", sys.executable, "-c", stubborn],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_run(store)
    time.sleep(1.0)
    recorder.send_signal(signal.SIGINT)
    time.sleep(0.5)
    recorder.send_signal(signal.SIGINT)  # the command gets KILL_AFTER seconds, then is killed
    out, err = recorder.communicate(timeout=120)
    assert recorder.returncode == 128 + signal.SIGKILL, err
    assert "interrupted again" in err
    doc = json.loads(out)
    assert doc["run"]["status"] == "interrupted" and doc["run"]["end_snapshot"]


def test_truncated_log_and_statistics_reset_during_the_window_are_said(logged_cluster, tmp_path):
    dsn = _database(logged_cluster, "resets")
    store = tmp_path / "history.db"
    log = logged_cluster.logfile
    psql = str(logged_cluster.bindir / "psql")
    load = (
        f"{psql} -X -q -d '{dsn}' -c 'SELECT count(*) FROM items WHERE grp = 1' && truncate -s 0 {log} && "
        f"{psql} -X -q -d '{dsn}' -c 'SELECT pg_stat_statements_reset()' -c 'SELECT count(*) FROM items WHERE grp = 2'"
    )
    result = qprof("record", "-d", dsn, "--store", store, "--log", log, "--no-advisors", "-f", "json", "--", "sh", "-c", load)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    notes = " ".join(doc["percentiles"]["notes"] + doc["run"]["notes"])
    assert "truncated during the window" in notes
    assert "reset during the window" in notes
    for row in doc["statements"]:
        assert row["calls"] >= 0 and row["total_ms"] >= 0  # never negative deltas


def test_two_records_at_once_leave_the_store_consistent(shop, tmp_path):
    store = tmp_path / "history.db"
    runs = [
        subprocess.Popen(
            [*QPROF, "record", "-d", shop, "--store", str(store), "--duration", "2s", "--no-advisors", "-f", "json", "--name", f"parallel-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in runs:
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    from qprof.history.store import Store

    with Store(str(store)) as history:
        stored = history.runs()
    assert sorted(r["name"] for r in stored) == ["parallel-0", "parallel-1"]
    assert all(r["status"] == "complete" and r["end_snapshot_id"] > r["start_snapshot_id"] for r in stored)
    assert len({r["end_snapshot_id"] for r in stored}) == 2


def test_compare_before_and_after_an_index_shows_the_improvement(logged_cluster, tmp_path):
    dsn = _database(logged_cluster, "compare")
    store = tmp_path / "history.db"
    script = tmp_path / "lookup.sql"
    script.write_text(PGBENCH_SCRIPT)

    def record(name: str) -> None:
        result = qprof(
            "record",
            "-d",
            dsn,
            "--store",
            store,
            "--log",
            logged_cluster.logfile,
            "--name",
            name,
            "--no-advisors",
            "-f",
            "json",
            "--",
            pgbench(logged_cluster),
            "-n",
            "-f",
            script,
            "-t",
            "20",
            dsn,
        )
        assert result.returncode == 0, result.stderr

    record("before")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE INDEX items_code_idx ON items (code)")
    record("after")
    result = qprof("compare", "before", "after", "--store", store, "-f", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (slow,) = [r for r in doc["statements"] if r["query"].startswith(SLOW)]
    assert slow["verdict"] == "improvement" and slow["factor"] < 0.5
    assert slow["before_calls"] == slow["calls"] == 20
    assert slow["p95_ms"] < slow["before_p95_ms"]
    assert [i["index"] for i in doc["indexes_added"]] == ["public.items_code_idx"]
    text = qprof("compare", "before", "after", "--store", store)
    assert "× faster" in text.stdout
    # the other way round it is a regression, and the gate fails
    gate = qprof("compare", "after", "before", "--store", store, "--fail-on-regression")
    assert gate.returncode == 1 and "regression" in gate.stderr
    html = tmp_path / "compare.html"
    assert qprof("compare", "before", "after", "--store", store, "-f", "html", "-o", html).returncode == 0
    assert re.search(r'<img[^>]*src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', html.read_text())
    unknown = qprof("compare", "before", "nope", "--store", store)
    assert unknown.returncode == 2 and "no run, snapshot range or baseline called 'nope'" in unknown.stderr
    saved = qprof("baseline", "save", "pre-index", "--from-run", "before", "--store", store)
    assert saved.returncode == 0, saved.stderr
    against = json.loads(qprof("compare", "pre-index", "after", "--store", store, "-f", "json").stdout)
    assert [r["verdict"] for r in against["statements"] if r["query"].startswith(SLOW)] == ["improvement"]


@pytest.fixture(scope="module")
def webapp(logged_cluster):
    dsn = _database(logged_cluster, "webshop")
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "record_app" / "webapp.py"), dsn], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        yield {"dsn": dsn, "url": f"http://127.0.0.1:{port}"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_locust_plugin_reports_the_unindexed_lookup_with_its_p95(logged_cluster, webapp, tmp_path):
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    assert locust, "locust is a test dependency"
    html = tmp_path / "out" / "load.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPROF_", "PG"))}
    env["QPROF_STORE"] = str(tmp_path / "history.db")
    result = subprocess.run(
        [
            locust,
            "-f",
            str(REPO / "tests" / "record_app" / "locustfile.py"),
            "--headless",
            "-u",
            "5",
            "-r",
            "5",
            "-t",
            "8s",
            "--host",
            webapp["url"],
            "--only-summary",
            "--html",
            str(html),
            "--qprof-db",
            webapp["dsn"],
            "--qprof-log",
            str(logged_cluster.logfile),
            "--qprof-slo",
            "p95<0.01ms",
            "--qprof-name",
            "locust-run",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-3000:]  # the SLO broke: Locust's exit code says so
    assert "SLO broken: p95<0.01ms" in result.stderr
    report = json.loads((tmp_path / "out" / "load-qprof.json").read_text())
    (lookup,) = [s for s in report["statements"] if s["query"].startswith("SELECT id, grp FROM items WHERE code")]
    assert lookup["calls"] > 10 and lookup["p95_ms"] is not None and lookup["p95_ms"] > 0
    page = (tmp_path / "out" / "load-qprof.html").read_text()
    assert "SELECT id, grp FROM items WHERE code" in page and "P95 ms" in page
    assert html.exists()  # Locust's own report, beside ours


def test_bad_locust_slo_stops_before_the_test(webapp, tmp_path):
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    result = subprocess.run(
        [
            locust,
            "-f",
            str(REPO / "tests" / "record_app" / "locustfile.py"),
            "--headless",
            "-u",
            "1",
            "-t",
            "2s",
            "--host",
            webapp["url"],
            "--qprof-db",
            webapp["dsn"],
            "--qprof-slo",
            "p95 fast",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "invalid SLO 'p95 fast'" in result.stderr


def test_config_record_slo_must_be_a_list(tmp_path):
    from qprof.config import load_config

    (tmp_path / "qprof.toml").write_text("[record]\nslo = 5\n")
    with pytest.raises(Exception, match="record.slo must be a list of SLO expressions"):
        load_config(tmp_path)


def test_a_version_1_store_is_upgraded_and_keeps_its_snapshots(tmp_path):
    """Stores written before runs existed gain the runs tables; their rows stay."""
    from sqlalchemy import create_engine, insert, select

    from qprof.history import schema as s
    from qprof.history.store import Store, utcnow

    path = tmp_path / "v1.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        s.UPGRADES[1](conn)
        conn.execute(insert(s.meta).values(key="schema_version", value="1"))
        conn.execute(insert(s.targets).values(identity="x/db", name="db", database="db", description="d", created_at=utcnow()))
        conn.execute(insert(s.snapshots).values(target_id=1, taken_at=utcnow(), statement_count=0))
    engine.dispose()
    with Store(str(path)) as store:
        store.ensure_schema()
        with store.read() as conn:
            assert store.schema_version(conn) == s.SCHEMA_VERSION == 2
            assert conn.execute(select(s.snapshots.c.id)).scalars().all() == [1]
        run_id = store.start_run("r", 1, {"command": ["true"]})
        store.finish_run(run_id, {"end_snapshot_id": 1, "status": "complete"}, [])
        assert store.find_run("r")["status"] == "complete"


@pytest.mark.parametrize(
    ("logged", "normalized"),
    [
        ("UPDATE pgbench_accounts SET abalance = abalance + -1234 WHERE aid = 5", "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2"),
        ("SELECT a - 1 FROM t WHERE x = -5 AND y IN (-1, 2)", "SELECT a - $1 FROM t WHERE x = $2 AND y IN ($3, $4)"),
        ("SELECT * FROM t WHERE active = true", "SELECT * FROM t WHERE active = $1"),
        ("SELECT -5", "SELECT $1"),
    ],
)
def test_logged_text_joins_its_pg_stat_statements_entry(logged, normalized):
    """pgbench's own workload logs ``abalance + -1234``; PostgreSQL folds the minus into the
    constant, so pg_stat_statements shows ``$1`` — the join must still find it."""
    from qprof.fingerprint import fingerprint
    from qprof.record.percentiles import log_fingerprint

    assert log_fingerprint(logged) == fingerprint(normalized)


def test_evicted_statements_during_the_window_are_said(tmp_path):
    """pg_stat_statements.max = 100 and 300 distinct statements in the window: entries are
    evicted; the report says so and no count goes negative."""
    cluster = PgCluster(settings={"pg_stat_statements.max": "100"})
    cluster.start()
    try:
        dsn = cluster.create_database("evict", extensions=("pg_stat_statements",))
        script = tmp_path / "many.sql"
        script.write_text("".join(f"CREATE TABLE t{i} (a int);\n" for i in range(300)) + "".join(f"SELECT a FROM t{i};\n" for i in range(300)))
        psql = str(cluster.bindir / "psql")
        result = qprof("record", "-d", dsn, "--store", tmp_path / "history.db", "--no-advisors", "-f", "json", "--", psql, "-X", "-q", "-d", dsn, "-f", script)
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout)
        assert any("evicted entries" in note for note in doc["run"]["notes"]), doc["run"]["notes"]
        assert all(row["calls"] >= 0 and row["total_ms"] >= 0 for row in doc["statements"])
    finally:
        cluster.stop()


def test_a_server_logging_only_slow_statements_gives_bounded_percentiles_and_judges_slos(logged_cluster, tmp_path):
    """log_min_duration_statement = 40: the fast statement is never logged (its percentiles are
    known only to be < 40 ms), the slow one always (exact). p95<100ms holds for both; p95<10ms
    breaks on the slow one and cannot be told for the fast one — never a crash."""
    dsn = logged_cluster.create_database("threshold", extensions=("pg_stat_statements",))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER DATABASE threshold SET log_min_duration_statement = 40")
    script = tmp_path / "mixed.sql"
    script.write_text("SELECT 1 + 2 AS fast;\nSELECT 3 AS slow, pg_sleep(0.05);\n")
    store = tmp_path / "history.db"
    common = ("-d", dsn, "--store", store, "--log", logged_cluster.logfile, "--no-advisors", "-f", "json")
    load = (pgbench(logged_cluster), "-n", "-f", script, "-t", "6", dsn)
    result = qprof("record", *common, "--slo", "p95<100ms", "--slo", "window:p50<100ms", "--", *load)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["percentiles"]["threshold_ms"] == 40
    (fast,) = [s for s in doc["statements"] if "AS fast" in s["query"]]
    (slow,) = [s for s in doc["statements"] if "AS slow" in s["query"]]
    assert fast["p50_ms"] is None and fast["p95_ms"] is None and fast["below_ms"] == 40
    assert isinstance(slow["p95_ms"], float) and slow["p95_ms"] >= 40
    for row in doc["statements"]:  # JSON percentiles are numbers or null, never text
        assert all(row[k] is None or isinstance(row[k], float) for k in ("p50_ms", "p95_ms", "p99_ms"))
    verdicts = {v["slo"]: v for v in doc["slo_verdicts"]}
    assert verdicts["p95<100ms"]["checked"] and verdicts["p95<100ms"]["ok"]
    assert verdicts["window:p50<100ms"]["ok"]  # the window's P50 is among the fast ones: < 40 ms
    shown = qprof("record", *common[:-2], "--slo", "p95<100ms", "--", *load)
    assert shown.returncode == 0, shown.stderr
    assert "< 40" in shown.stdout  # the markdown says "< 40" where the value is below the threshold
    tight = qprof("record", *common, "--slo", "p95<10ms", "--", *load)
    assert tight.returncode == 1, tight.stderr
    (verdict,) = json.loads(tight.stdout)["slo_verdicts"]
    assert [b["statement"] for b in verdict["broken"]] == [slow["query"]]
    assert "Traceback" not in tight.stderr and "1 statement(s) without a measurement" in verdict["unchecked_reason"]


def test_same_text_in_two_schemas_or_by_two_users_is_never_pooled(logged_cluster, tmp_path):
    """One statement text, three pg_stat_statements entries: user postgres in schema small and
    in schema big (search_path), and user reader in big. The log cannot tell the two postgres
    entries apart: ambiguous, no percentiles. With %u in log_line_prefix the reader's entry gets
    its own durations; without it every entry sharing the text is ambiguous."""
    dsn = logged_cluster.create_database("schemas", extensions=("pg_stat_statements",))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA small; CREATE SCHEMA big")
        conn.execute("CREATE TABLE small.t AS SELECT g AS v FROM generate_series(1, 10) g")
        conn.execute("CREATE TABLE big.t AS SELECT g AS v FROM generate_series(1, 300000) g")
        conn.execute(
            "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; GRANT USAGE ON SCHEMA big TO reader; "
            "GRANT SELECT ON big.t TO reader; ALTER ROLE reader SET search_path = big"
        )
    reader = logged_cluster.dsn("schemas", user="reader", password="reader-pw")
    psql = str(logged_cluster.bindir / "psql")
    text = "SELECT count(*) FROM t WHERE v % 7 = 3"
    load = " && ".join(
        [
            *(f"{psql} -X -q -d '{dsn}' -c 'SET search_path = {schema}' -c '{text}'" for schema in ("small", "big") for _ in range(3)),
            *(f"{psql} -X -q -d \"{reader}\" -c '{text}'" for _ in range(4)),
        ]
    )
    prefix = "%m [%p] %q%u@%d "
    store = tmp_path / "history.db"
    try:
        logged_cluster.reload({"log_line_prefix": prefix})
        result = qprof(
            "record",
            "-d",
            dsn,
            "--store",
            store,
            "--log",
            logged_cluster.logfile,
            "--log-prefix",
            prefix,
            "--no-advisors",
            "-f",
            "json",
            "--",
            "sh",
            "-c",
            load,
        )
    finally:
        logged_cluster.reload({"log_line_prefix": "%m [%p] "})
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    rows = [s for s in doc["statements"] if "FROM t WHERE v" in s["query"]]
    assert sorted((r["user"], r["calls"]) for r in rows) == [("postgres", 3), ("postgres", 3), ("reader", 4)]
    for row in rows:
        if row["user"] == "postgres":  # same user, same text, two schemas: not told apart
            assert row.get("ambiguous") and row["p95_ms"] is None and row["samples"] == 0
        else:
            assert not row.get("ambiguous") and row["samples"] == 4 and row["p95_ms"] is not None
    assert doc["percentiles"]["ambiguous_statements"] == 2
    assert any("cannot be told apart" in n for n in doc["percentiles"]["notes"])
    # without %u in the prefix the reader's durations are pooled with postgres': all ambiguous
    again = qprof("record", "-d", dsn, "--store", store, "--log", logged_cluster.logfile, "--no-advisors", "-f", "json", "--", "sh", "-c", load)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    rows = [s for s in doc["statements"] if "FROM t WHERE v" in s["query"]]
    assert len(rows) == 3 and all(r.get("ambiguous") and r["p95_ms"] is None for r in rows)
    assert any("add %u to log_line_prefix" in n for n in doc["percentiles"]["notes"])
    assert any("add %d to log_line_prefix" in n for n in doc["percentiles"]["notes"])


def test_an_slo_that_cannot_be_checked_fails_the_gate_unless_told_otherwise(logged_cluster, shop, tmp_path):
    """No --log (and none discoverable): a percentile SLO is not checked. A CI gate that could
    not look must not pass: exit 1 with one line saying how to enable the log, even with -q;
    --slo-unmeasured ok lets it pass."""
    psql = str(logged_cluster.bindir / "psql")
    load = ("sh", "-c", f"{psql} -X -q -d '{shop}' -c 'SELECT count(*) FROM items WHERE grp = 7'")
    store = tmp_path / "history.db"
    gated = qprof("record", "-d", shop, "--store", store, "--slo", "p95<1ms", "-q", "--no-advisors", "-f", "json", "--", *load)
    assert gated.returncode == 1, gated.stderr
    lines = [line for line in gated.stderr.splitlines() if "SLO not checked" in line]
    assert len(lines) == 1 and "p95<1ms" in lines[0] and "--log" in lines[0] and "--slo-unmeasured ok" in lines[0]
    (verdict,) = json.loads(gated.stdout)["slo_verdicts"]
    assert not verdict["checked"] and not verdict["ok"]
    allowed = qprof("record", "-d", shop, "--store", store, "--slo", "p95<1ms", "--slo-unmeasured", "ok", "-q", "--no-advisors", "-f", "json", "--", *load)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["slo_unmeasured"] == "ok"


def test_a_log_truncated_mid_window_and_grown_past_the_start_is_still_seen_as_truncated(logged_cluster, tmp_path):
    """copytruncate mid-window, then more writes than the log held when the window began: the
    size at the end is past the start, yet the window's part before the truncation is gone.
    qprof says so and reads the part after it from the file's beginning."""
    dsn = _database(logged_cluster, "truncation")
    log = logged_cluster.logfile
    psql = str(logged_cluster.bindir / "psql")
    with open(log, "r+b") as handle:  # a small log when the window begins (outside it)
        handle.truncate(0)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT max(id) FROM items")
    after = " ".join(f"-c 'SELECT count(*) FROM items WHERE grp = {i % 3}'" for i in range(40))
    load = f"{psql} -X -q -d '{dsn}' -c 'SELECT min(id) FROM items' && truncate -s 0 {log} && {psql} -X -q -d '{dsn}' {after}"
    store = tmp_path / "history.db"
    result = qprof("record", "-d", dsn, "--store", store, "--log", log, "--no-advisors", "-f", "json", "--", "sh", "-c", load)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["run"]["log"]["end"] > doc["run"]["log"]["start"]  # grown past the start again
    notes = doc["percentiles"]["notes"]
    assert any("truncated during the window" in n and "after the truncation" in n for n in notes), notes
    (grp,) = [s for s in doc["statements"] if "WHERE grp" in s["query"]]
    assert grp["calls"] == 40 and grp["samples"] == 40  # everything after the truncation, read from byte 0
    (lost,) = [s for s in doc["statements"] if "min(id)" in s["query"]]
    assert lost["calls"] == 1 and lost["samples"] == 0  # logged before the truncation: gone


def test_report_of_a_run_shows_its_own_percentiles_and_slos_and_no_other_window(logged_cluster, shop, tmp_path):
    store = tmp_path / "history.db"
    script = tmp_path / "checkout.sql"
    script.write_text(PGBENCH_SCRIPT)
    common = ("-d", shop, "--store", store, "--log", logged_cluster.logfile, "--no-advisors", "-f", "json")
    load = (pgbench(logged_cluster), "-n", "-f", script, "-t", "20", shop)
    first = qprof("record", *common, "--name", "earlier", "--", *load)  # a previous window exists
    assert first.returncode == 0, first.stderr
    recorded = qprof("record", *common, "--name", "gated", "--slo", "p95<0.01ms", "--slo", "calls_per_s>0.1", "--", *load)
    assert recorded.returncode == 1, recorded.stderr
    doc = json.loads(recorded.stdout)
    again = qprof("report", "--run", "gated", "--store", store, "-f", "json")
    assert again.returncode == 0, again.stderr
    shown = json.loads(again.stdout)
    (slow,) = [r for r in doc["statements"] if r["query"].startswith(SLOW)]
    (kept,) = [r for r in shown["statements"] if r["query"].startswith(SLOW)]
    assert kept["p95_ms"] == pytest.approx(slow["p95_ms"]) and kept["p50_ms"] == pytest.approx(slow["p50_ms"])
    assert kept["samples"] == slow["samples"] == 20
    assert shown["slo"] == doc["slo"] and shown["slo_summary"] == doc["slo_summary"]
    assert shown["summary"]["previous_window"] is None and shown["regressions"] == []  # not the "earlier" run's window
    assert shown["run"]["name"] == "gated"
    markdown = qprof("report", "--run", "gated", "--store", store)
    assert markdown.returncode == 0, markdown.stderr
    assert "SLO gates" in markdown.stdout and "P95 ms" in markdown.stdout and "broken" in markdown.stdout


def test_a_statistics_reset_mid_window_marks_counts_partial_and_leaves_their_slos_unchecked(logged_cluster, tmp_path):
    dsn = _database(logged_cluster, "midreset")
    psql = str(logged_cluster.bindir / "psql")
    before = " ".join("-c 'SELECT count(*) FROM items WHERE grp = 5'" for _ in range(30))
    after = " ".join("-c 'SELECT count(*) FROM items WHERE grp = 5'" for _ in range(10))
    load = f"{psql} -X -q -d '{dsn}' {before} -c 'SELECT pg_stat_statements_reset()' {after}"
    store = tmp_path / "history.db"
    common = ("-d", dsn, "--store", store, "--log", logged_cluster.logfile, "--no-advisors", "-f", "json", "--slo", "calls_per_s>0.001", "--slo", "p95<10s")
    result = qprof("record", *common, "--", "sh", "-c", load)
    assert result.returncode == 1, result.stderr  # an SLO that cannot be judged fails the gate
    doc = json.loads(result.stdout)
    (grp,) = [s for s in doc["statements"] if "WHERE grp" in s["query"]]
    assert grp["calls"] == 10 and grp["samples"] == 40 and grp["partial"]  # counts after the reset, the log all
    assert doc["window_totals"]["partial"]
    verdicts = {v["slo"]: v for v in doc["slo_verdicts"]}
    assert not verdicts["calls_per_s>0.001"]["checked"] and "reset" in verdicts["calls_per_s>0.001"]["unchecked_reason"]
    assert verdicts["p95<10s"]["checked"] and verdicts["p95<10s"]["ok"]  # every execution was logged
    assert "SLO not checked, gate failed: calls_per_s>0.001" in result.stderr
    allowed = qprof("record", *common, "--slo-unmeasured", "ok", "--", "sh", "-c", load)
    assert allowed.returncode == 0, allowed.stderr


def test_window_nplusone_needs_a_source_and_never_shows_logged_literals(logged_cluster, tmp_path):
    """Per-request lookups with nothing they walk (a session that starts with them, or one per
    connection as a load test's HTTP requests do) are no N+1; a real loop over a SELECT's rows is,
    and its texts are shown normalized: no value from the log (an e-mail here) in the report."""
    dsn = _database(logged_cluster, "loops")
    psql = str(logged_cluster.bindir / "psql")
    lookup = "SELECT grp FROM items WHERE code = 'secret-{i}@example.com' OR id = {i};\n"

    def session(name: str, statements: list[str]) -> str:
        path = tmp_path / f"{name}.sql"
        path.write_text("".join(statements))
        return f"{psql} -X -q -d '{dsn}' -f {path}"

    per_request = " && ".join(session(f"request{i}", [lookup.format(i=i)]) for i in range(12))
    no_source = session("nosource", [lookup.format(i=100 + i) for i in range(12)])
    loop = session(
        "loop",
        [
            "SELECT id FROM items WHERE grp = 3 ORDER BY id LIMIT 8;\n",
            *(f"SELECT code FROM items WHERE id = {i};\n" for i in (3, 103, 203, 303, 403, 503, 603, 703)),
        ],
    )
    store = tmp_path / "history.db"
    result = qprof(
        "record",
        "-d",
        dsn,
        "--store",
        store,
        "--log",
        logged_cluster.logfile,
        "--no-advisors",
        "-f",
        "json",
        "--",
        "sh",
        "-c",
        f"{per_request} && {no_source} && {loop}",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    loops = doc["nplusone"]
    assert [row["source"] is not None for row in loops] == [True], loops
    assert "FROM items WHERE id = $1" in loops[0]["statement"] and "grp = $1" in loops[0]["source"]["statement"]
    markdown = qprof("report", "--run", doc["run"]["name"], "--store", store)
    assert "secret-" not in result.stdout and "secret-" not in markdown.stdout
    assert " 703" not in json.dumps(loops)


def test_unmatched_durations_are_counted_in_the_report_and_bad_compares_are_refused(logged_cluster, tmp_path):
    dsn = _database(logged_cluster, "unmatched")
    psql = str(logged_cluster.bindir / "psql")
    load = f"{psql} -X -q -d '{dsn}' -c 'CREATE TABLE scratch (x int)' -c 'SELECT count(*) FROM items WHERE grp = 4'"
    store = tmp_path / "history.db"
    result = qprof("record", "-d", dsn, "--store", store, "--log", logged_cluster.logfile, "--no-advisors", "--name", "once", "--", "sh", "-c", load)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "matched no statement of this window" in line]
    assert "DDL" in line and re.search(r"\b1 of \d+ logged duration", line)  # the CREATE TABLE, counted and explained
    assert "nested in functions" not in result.stdout
    same = qprof("compare", "once", "once", "--store", store)
    assert same.returncode == 2 and "two different sides" in same.stderr
    ids = json.loads(qprof("runs", "list", "--store", store, "-f", "json").stdout)["runs"][0]["snapshots"]
    first, last = ids.split("–")
    reversed_range = qprof("compare", f"{last}..{first}", "once", "--store", store)
    assert reversed_range.returncode == 2 and "reversed" in reversed_range.stderr, reversed_range.stderr


def test_log_rotated_during_the_window_is_read_through_the_open_file(logged_cluster, tmp_path):
    """Last in this module: afterwards the server keeps writing to the renamed file."""
    dsn = _database(logged_cluster, "rotation")
    store = tmp_path / "history.db"
    log = logged_cluster.logfile
    psql = str(logged_cluster.bindir / "psql")
    load = (
        f"mv {log} {log}.1 && touch {log} && "  # what logrotate does; the server still writes to {log}.1
        + " && ".join(f"{psql} -X -q -d '{dsn}' -c 'SELECT count(*) FROM items WHERE grp = {i}'" for i in range(5))
    )
    result = qprof("record", "-d", dsn, "--store", store, "--log", log, "--no-advisors", "-f", "json", "--", "sh", "-c", load)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert any("rotated during the window" in note for note in doc["percentiles"]["notes"])
    (grp,) = [s for s in doc["statements"] if "WHERE grp" in s["query"]]
    assert grp["calls"] == 5 and grp["samples"] == 5 and grp["p95_ms"] is not None
