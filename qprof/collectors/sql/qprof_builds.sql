-- Indexes under qprof's build name (qprof_<run>_<n>_<mark>_…, see qprof/advise/builds.py, which
-- checks the mark against the table's oid), with their comment, table and — for a partition's
-- index — the index it is attached to: a killed qprof run's leftovers are among these.
SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name, t.oid::bigint AS table_oid,
       tn.nspname AS table_schema, t.relname AS table_name, c.relkind::text AS kind, x.indisvalid AS valid,
       obj_description(c.oid, 'pg_class') AS comment, pn.nspname AS parent_schema, p.relname AS parent_name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index x ON x.indexrelid = c.oid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
LEFT JOIN pg_class p ON p.oid = i.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE c.relkind IN ('i', 'I') AND c.relname ~ '^qprof_[0-9a-f]{8}_[0-9]+_[0-9a-f]{8}_'
ORDER BY 2, 3
