-- pg_stat_statements 1.11+ (PostgreSQL 17): block times split into shared_/local_blk_*_time.
SELECT s.queryid::text               AS queryid,
       s.query,
       s.calls,
       s.total_exec_time             AS total_ms,
       s.mean_exec_time              AS mean_ms,
       s.stddev_exec_time            AS stddev_ms,
       s.max_exec_time               AS max_ms,
       s.rows,
       s.shared_blks_hit,
       s.shared_blks_read,
       s.temp_blks_read + s.temp_blks_written AS temp_blks,
       s.shared_blk_read_time + s.shared_blk_write_time
         + s.local_blk_read_time + s.local_blk_write_time AS io_ms,
       d.datname                     AS database,
       r.rolname                     AS "user",
       s.toplevel                    AS toplevel
FROM pg_stat_statements s
LEFT JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE (%(all_databases)s OR d.datname = current_database())
  AND s.query NOT LIKE %(own_tag)s
