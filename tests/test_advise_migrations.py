"""qprof advise: migration files, --verify/--apply (they write: own databases only), SQLite, fallbacks."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

LOOKUP = "SELECT id, status FROM orders WHERE customer_id = 42"
TASK = "SELECT id FROM audio_generations WHERE task_id = 'abc'"


@pytest.fixture(scope="module")
def mig_dsn(pg_cluster) -> str:
    from qprof.sample_dbs import load_postgres

    dsn = pg_cluster.create_database("advmig", extensions=("pg_stat_statements", "hypopg"))
    load_postgres(dsn, scale=0.02)
    return dsn


def index_names(pg_cluster, db: str) -> set[str]:
    out = pg_cluster.psql("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'", dbname=db)
    return set(out.split())


@pytest.mark.postgres
def test_sql_migrations_have_up_down_and_a_header_with_evidence(cli, mig_dsn, tmp_path):
    out = tmp_path / "mig"
    doc = cli.json("advise", "-d", mig_dsn, "--sql", LOOKUP, "--sql", TASK, "--out", out)
    files = sorted(out.glob("*.sql"))
    assert len(files) == 2 == len(doc["recommendations"])
    text = (out / "001_add_audio_generations_task_id_idx.sql").read_text()
    assert "-- migrate:up" in text and "-- migrate:down" in text
    assert 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "audio_generations_task_id_idx" ON "public"."audio_generations" ("task_id");' in text
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."audio_generations_task_id_idx";' in text
    assert "sql_2, calls 1: SELECT id FROM audio_generations WHERE task_id = 'abc'" in text
    assert "est. cost" in text and "qprof 0.1.0" in text and "dbname=advmig" in text
    assert "password" not in text
    assert doc["recommendations"][0]["file"].endswith("001_add_audio_generations_task_id_idx.sql")


@pytest.mark.postgres
def test_password_never_reaches_the_migration_header(cli, pg_cluster, mig_dsn, tmp_path):
    pg_cluster.psql("DO $$BEGIN CREATE ROLE advpw LOGIN PASSWORD 's3cret-pw' SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    dsn = pg_cluster.dsn("advmig", user="advpw", password="s3cret-pw")
    cli.json("advise", "-d", dsn, "--sql", LOOKUP, "--out", tmp_path)
    text = "".join(p.read_text() for p in tmp_path.glob("*.sql"))
    assert "advpw" in text and "s3cret-pw" not in text


@pytest.mark.postgres
def test_alembic_flyway_django_and_single_file(cli, mig_dsn, tmp_path):
    alembic = tmp_path / "alembic"
    cli.json("advise", "-d", mig_dsn, "--sql", LOOKUP, "--sql", TASK, "-m", "alembic", "--alembic-down-revision", "abc123", "--out", alembic)
    revisions = sorted(alembic.glob("*.py"))
    assert len(revisions) == 2
    texts = [p.read_text() for p in revisions]
    assert all("op.get_context().autocommit_block()" in t for t in texts)
    downs = sorted(t.split("down_revision = ")[1].split("\n")[0] for t in texts)
    assert "'abc123'" in downs  # the first one chains to the given revision, the second to the first
    compile(texts[0], "rev.py", "exec")

    flyway = tmp_path / "flyway"
    cli("advise", "-d", mig_dsn, "--sql", LOOKUP, "--format", "flyway", "--out", flyway)
    names = sorted(p.name for p in flyway.iterdir())
    assert any(n.startswith("V") and n.endswith("__add_orders_customer_id_idx.sql") for n in names)
    assert any(n.endswith(".sql.conf") for n in names)

    django = tmp_path / "django"
    cli.json("advise", "-d", mig_dsn, "--sql", LOOKUP, "-m", "django", "--out", django)
    (migration,) = django.glob("*.py")
    text = migration.read_text()
    assert "atomic = False" in text and "migrations.RunSQL(" in text and "reverse_sql=" in text
    compile(text, "m.py", "exec")

    single = tmp_path / "single"
    cli.json("advise", "-d", mig_dsn, "--sql", LOOKUP, "--sql", TASK, "--single-file", "--out", single)
    (only,) = single.glob("*.sql")
    assert only.read_text().count("CREATE INDEX CONCURRENTLY") == 2


@pytest.mark.postgres
def test_unwritable_out_dir_is_a_clear_error(cli, mig_dsn, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("advise", "-d", mig_dsn, "--sql", LOOKUP, "--out", blocker / "sub")
    assert result.exit_code == 2
    assert "cannot write migrations to" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.postgres
def test_verify_times_before_and_after_drops_the_index_and_charts(cli, pg_cluster, mig_dsn, tmp_path):
    before = index_names(pg_cluster, "advmig")
    doc = cli.json("advise", "-d", mig_dsn, "--sql", LOOKUP, "--verify", "--runs", "3", "--out", tmp_path)
    (rec,) = doc["recommendations"]
    (statement,) = rec["statements"]
    assert statement["ms_before"] > 0 and statement["ms_after"] > 0
    assert statement["ms_after"] < statement["ms_before"]
    assert rec["size_source"].startswith("pg_relation_size") and rec["build_ms"] is not None
    assert rec["size_bytes"] > 0
    assert index_names(pg_cluster, "advmig") == before  # measured, then dropped again
    assert (tmp_path / "verify_before_after.png").read_bytes()[:4] == b"\x89PNG"
    assert "measured median" in (tmp_path / "001_add_orders_customer_id_idx.sql").read_text()


@pytest.mark.postgres
def test_verify_drops_what_it_built_when_interrupted(pg_cluster, mig_dsn):
    from qprof.advise.advisor import advise, recommendations
    from qprof.advise.verify import verify
    from qprof.advise.workload_source import from_sql_texts
    from qprof.conninfo import parse_target
    from qprof.targets import open_target

    before = index_names(pg_cluster, "advmig")

    def interrupt(message: str) -> None:
        if message.startswith("timing") and " with " in message:
            raise KeyboardInterrupt

    with open_target(parse_target(mig_dsn)) as target:
        advice = advise(target, from_sql_texts([LOOKUP]))
        recs = recommendations(advice, "postgresql")
        with pytest.raises(KeyboardInterrupt):
            verify(target, recs, advice.by_key, runs=1, on_progress=interrupt)
    assert index_names(pg_cluster, "advmig") == before


@pytest.mark.postgres
def test_apply_creates_valid_indexes_and_then_nothing_is_left_to_advise(cli, pg_cluster):
    from qprof.sample_dbs import load_postgres

    dsn = pg_cluster.create_database("advapply", extensions=("hypopg",))
    load_postgres(dsn, scale=0.02)
    doc = cli.json("advise", "-d", dsn, "--sql", LOOKUP, "--apply", "--no-write")
    assert doc["applied"] == [
        {"index": "orders_customer_id_idx", "created": True, "valid": True, "ms": doc["applied"][0]["ms"], "size_bytes": doc["applied"][0]["size_bytes"]}
    ]
    assert "orders_customer_id_idx" in index_names(pg_cluster, "advapply")
    assert cli.json("advise", "-d", dsn, "--sql", LOOKUP, "--no-write")["recommendations"] == []


@pytest.mark.postgres
def test_drop_unused_writes_drops_that_recreate_from_pg_get_indexdef(cli, app_dsn, tmp_path):
    doc = cli.json("advise", "-d", app_dsn, "--sql", LOOKUP, "--drop-unused", "--out", tmp_path)
    dropped = {d["name"] for d in doc["drops"]}
    assert {"orders_total_cents_idx", "case_bank_updated_at_idx", "ix_campaigns_client_id"} <= dropped
    assert "campaigns_client_id_idx" not in dropped  # the kept twin of a duplicate pair is never dropped
    text = next(tmp_path.glob("drops/*drop_orders_total_cents_idx.sql")).read_text()
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_total_cents_idx";' in text
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_total_cents_idx ON public.orders USING btree (total_cents);" in text


@pytest.mark.postgres
def test_whatif_build_uses_rolled_back_builds_and_warns(cli, pg_cluster, mig_dsn):
    before = index_names(pg_cluster, "advmig")
    result = cli("advise", "-d", mig_dsn, "--sql", LOOKUP, "--whatif", "build", "--no-write", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "SHARE lock" in result.stderr
    import json

    doc = json.loads(result.stdout)
    assert doc["whatif"] == "build"
    assert [r["columns"] for r in doc["recommendations"]] == [["customer_id"]]
    assert index_names(pg_cluster, "advmig") == before


@pytest.mark.postgres
def test_without_hypopg_the_heuristic_is_labelled(cli, pg_cluster):
    from qprof.sample_dbs import load_postgres

    dsn = pg_cluster.create_database("advnohypo", extensions=())
    load_postgres(dsn, scale=0.02)
    result = cli("advise", "-d", dsn, "--sql", LOOKUP, "--no-write", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "heuristic" in result.stderr
    import json

    doc = json.loads(result.stdout)
    assert doc["whatif"] == "heuristic"
    assert [r["columns"] for r in doc["recommendations"]] == [["customer_id"]]
    assert cli("advise", "-d", dsn, "--sql", LOOKUP, "--whatif", "hypopg", "--no-write").exit_code == 2


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sqlite_advice_uses_a_scratch_copy_and_never_touches_the_file(cli, sample_sqlite, tmp_path):
    db = tmp_path / "app.sqlite"
    shutil.copy(sample_sqlite, db)
    digest, mtime = _digest(db), os.stat(db).st_mtime_ns
    doc = cli.json("advise", "-d", db, "--workload", _shop(), "--out", tmp_path / "m")
    assert _digest(db) == digest and os.stat(db).st_mtime_ns == mtime
    assert doc["whatif"] == "sqlite-scratch-copy"
    shapes = {(r["table"], r["columns"][0]) for r in doc["recommendations"]}
    assert ("main.orders", "customer_id") in shapes
    assert ("main.audio_generations", "task_id") in shapes
    text = "".join(p.read_text() for p in (tmp_path / "m").glob("*.sql"))
    assert 'CREATE INDEX IF NOT EXISTS "orders_customer_id' in text and "CONCURRENTLY" not in text


def test_sqlite_needs_a_workload(cli, sample_sqlite):
    result = cli("advise", "-d", sample_sqlite, "--no-write")
    assert result.exit_code == 2 and "--workload" in result.stderr


def _shop() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1] / "queries" / "shop.sql")


def _rec(table: str, column: str):
    from qprof.advise.candidates import Candidate, Key
    from qprof.advise.generator import Recommendation, create_ddl, drop_ddl, index_name

    candidate = Candidate("public", table, (Key(column),))
    name = index_name(candidate)
    return Recommendation(
        candidate=candidate,
        name=name,
        ddl=create_ddl(candidate, name, "postgresql"),
        drop_ddl=drop_ddl("public", name, "postgresql"),
        size_bytes=8192,
        size_source="test",
        write_overhead=0.0,
    )


@pytest.mark.parametrize("fmt", ["sql", "django", "alembic", "flyway"])
def test_running_twice_into_one_folder_continues_numbering_and_skips_identical(tmp_path, fmt):
    from qprof.advise.generator import RunInfo, write_migrations

    info = RunInfo(target="test", engine="postgresql", whatif_method="hypopg", cost_unit="planner cost")
    first = write_migrations([_rec("orders", "customer_id"), _rec("audio_generations", "task_id")], tmp_path, fmt, info)
    assert len(first) == 2
    contents = {p: p.read_text() for p in tmp_path.iterdir()}
    skipped: list = []
    again = [_rec("orders", "customer_id"), _rec("contents", "title")]
    second = write_migrations(again, tmp_path, fmt, info, skipped=skipped)
    assert [rec.name for rec, _ in skipped] == ["orders_customer_id_idx"] and skipped[0][1] == first[0]
    assert again[0].file == str(first[0])
    assert len(second) == 1 and "contents_title_idx" in second[0].name
    assert all(p.read_text() == text for p, text in contents.items())  # nothing overwritten
    if fmt == "sql":
        assert [p.name[:4] for p in (*first, *second)] == ["001_", "002_", "003_"]
    if fmt == "django":
        assert [p.name[:5] for p in (*first, *second)] == ["0001_", "0002_", "0003_"]
    if fmt == "alembic":
        assert "down_revision = " + repr(first[1].name.split("_")[0]) in second[0].read_text()  # chained to the head
    assert write_migrations([_rec("orders", "customer_id")], tmp_path, fmt, info) == []


def test_numbering_continues_after_the_highest_existing_number(tmp_path):
    from qprof.advise.generator import RunInfo, write_migrations

    (tmp_path / "007_by_hand.sql").write_text("-- someone else's migration\n")
    info = RunInfo(target="test", engine="postgresql", whatif_method="hypopg", cost_unit="planner cost")
    (path,) = write_migrations([_rec("orders", "customer_id")], tmp_path, "sql", info)
    assert path.name == "008_add_orders_customer_id_idx.sql"
    assert (tmp_path / "007_by_hand.sql").read_text() == "-- someone else's migration\n"


@pytest.mark.parametrize("fmt", ["sql", "django", "alembic", "flyway"])
def test_an_earlier_runs_migration_the_new_advice_makes_redundant_is_named(tmp_path, fmt):
    """A first advise wrote orders(customer_id); a later one advises orders(customer_id, created_at),
    which serves every statement the first would: applying both builds an index nobody needs."""
    from qprof.advise.candidates import Candidate, Key
    from qprof.advise.generator import Recommendation, RunInfo, create_ddl, drop_ddl, index_name, superseded_migrations, write_migrations

    info = RunInfo(target="test", engine="postgresql", whatif_method="hypopg", cost_unit="planner cost")
    (old, other) = write_migrations([_rec("orders", "customer_id"), _rec("orders", "status")], tmp_path, fmt, info)
    (tmp_path / "V9_9__by_hand.sql").write_text("-- index on public.orders (customer_id)\n")  # not qprof's: never named
    wider = Candidate("public", "orders", (Key("customer_id"), Key("created_at")))
    name = index_name(wider)
    rec = Recommendation(
        candidate=wider,
        name=name,
        ddl=create_ddl(wider, name, "postgresql"),
        drop_ddl=drop_ddl("public", name, "postgresql"),
        size_bytes=8192,
        size_source="test",
        write_overhead=0.0,
    )
    (new,) = write_migrations([rec], tmp_path, fmt, info)
    assert superseded_migrations([rec], tmp_path, fmt, [new]) == [(old, rec)]  # not orders(status), not the new file
    assert superseded_migrations([_rec("orders", "customer_id")], tmp_path, fmt, [old]) == []  # same index, kept file
