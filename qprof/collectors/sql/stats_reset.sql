-- When the cumulative statistics of this database were last reset (NULL: never since initdb).
SELECT stats_reset, now() - stats_reset AS age, pg_postmaster_start_time() AS server_started
FROM pg_stat_database
WHERE datname = current_database()
