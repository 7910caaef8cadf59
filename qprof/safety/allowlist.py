"""Which functions qprof executes, and why the others are refused: the rule in one place.

PostgreSQL: a function runs when it is declared IMMUTABLE or STABLE, or when it is one of the
few volatile functions below whose only effects are a value, a wait, or a lock released at the
end of the transaction (qprof always ends it with a rollback). Everything else volatile is
refused — sequences, other connections, large objects, server files, administration,
replication, signals, session-level locks and settings, and any function qprof does not
know — because a rollback does not undo what it does. Checked first, whatever pg_proc
declares: :data:`DENIED`, built-ins that run SQL given as a string (query_to_xml, ts_stat, …)
or assign a transaction id while declared STABLE (txid_current).

SQLite: built-in functions run, except those that load code or touch files.
"""

from __future__ import annotations

# pg_catalog functions that are volatile only because they return a new value each call,
# wait, read a size/position, or take a lock that the (always rolled back) transaction drops.
HARMLESS_VOLATILE = frozenset(
    {
        "random",
        "random_normal",
        "gen_random_uuid",
        "clock_timestamp",
        "timeofday",
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "pg_advisory_xact_lock",
        "pg_advisory_xact_lock_shared",
        "pg_try_advisory_xact_lock",
        "pg_try_advisory_xact_lock_shared",
        "set_config",  # only when transaction-local: checked on the call itself
        "pg_relation_size",
        "pg_total_relation_size",
        "pg_table_size",
        "pg_indexes_size",
        "pg_database_size",
        "pg_tablespace_size",
        "pg_current_wal_lsn",
        "pg_current_wal_insert_lsn",
        "pg_last_wal_receive_lsn",
        "pg_last_wal_replay_lsn",
        "pg_is_in_recovery",
        "currval",
        "lastval",
        # monitoring readers behind pg_locks, pg_sequences and friends
        "pg_lock_status",
        "pg_blocking_pids",
        "pg_safe_snapshot_blocking_pids",
        "pg_current_wal_flush_lsn",
        "pg_last_xact_replay_timestamp",
        "pg_sequence_last_value",
        "pg_is_wal_replay_paused",
        "pg_get_wal_replay_pause_state",
        "pg_notification_queue_usage",
        "pg_partition_tree",
        "pg_partition_ancestors",
        "pg_jit_available",
        "pg_xact_status",
        "txid_status",
        "pg_last_committed_xact",
        "pg_xact_commit_timestamp",
    }
)
# Harmless volatile functions of extensions, by extension.
HARMLESS_EXTENSION_VOLATILE = {"uuid-ossp": frozenset({"uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4"})}

_CATEGORIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("nextval", "setval"), "moves a sequence, which no rollback undoes"),
    (("dblink",), "works over its own connection, outside qprof's transaction"),
    (("postgres_fdw", "file_fdw"), "reaches a foreign server or file"),
    (("lo_",), "large objects and their server files outlive the rollback"),
    (("pg_file_", "pg_logdir_ls", "pg_file_write"), "writes server files"),
    (
        (
            "pg_reload_conf",
            "pg_rotate_logfile",
            "pg_switch_wal",
            "pg_stat_reset",
            "pg_stat_statements_reset",
            "pg_checkpoint",
            "pg_promote",
            "pg_backup_",
            "pg_create_restore_point",
            "pg_wal_replay_",
            "pg_log_backend_memory",
        ),
        "server administration, not transactional",
    ),
    (("pg_create_", "pg_drop_replication", "pg_replication_", "pg_logical_", "pg_copy_"), "replication: slots and origins outlive the rollback (and keep WAL)"),
    (("pg_terminate_backend", "pg_cancel_backend", "pg_signal_backend"), "signals another session"),
    (("pg_advisory_lock", "pg_try_advisory_lock", "pg_advisory_unlock"), "session-level advisory lock, held after the rollback"),
    (("set_config",), "a session setting (is_local false) outlives the rollback"),
    (("pg_notify",), "notifies listeners"),
    (("txid_current", "pg_current_xact_id"), "assigns a transaction id"),
)

# pg_catalog functions refused whatever pg_proc says (checked before the volatility rule):
# they run SQL given as a string or a name, which qprof cannot see before it runs, or they are
# declared STABLE yet assign a transaction id.
_XML_QUERIES = ("table", "query", "cursor", "schema", "database")
DENIED = {
    **{
        f"{what}_to_{form}": "runs SQL built from its arguments, which qprof cannot see"
        for what in _XML_QUERIES
        for form in ("xml", "xmlschema", "xml_and_xmlschema")
    },
    "ts_stat": "runs the SQL query given as text",
    "txid_current": "assigns a transaction id (declared STABLE)",
    "pg_current_xact_id": "assigns a transaction id (declared STABLE)",
}
# name → the identity arguments of the one overload denied (the others are harmless)
DENIED_OVERLOAD = {"ts_rewrite": ("tsquery, text", "runs the SQL query given as text")}


def denied_reason(schema: str | None, name: str, arguments: str | None) -> str | None:
    """Why a built-in is refused regardless of its declared volatility, or None."""
    if schema != "pg_catalog":
        return None
    if name in DENIED:
        return DENIED[name]
    overload = DENIED_OVERLOAD.get(name)
    return overload[1] if overload and arguments == overload[0] else None


def why_refused(name: str) -> str:
    """Why a volatile function is not executed, in words."""
    for prefixes, reason in _CATEGORIES:
        if any(name.startswith(prefix) for prefix in prefixes):
            return reason
    return "volatile: qprof cannot tell what it does outside the transaction"


def harmless(schema: str | None, name: str, volatility: str, extension: str | None) -> bool:
    """Whether a PostgreSQL function may run inside qprof's rolled-back transaction."""
    if volatility in ("immutable", "stable"):
        return True
    if schema == "pg_catalog" and name in HARMLESS_VOLATILE:
        return True
    return extension is not None and name in HARMLESS_EXTENSION_VOLATILE.get(extension, frozenset())


# SQLite: built-ins that load code or reach files; the shell's readfile/writefile/edit are
# application functions (not built in), refused like any function SQLite does not ship.
SQLITE_REFUSED = {
    "load_extension": "loads a shared library into the process",
    "fts3_tokenizer": "registers a tokenizer by pointer",
    "readfile": "reads a file",
    "writefile": "writes a file",
    "edit": "starts an editor",
}
# Statement parts SQLite's authorizer reports that act outside the database file.
# (PRAGMA statements are refused before this as utility statements; the pragma_* table-valued
# functions SQLite allows inside a SELECT only read.)
SQLITE_REFUSED_ACTIONS = {"ATTACH": "attaches another database file", "DETACH": "detaches a database"}
