-- Activity and size of every user table (pg_stat_user_tables + relation sizes).
SELECT s.schemaname                    AS schema,
       s.relname                       AS name,
       pg_total_relation_size(s.relid) AS total_bytes,
       pg_relation_size(s.relid)       AS table_bytes,
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
       s.last_autoanalyze
FROM pg_stat_user_tables s
ORDER BY s.schemaname, s.relname
