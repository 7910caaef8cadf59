-- Tables another session holds (or awaits) ACCESS EXCLUSIVE on — the table itself, its TOAST
-- table or one of its indexes. Planning a statement on such a table waits for lock_timeout (the
-- planner takes AccessShareLock), so callers skip those statements up front. pg_locks and
-- pg_class take no relation lock.
WITH exclusive AS (
    SELECT l.relation, min(l.pid) AS pid
    FROM pg_locks l
    WHERE l.locktype = 'relation'
      AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.pid IS DISTINCT FROM pg_backend_pid()
    GROUP BY l.relation
)
SELECT n.nspname AS schema, c.relname AS name, min(e.pid) AS pid
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN exclusive e
  ON e.relation = c.oid
  OR e.relation = c.reltoastrelid
  OR e.relation IN (SELECT x.indexrelid FROM pg_index x WHERE x.indrelid = c.oid)
WHERE c.relkind IN ('r', 'p', 'm')
GROUP BY n.nspname, c.relname
