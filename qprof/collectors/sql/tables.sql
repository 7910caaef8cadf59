-- Activity and size of every user table (pg_stat_user_tables + relation sizes).
-- The size functions open the table, its indexes and TOAST table (AccessShareLock), which waits
-- behind an ACCESS EXCLUSIVE lock held or requested by another session (ALTER TABLE, VACUUM
-- FULL, LOCK TABLE) until lock_timeout; the statistics views take no lock. So a table with such
-- a lock in pg_locks gets NULL sizes and locked_by = the pid holding or awaiting it.
WITH exclusive AS (
    SELECT l.relation, min(l.pid) AS pid
    FROM pg_locks l
    WHERE l.locktype = 'relation'
      AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.pid IS DISTINCT FROM pg_backend_pid()
    GROUP BY l.relation
), stats AS (
    SELECT s.*,
           (SELECT min(e.pid)
              FROM exclusive e
             WHERE e.relation = s.relid
                OR e.relation = (SELECT c.reltoastrelid FROM pg_class c WHERE c.oid = s.relid)
                OR e.relation IN (SELECT x.indexrelid FROM pg_index x WHERE x.indrelid = s.relid)) AS locked_by
    FROM pg_stat_user_tables s
)
SELECT s.schemaname                    AS schema,
       s.relname                       AS name,
       CASE WHEN s.locked_by IS NULL THEN pg_total_relation_size(s.relid) END AS total_bytes,
       CASE WHEN s.locked_by IS NULL THEN pg_relation_size(s.relid) END       AS table_bytes,
       s.n_live_tup,
       s.n_dead_tup,
       s.seq_scan,
       s.seq_tup_read,
       s.idx_scan,
       s.n_tup_ins,
       s.n_tup_upd,
       s.n_tup_del,
       s.n_tup_hot_upd,
       s.last_vacuum,
       s.last_autovacuum,
       s.last_analyze,
       s.last_autoanalyze,
       s.locked_by
FROM stats s
ORDER BY s.schemaname, s.relname
