-- Who this server and database are, so several databases can share one history store.
-- system_identifier is stable for the life of a cluster (and its physical replicas).
SELECT current_database()                       AS database,
       current_setting('server_version_num')::int AS server_version_num,
       current_setting('server_version')        AS server_version,
       pg_postmaster_start_time()               AS server_started,
       inet_server_addr()::text                 AS server_addr,
       inet_server_port()                       AS server_port
