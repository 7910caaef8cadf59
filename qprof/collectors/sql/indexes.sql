-- Every index on a user table with its key columns, usage and the constraint it backs.
-- indoption/indclass/indcollation are 0-based vectors; pg_get_indexdef(oid, n, true) is 1-based.
SELECT n.nspname                                AS schema,
       t.relname                                AS "table",
       i.relname                                AS name,
       am.amname                                AS method,
       x.indisunique                            AS is_unique,
       x.indisprimary                           AS is_primary,
       x.indisvalid AND x.indisready            AS valid,
       con.conname                              AS "constraint",
       pg_get_indexdef(x.indexrelid)            AS definition,
       pg_get_expr(x.indpred, x.indrelid, true) AS predicate,
       pg_relation_size(x.indexrelid)           AS size_bytes,
       s.idx_scan,
       (SELECT json_agg(json_build_object(
                  'expression', pg_get_indexdef(x.indexrelid, k.n, true),
                  'descending', (x.indoption[k.n - 1] & 1) = 1,
                  'nulls_first', (x.indoption[k.n - 1] & 2) = 2,
                  'opclass', CASE WHEN opc.opcdefault THEN NULL ELSE opc.opcname END,
                  'collation', CASE WHEN x.indcollation[k.n - 1] IN (0, 100) THEN NULL ELSE coll.collname END,
                  'is_key', k.n <= x.indnkeyatts) ORDER BY k.n)
          FROM generate_series(1, x.indnatts::int) AS k(n)
          LEFT JOIN pg_opclass opc ON opc.oid = x.indclass[k.n - 1]
          LEFT JOIN pg_collation coll ON coll.oid = x.indcollation[k.n - 1]) AS columns
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = x.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.contype IN ('p', 'u', 'x')
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
ORDER BY n.nspname, t.relname, i.relname
