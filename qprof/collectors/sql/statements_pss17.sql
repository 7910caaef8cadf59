-- pg_stat_statements before 1.8 (PostgreSQL 12 and older): *_time columns, blk_*_time.
SELECT s.queryid::text               AS queryid,
       s.query,
       s.calls,
       s.total_time                  AS total_ms,
       s.mean_time                   AS mean_ms,
       s.stddev_time                 AS stddev_ms,
       s.max_time                    AS max_ms,
       s.rows,
       s.shared_blks_hit,
       s.shared_blks_read,
       s.temp_blks_read + s.temp_blks_written AS temp_blks,
       s.blk_read_time + s.blk_write_time     AS io_ms,
       d.datname                     AS database,
       r.rolname                     AS "user",
       true                          AS toplevel
FROM pg_stat_statements s
LEFT JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE (%(all_databases)s OR d.datname = current_database())
  AND s.query NOT LIKE %(own_tag)s
