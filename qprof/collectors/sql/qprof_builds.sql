-- Indexes under qprof's build name (qprof_<run>_<n>_…, see qprof/advise/builds.py), with their
-- comment and table: a killed qprof run's leftovers are among these. Partition indexes attached
-- to one of them are left out (dropping the parent drops them).
SELECT n.nspname AS schema, c.relname AS name, tn.nspname AS table_schema, t.relname AS table_name,
       c.relkind::text AS kind, x.indisvalid AS valid, obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index x ON x.indexrelid = c.oid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE c.relkind IN ('i', 'I') AND NOT c.relispartition AND c.relname ~ '^qprof_[0-9a-f]{8}_[0-9]+_'
ORDER BY 1, 2
