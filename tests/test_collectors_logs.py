"""Server-log parsing: formats, prefixes, protocol variants and bad input (never a traceback)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest

from qprof.collectors.logs import LogReader, compile_prefix, iter_log_statements, parse_parameters, workload_from_logs

LOOKUP = "SELECT * FROM orders WHERE customer_id = $1"


def _stderr_request(pid: int, second: int, ids: range, prefix: str = "{ts} [{pid}] ") -> list[str]:
    """One request as the server logs it with log_min_duration_statement = 0 (extended protocol)."""
    head = prefix.format(ts=f"2024-05-01 12:00:{second:02d}.100 UTC", pid=pid)
    lines = [f"{head}LOG:  duration: 3.000 ms  statement: SELECT id FROM customers\n\tORDER BY id LIMIT 20"]
    for i in ids:
        lines += [
            f"{head}LOG:  duration: 0.500 ms  parse <unnamed>: {LOOKUP}",
            f"{head}LOG:  duration: 0.500 ms  bind <unnamed>: {LOOKUP}",
            f"{head}DETAIL:  parameters: $1 = '{i}'",
            f"{head}LOG:  duration: 14.000 ms  execute <unnamed>: {LOOKUP}",
            f"{head}DETAIL:  parameters: $1 = '{i}'",
        ]
    return lines


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_extended_protocol_counted_once_with_parameters(tmp_path: Path) -> None:
    path = _write(tmp_path / "pg.log", _stderr_request(7, 0, range(1, 4)))
    statements = list(iter_log_statements([path]))
    assert [s.sql.split()[1:4] for s in statements][0] == ["id", "FROM", "customers"]
    assert "\nORDER BY id" in statements[0].sql  # continuation lines belong to the statement
    lookups = statements[1:]
    assert [s.params for s in lookups] == [("1",), ("2",), ("3",)]
    assert all(s.duration_ms == 15.0 for s in lookups)  # parse + bind + execute
    assert workload_from_logs([path]) == [("select * from orders where customer_id = ?", 3), ("select id from customers order by id limit ?", 1)]


def test_log_statement_all_with_separate_duration_lines(tmp_path: Path) -> None:
    lines = [
        "2024-05-01 12:00:00.100 UTC [9] LOG:  statement: SELECT 1",
        "2024-05-01 12:00:00.101 UTC [9] LOG:  duration: 0.250 ms",
        "2024-05-01 12:00:00.102 UTC [9] LOG:  execute S_1: SELECT * FROM t WHERE id = $1",
        "2024-05-01 12:00:00.102 UTC [9] DETAIL:  parameters: $1 = 'it''s', $2 = NULL",
        "2024-05-01 12:00:00.103 UTC [9] LOG:  duration: 1.5 ms",
    ]
    [first, second] = iter_log_statements([_write(tmp_path / "pg.log", lines)])
    assert first.duration_ms == 0.25 and second.duration_ms == 1.5
    assert second.params == ("it's", None)
    assert parse_parameters("parameters: $2 = '5'") == (None, "5")


def test_cli_finds_nplusone_per_unit_with_gap_units(cli, tmp_path: Path) -> None:
    lines = _stderr_request(11, 0, range(1, 6)) + _stderr_request(12, 0, range(1, 5)) + _stderr_request(11, 30, range(1, 5))
    doc = cli.json("nplusone", "--log", _write(tmp_path / "pg.log", lines))
    [finding] = doc["findings"]
    evidence = finding["evidence"]
    # session 11's first request has 5 lookups; session 12 and session 11's later request
    # (after an idle gap) have 4 each: under the threshold
    assert evidence["executions"] == 5 and evidence["units"] == 1 and evidence["total_ms"] == 75.0
    assert evidence["source"]["statement"].startswith("SELECT id FROM customers")
    assert evidence["sample_params"] == [["1"]]
    assert "= ANY($1)" in finding["suggestion"]
    assert doc["units"] == 3 and doc["statements"] == 3 + 13
    assert finding["severity"] == "warning" and doc["unit_kind"].startswith("session bursts")
    assert "add %v to log_line_prefix" in doc["unit_kind"]
    # one unit per session: the later request is a loop of its own (its own source), still 4 lookups
    merged = cli.json("nplusone", "--log", tmp_path / "pg.log", "--gap-ms", "60000")
    assert [f["evidence"]["executions"] for f in merged["findings"]] == [5]
    # --min-ms only decides the severity: a cheaper-than-that loop is still found, as info
    [cheap] = cli.json("nplusone", "--log", tmp_path / "pg.log", "--min-ms", "100")["findings"]
    assert cheap["severity"] == "info" and "cheap on this data" in cheap["message"]
    table = cli("nplusone", "--log", tmp_path / "pg.log", "--min-ms", "100", "--fail-on", "warning")
    assert table.exit_code == 0 and "units: session bursts" in table.stderr
    assert cli("nplusone", "--log", tmp_path / "pg.log", "--min-ms", "100", "--fail-on", "info").exit_code == 1


def test_prefix_forms_and_explicit_prefix(cli, tmp_path: Path) -> None:
    common = _stderr_request(5, 0, range(1, 7), prefix="{ts} [{pid}] app@shop ")
    doc = cli.json("nplusone", "--log", _write(tmp_path / "a.log", common))
    assert doc["files"][0]["prefix"] == "%m [%p] %q%u@%d " and len(doc["findings"]) == 1
    custom = _stderr_request(5, 0, range(1, 7), prefix="{pid}|{ts}| ")
    path = _write(tmp_path / "b.log", custom)
    unknown = cli("nplusone", "--log", path)
    assert unknown.exit_code == 2 and "no line matches a known log_line_prefix" in unknown.stderr
    assert "--log-prefix" in unknown.stderr and "Traceback" not in unknown.stderr
    doc = cli.json("nplusone", "--log", path, "--log-prefix", "%p|%m| ")
    assert len(doc["findings"]) == 1
    prefix = compile_prefix("%m [%p] %c %v %q%u@%d ")
    assert prefix.has_session and prefix.has_transaction


def test_transaction_units_from_vxid(tmp_path: Path, cli) -> None:
    lines = []
    for vxid, ids in (("3/10", range(1, 4)), ("3/11", range(4, 8))):
        lines += _stderr_request(5, 0, ids, prefix="{ts} [{pid}] " + vxid + " ")
    doc = cli.json("nplusone", "--log", _write(tmp_path / "v.log", lines), "--log-prefix", "%m [%p] %v ", "--threshold", "4")
    assert doc["unit_kind"].startswith("transactions")
    [finding] = doc["findings"]
    assert finding["evidence"]["executions"] == 4 and "transaction 3/11" in finding["evidence"]["unit"]


def test_csvlog_jsonlog_and_gzip(tmp_path: Path, cli) -> None:
    def rows():
        yield [
            "2024-05-01 12:00:00.100 UTC",
            "app",
            "shop",
            "5",
            "",
            "66.5",
            "1",
            "SELECT",
            "",
            "3/1",
            "0",
            "LOG",
            "00000",
            "duration: 2.000 ms  statement: SELECT id FROM customers",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "psql",
            "client backend",
            "",
            "0",
        ]
        for i in range(1, 7):
            yield [
                "2024-05-01 12:00:00.200 UTC",
                "app",
                "shop",
                "5",
                "",
                "66.5",
                "2",
                "SELECT",
                "",
                "3/1",
                "0",
                "LOG",
                "00000",
                f"duration: 10.000 ms  execute <unnamed>: {LOOKUP}",
                f"parameters: $1 = '{i}'",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "psql",
                "client backend",
                "",
                "0",
            ]

    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows())
    (tmp_path / "pg.csv").write_text(buffer.getvalue())
    with gzip.open(tmp_path / "pg.csv.gz", "wt") as f:
        f.write(buffer.getvalue())
    keys = [
        "timestamp",
        "user",
        "dbname",
        "pid",
        "remote_host",
        "session_id",
        "line_num",
        "ps",
        "session_start",
        "vxid",
        "txid",
        "error_severity",
        "state_code",
        "message",
        "detail",
    ]
    json_lines = [json.dumps({k: v for k, v in zip(keys, row[:15], strict=True) if v}) for row in rows()]
    _write(tmp_path / "pg.json", json_lines)
    for name, fmt in (("pg.csv", "csvlog"), ("pg.csv.gz", "csvlog"), ("pg.json", "jsonlog")):
        doc = cli.json("nplusone", "--log", tmp_path / name)
        assert doc["files"][0]["format"] == fmt and doc["statements"] == 7, name
        [finding] = doc["findings"]
        assert finding["evidence"]["executions"] == 6 and "transaction 3/1" in finding["evidence"]["unit"]


def test_bad_input_is_a_message_or_counted_lines(tmp_path: Path, cli) -> None:
    good = _stderr_request(5, 0, range(1, 7))
    messy = good[:3] + ["this is not a log line", "\x00\x01\x02 garbage", good[3][:25]] + good[3:] + [good[-1][:30]]
    doc = cli.json("nplusone", "--log", _write(tmp_path / "messy.log", messy))
    assert doc["skipped_lines"] == 4 and len(doc["findings"]) == 1

    (tmp_path / "empty.log").write_bytes(b"")
    result = cli("nplusone", "--log", tmp_path / "empty.log")
    assert result.exit_code == 0 and "empty file" in result.stderr and "no N+1 found" in result.stderr

    (tmp_path / "garbage.bin").write_bytes(bytes(range(256)) * 400)
    result = cli("nplusone", "--log", tmp_path / "garbage.bin")
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr

    result = cli("nplusone", "--log", tmp_path / "missing.log")
    assert result.exit_code == 2 and "log file not found" in result.stderr

    whole = gzip.compress(("\n".join(good) + "\n").encode())
    (tmp_path / "cut.log.gz").write_bytes(whole[: len(whole) // 2])
    result = cli("nplusone", "--log", tmp_path / "cut.log.gz", "--format", "json")
    assert result.exit_code == 0 and "read stopped early" in result.stderr
    assert json.loads(result.stdout)["files"][0]["error"]

    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    result = cli("nplusone", "--log", tmp_path / "notes.txt")
    assert result.exit_code == 2 and "does not look like a PostgreSQL log" in result.stderr


def test_reader_skips_own_statements_and_counts(tmp_path: Path) -> None:
    lines = [
        "2024-05-01 12:00:00.100 UTC [9] LOG:  duration: 1.0 ms  statement: /* qprof */ SELECT 1",
        "2024-05-01 12:00:00.100 UTC [9] LOG:  duration: 1.0 ms  statement: SELECT 2",
        "2024-05-01 12:00:00.100 UTC [9] LOG:  checkpoint starting: time",
    ]
    reader = LogReader([_write(tmp_path / "own.log", lines)])
    assert [s.sql for s in reader] == ["SELECT 2"]
    assert reader.statements == 1 and reader.skipped_lines == 0


def test_range_parallel_parsing_matches_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Big plain logs are parsed in byte ranges by worker processes; cuts anywhere change nothing."""
    from qprof.collectors.logs import ranges

    monkeypatch.setattr(ranges, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(ranges, "RANGE_BYTES", 300)  # cuts inside requests, between parse/bind/execute
    lines: list[str] = []
    for request in range(12):  # interleave sessions so state is pending at most cuts
        lines += _stderr_request(100 + request % 3, request, range(request, request + 4))
    lines.append("this line is not a log record")
    stderr_log = _write(tmp_path / "big.log", lines)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for n in range(60):
        message = f"duration: 1.000 ms  execute <unnamed>: SELECT *\nFROM orders WHERE id = $1 -- row {n}"
        writer.writerow(
            [
                "2024-05-01 12:00:00.100 UTC",
                "app",
                "shop",
                str(5 + n % 4),
                "",
                f"66.{n % 4}",
                str(n),
                "SELECT",
                "",
                f"3/{n // 8}",
                "0",
                "LOG",
                "00000",
                message,
                f"parameters: $1 = '{n}'",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "psql",
                "client backend",
                "",
                "0",
            ]
        )
    csv_log = tmp_path / "big.csv"
    csv_log.write_text(buffer.getvalue())
    for path in (stderr_log, csv_log):
        one_pass = [row for block in LogReader([path]).rows() for row in block]
        pool = ranges.RangePool(2, fork=True)
        asked = []
        ask = pool.ask
        monkeypatch.setattr(pool, "ask", lambda task, asked=asked, ask=ask: (asked.append(task), ask(task)))
        try:
            parallel = [row for block in LogReader([path]).rows(pool) for row in block]
        finally:
            pool.close()
        assert len(one_pass) > 40 and len(asked) > 3, path.name  # really parsed in ranges
        assert parallel == one_pass, path.name


RDS_PREFIX = "{ts}:10.0.4.7(51234):app@shop:[{pid}]:"


def test_rds_and_cloudwatch_exports_are_detected(cli, tmp_path: Path) -> None:
    rds = [line.replace(".100 UTC", " UTC") for line in _stderr_request(7, 0, range(1, 7), prefix=RDS_PREFIX)]
    rds.insert(0, "2024-05-01 12:00:00 UTC::@:[31]:LOG:  checkpoint starting: time")
    doc = cli.json("nplusone", "--log", _write(tmp_path / "postgresql.log.2024-05-01-12", rds))
    assert doc["files"][0]["prefix"] == "%t:%r:%u@%d:[%p]:" and doc["skipped_lines"] == 0
    assert [f["evidence"]["executions"] for f in doc["findings"]] == [6]
    # CloudWatch Logs exports add their own ISO timestamp before each line (not before continuations)
    exported = [line if line.startswith("\t") else f"2024-05-01T12:00:00.512Z {line}" for line in "\n".join(rds).split("\n")]
    doc = cli.json("nplusone", "--log", _write(tmp_path / "000000.log", exported))
    assert doc["files"][0]["prefix"] == "%Z %t:%r:%u@%d:[%p]:" and doc["skipped_lines"] == 0
    [finding] = doc["findings"]
    assert finding["evidence"]["executions"] == 6 and finding["evidence"]["source"]["statement"].startswith("SELECT id FROM customers")


def test_prefix_change_mid_file_is_reported_and_read_on(cli, tmp_path: Path) -> None:
    """A quarter of the file with the default prefix, then RDS's: nothing is skipped, the change is said."""
    first = _stderr_request(3, 0, range(1, 7))
    rest = [line.replace(".100 UTC", " UTC") for n in range(3) for line in _stderr_request(20 + n, 5, range(1, 7), prefix=RDS_PREFIX)]
    path = _write(tmp_path / "mixed.log", first + rest)
    result = cli("nplusone", "--log", path, "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["skipped_lines"] == 0 and doc["statements"] == 4 * 7
    assert doc["files"][0]["prefix_changes"] == [{"line": len(first) + 1 + 1, "prefix": "%t:%r:%u@%d:[%p]:"}]
    assert f"mixed.log:{len(first) + 2}: the log line prefix changed; reading on with '%t:%r:%u@%d:[%p]:'" in result.stderr
    assert doc["findings"][0]["evidence"]["units"] == 4
    # and the same through the range-parallel reader (workers resynchronise on their own)
    from qprof.collectors.logs import LogReader
    from qprof.collectors.logs.ranges import RangePool

    pool = RangePool(2, fork=True)
    try:
        reader = LogReader([path])
        rows = [row for block in reader.rows(pool) for row in block]
    finally:
        pool.close()
    assert len(rows) == 28 and reader.skipped_lines == 0
