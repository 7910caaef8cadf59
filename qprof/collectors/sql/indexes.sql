-- Every index on a user table with its key columns, usage and the constraint it backs.
-- indoption/indclass/indcollation are 0-based vectors; pg_get_indexdef(oid, n, true) is 1-based.
-- pg_get_indexdef and pg_get_expr open the table and pg_relation_size the index: each waits
-- behind another session's ACCESS EXCLUSIVE lock (ALTER TABLE, VACUUM FULL, REINDEX, LOCK
-- TABLE) until lock_timeout. An index whose table or itself has such a lock in pg_locks comes
-- back with locked_by = that pid and nothing else read (the collector skips it).
WITH exclusive AS (
    SELECT l.relation, min(l.pid) AS pid
    FROM pg_locks l
    WHERE l.locktype = 'relation'
      AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.pid IS DISTINCT FROM pg_backend_pid()
    GROUP BY l.relation
), candidates AS (
    SELECT x.*, (SELECT min(e.pid) FROM exclusive e WHERE e.relation IN (x.indrelid, x.indexrelid)) AS locked_by
    FROM pg_index x
)
SELECT n.nspname                                AS schema,
       t.relname                                AS "table",
       i.relname                                AS name,
       am.amname                                AS method,
       x.indisunique                            AS is_unique,
       x.indisprimary                           AS is_primary,
       x.indisvalid AND x.indisready            AS valid,
       con.conname                              AS "constraint",
       CASE WHEN x.locked_by IS NULL THEN pg_get_indexdef(x.indexrelid) END            AS definition,
       CASE WHEN x.locked_by IS NULL THEN pg_get_expr(x.indpred, x.indrelid, true) END AS predicate,
       CASE WHEN x.locked_by IS NULL THEN pg_relation_size(x.indexrelid) END           AS size_bytes,
       x.locked_by,
       s.idx_scan,
       CASE WHEN x.locked_by IS NULL THEN (SELECT json_agg(json_build_object(
                  'expression', pg_get_indexdef(x.indexrelid, k.n, true),
                  'descending', (x.indoption[k.n - 1] & 1) = 1,
                  'nulls_first', (x.indoption[k.n - 1] & 2) = 2,
                  'opclass', CASE WHEN opc.opcdefault THEN NULL ELSE opc.opcname END,
                  'collation', CASE WHEN x.indcollation[k.n - 1] IN (0, 100) THEN NULL ELSE coll.collname END,
                  'is_key', k.n <= x.indnkeyatts) ORDER BY k.n)
          FROM generate_series(1, x.indnatts::int) AS k(n)
          LEFT JOIN pg_opclass opc ON opc.oid = x.indclass[k.n - 1]
          LEFT JOIN pg_collation coll ON coll.oid = x.indcollation[k.n - 1]) END AS columns
FROM candidates x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = x.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.contype IN ('p', 'u', 'x')
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
ORDER BY n.nspname, t.relname, i.relname
