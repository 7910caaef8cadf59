-- What each relation a statement names runs when it is read or written: the view's definition,
-- its other rules, and (for writes) CHECK constraints, user triggers, and (for inserts) column
-- defaults and identity columns; plus row-level security policies, a foreign table's handler, and
-- the partitions / inheritance children that reading or writing the relation reaches, and (for
-- writes) the tables whose foreign keys act on it (ON DELETE/UPDATE CASCADE, SET NULL: written;
-- SET DEFAULT: written with their defaults), and trigger WHEN clauses (as CREATE TRIGGER text).
-- Expressions come back as text for PostgreSQL's parser: functions built into PostgreSQL are
-- "pinned" and have no pg_depend rows, so the catalog alone cannot say what a view calls.
-- Inputs: relation names quoted for to_regclass, and how each is used (0 read, 1 write, 2 insert).
SELECT r.name AS input,
       c.oid::regclass::text AS relation,
       r.mode,
       c.relkind,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS view_sql,
       ARRAY(SELECT pg_get_ruledef(w.oid) FROM pg_rewrite w
             WHERE w.ev_class = c.oid AND w.rulename <> '_RETURN') AS rules,
       ARRAY(SELECT quote_ident(a.attname) || '=' || pg_get_expr(d.adbin, d.adrelid)
             FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
             WHERE d.adrelid = c.oid AND r.mode >= 2) AS defaults,
       ARRAY(SELECT quote_ident(a.attname) FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attidentity <> '' AND NOT a.attisdropped AND r.mode >= 2) AS identities,
       ARRAY(SELECT k.conname || '=' || pg_get_expr(k.conbin, k.conrelid) FROM pg_constraint k
             WHERE k.conrelid = c.oid AND k.contype = 'c' AND r.mode >= 1) AS checks,
       ARRAY(SELECT p.polname || '=' || concat_ws(' AND ', pg_get_expr(p.polqual, p.polrelid),
                                                 pg_get_expr(p.polwithcheck, p.polrelid))
             FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
       ARRAY(SELECT t.tgfoid::oid FROM pg_trigger t
             WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgenabled <> 'D' AND r.mode >= 1 ORDER BY t.oid) AS trigger_functions,
       ARRAY(SELECT t.tgname::text FROM pg_trigger t
             WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgenabled <> 'D' AND r.mode >= 1 ORDER BY t.oid) AS trigger_names,
       ARRAY(SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t
             WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgenabled <> 'D' AND r.mode >= 1
               AND t.tgqual IS NOT NULL) AS trigger_whens,
       ARRAY(SELECT i.inhrelid::regclass::text FROM pg_inherits i WHERE i.inhparent = c.oid) AS children,
       ARRAY(SELECT k.conrelid::regclass::text FROM pg_constraint k
             WHERE k.confrelid = c.oid AND k.contype = 'f' AND r.mode >= 1
               AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd')) ORDER BY k.oid) AS referencing,
       ARRAY(SELECT CASE WHEN 'd' IN (k.confdeltype, k.confupdtype) THEN 2 ELSE 1 END FROM pg_constraint k
             WHERE k.confrelid = c.oid AND k.contype = 'f' AND r.mode >= 1
               AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd')) ORDER BY k.oid) AS referencing_modes,
       (SELECT w.fdwhandler::oid FROM pg_foreign_table ft
          JOIN pg_foreign_server s ON s.oid = ft.ftserver
          JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
         WHERE ft.ftrelid = c.oid) AS foreign_handler
FROM unnest(%(relations)s::text[], %(modes)s::int[]) AS r(name, mode)
JOIN pg_class c ON c.oid = to_regclass(r.name)
