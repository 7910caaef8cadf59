-- The qprof runs whose build session is alive: each holds the two-key advisory lock (lock class, run id).
SELECT objid::bigint AS run FROM pg_locks WHERE locktype = 'advisory' AND classid = %(lock_class)s AND objsubid = 2
