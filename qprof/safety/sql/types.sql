-- The functions that the types a statement touches run without being named: for the column types
-- of every relation it reaches, the types it casts to, and the argument/result types of the
-- functions it calls — followed through domains' base types, array elements, range subtypes and
-- composite attributes — and then, for each type created in this database (oid >= 16384):
-- its operators (implicit in IN, USING, CASE, joins), its operator-class support functions
-- (ORDER BY, GROUP BY, DISTINCT, hashing), its casts and its input/output functions; for every
-- type, the casts someone created (CREATE CAST … WITH FUNCTION) that can apply; and the CHECK
-- constraints and defaults of domains, as text for PostgreSQL's parser.
WITH RECURSIVE used(type) AS (
    SELECT a.atttypid FROM unnest(%(relations)s::text[]) AS r(name)
    JOIN pg_attribute a ON a.attrelid = to_regclass(r.name) AND a.attnum > 0 AND NOT a.attisdropped
  UNION
    SELECT to_regtype(n)::oid FROM unnest(%(type_names)s::text[]) AS n WHERE to_regtype(n) IS NOT NULL
  UNION
    SELECT unnest(%(type_oids)s::oid[])
), chain(type) AS (
    SELECT type FROM used
  UNION
    SELECT x.type
    FROM chain c
    JOIN pg_type t ON t.oid = c.type
    CROSS JOIN LATERAL unnest(ARRAY[t.typbasetype, t.typelem,
                                    (SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid)]
                              || ARRAY(SELECT a.atttypid FROM pg_attribute a
                                       WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)) AS x(type)
    WHERE x.type IS NOT NULL AND x.type <> 0
), own(type) AS (
    SELECT type FROM chain WHERE type >= 16384
), procs(via, proc) AS (
    SELECT 'operator ' || o.oid::regoperator::text, o.oprcode::oid
    FROM pg_operator o WHERE o.oprcode <> 0 AND (o.oprleft IN (SELECT type FROM own) OR o.oprright IN (SELECT type FROM own))
  UNION ALL
    SELECT 'operator class support of ' || format_type(p.amproclefttype, NULL), p.amproc::oid
    FROM pg_amproc p WHERE p.amproclefttype IN (SELECT type FROM own) OR p.amprocrighttype IN (SELECT type FROM own)
  UNION ALL
    SELECT 'cast ' || format_type(k.castsource, NULL) || ' -> ' || format_type(k.casttarget, NULL), k.castfunc
    FROM pg_cast k
    WHERE k.castfunc <> 0
      AND (k.castsource IN (SELECT type FROM own) OR k.casttarget IN (SELECT type FROM own)
           -- a cast someone created between other types: implicit/assignment ones wherever the
           -- type is touched, explicit ones where the statement casts to its target
           OR (k.oid >= 16384 AND k.castcontext IN ('i', 'a')
               AND (k.castsource IN (SELECT type FROM chain) OR k.casttarget IN (SELECT type FROM chain)))
           OR (k.oid >= 16384 AND k.casttarget IN (SELECT to_regtype(n)::oid FROM unnest(%(type_names)s::text[]) AS n)))
  UNION ALL
    SELECT 'input/output of type ' || format_type(t.oid, NULL), f.proc
    FROM pg_type t
    CROSS JOIN LATERAL unnest(ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin, t.typmodout,
                                    t.typsubscript]::oid[]) AS f(proc)
    WHERE t.oid IN (SELECT type FROM own) AND f.proc <> 0
)
SELECT ARRAY(SELECT proc FROM procs GROUP BY proc ORDER BY proc) AS procs,
       ARRAY(SELECT min(via) FROM procs GROUP BY proc ORDER BY proc) AS proc_via,
       ARRAY(SELECT DISTINCT format_type(k.contypid, NULL) || '=' || pg_get_expr(k.conbin, 0)
             FROM pg_constraint k WHERE k.contypid IN (SELECT type FROM chain) AND k.contype = 'c') AS checks,
       ARRAY(SELECT DISTINCT format_type(t.oid, NULL) || '=' || t.typdefault
             FROM pg_type t WHERE t.oid IN (SELECT type FROM chain) AND t.typtype = 'd' AND t.typdefault IS NOT NULL) AS defaults
