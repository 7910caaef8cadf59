-- The functions behind names, operators and oids, with what qprof judges them by.
-- Every overload of a name (qprof does not type the arguments; the worst overload decides);
-- unqualified names resolve on the session's search path, as the statement's own would.
-- Each input carries a route label ("called", "view v", "trigger t on x" …) that is returned.
WITH wanted(via, proc) AS (
    SELECT f.via, p.oid
    FROM unnest(%(func_schemas)s::text[], %(func_names)s::text[], %(func_via)s::text[]) AS f(schema, name, via)
    JOIN pg_proc p ON p.proname = f.name
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE (f.schema IS NULL AND n.nspname = ANY (current_schemas(true))) OR n.nspname = f.schema
  UNION ALL
    SELECT o.via || ' (operator ' || o.name || ')', op.oprcode::oid
    FROM unnest(%(operators)s::text[], %(operator_via)s::text[]) AS o(name, via)
    JOIN pg_operator op ON op.oprname = o.name AND op.oprcode <> 0
  UNION ALL
    SELECT x.via, x.proc
    FROM unnest(%(oids)s::oid[], %(oid_via)s::text[]) AS x(proc, via)
)
SELECT DISTINCT
       w.via,
       n.nspname                   AS schema,
       p.proname                   AS name,
       p.provolatile               AS volatility,
       pg_get_userbyid(p.proowner) AS owner,
       e.extname                   AS extension
FROM wanted w
JOIN pg_proc p ON p.oid = w.proc
JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_depend ed ON ed.classid = 'pg_proc'::regclass AND ed.objid = p.oid
                      AND ed.refclassid = 'pg_extension'::regclass AND ed.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = ed.refobjid
