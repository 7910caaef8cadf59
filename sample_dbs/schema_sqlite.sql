-- qprof sample application schema (SQLite 3.35+).
--
-- Same tables, columns and data as schema_postgresql.sql. Timestamps are ISO-8601 TEXT
-- ('YYYY-MM-DD HH:MM:SS'), so comparisons against literals such as
-- '2024-06-01 00:00:00' sort correctly. Foreign keys must be declared inline in SQLite;
-- they are only enforced on connections that enable PRAGMA foreign_keys.
-- Secondary indexes, including the planted bad ones, live in indexes_sqlite.sql.

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    country     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- PLANTED fk_without_index: orders.customer_id
CREATE TABLE orders (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    status       TEXT    NOT NULL,
    total_cents  INTEGER NOT NULL,
    created_at   TEXT    NOT NULL
);

CREATE TABLE clients (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    plan        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    client_id   INTEGER NOT NULL REFERENCES clients (id),
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

CREATE TABLE contents (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id),
    client_id    INTEGER NOT NULL REFERENCES clients (id),
    title        TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);

CREATE TABLE script_blocks (
    id          INTEGER PRIMARY KEY,
    content_id  INTEGER NOT NULL REFERENCES contents (id),
    position    INTEGER NOT NULL,
    body        TEXT    NOT NULL
);

-- PLANTED fk_without_index: audio_generations.content_id
CREATE TABLE audio_generations (
    id           INTEGER PRIMARY KEY,
    content_id   INTEGER NOT NULL REFERENCES contents (id),
    task_id      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    duration_ms  INTEGER,
    created_at   TEXT    NOT NULL
);

CREATE TABLE case_bank (
    id            INTEGER PRIMARY KEY,
    title         TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    success_rate  REAL    NOT NULL,
    usage_count   INTEGER NOT NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

-- PLANTED fk_without_index: execution_log.case_id
CREATE TABLE execution_log (
    id           INTEGER PRIMARY KEY,
    case_id      INTEGER NOT NULL REFERENCES case_bank (id),
    outcome      TEXT    NOT NULL,
    duration_ms  INTEGER NOT NULL,
    executed_at  TEXT    NOT NULL
);
