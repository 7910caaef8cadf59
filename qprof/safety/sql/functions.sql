-- The functions behind names, operators, attribute notation and oids, with what qprof judges them by.
-- Every overload of a name (qprof does not type the arguments; the worst overload decides);
-- unqualified names and operators resolve on the session's search path, as the statement's own
-- would. Each input carries a route label ("called", "view v", "trigger t on x" …) that is returned.
-- An aggregate is judged by its support functions (pg_proc calls every aggregate immutable).
WITH named(via, proc) AS (
    SELECT f.via, p.oid
    FROM unnest(%(func_schemas)s::text[], %(func_names)s::text[], %(func_via)s::text[]) AS f(schema, name, via)
    JOIN pg_proc p ON p.proname = f.name
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE (f.schema IS NULL AND n.nspname = ANY (current_schemas(true))) OR n.nspname = f.schema
  UNION ALL
    -- "schema.op" from OPERATOR(schema.op); a bare operator is looked up on the search path
    SELECT o.via || ' (operator ' || o.name || ')', op.oprcode::oid
    FROM unnest(%(operators)s::text[], %(operator_via)s::text[]) AS o(name, via)
    JOIN pg_operator op ON op.oprname = split_part(o.name, '.', -1) AND op.oprcode <> 0
    JOIN pg_namespace n ON n.oid = op.oprnamespace
    WHERE CASE WHEN o.name LIKE '%%.%%' THEN n.nspname = split_part(o.name, '.', 1)
               ELSE n.nspname = ANY (current_schemas(true)) END
  UNION ALL
    -- attribute notation: t.f calls f(t) when t's relation has no column f
    SELECT 'attribute notation .' || a.name, p.oid
    FROM unnest(%(attributes)s::text[]) AS a(name)
    JOIN pg_proc p ON p.proname = a.name AND p.pronargs = 1
    JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = ANY (current_schemas(true))
    JOIN pg_type t ON t.oid = p.proargtypes[0] AND t.typrelid <> 0
    WHERE NOT EXISTS (SELECT FROM pg_attribute c WHERE c.attrelid = t.typrelid AND c.attname = a.name AND NOT c.attisdropped)
  UNION ALL
    SELECT x.via, x.proc
    FROM unnest(%(oids)s::oid[], %(oid_via)s::text[]) AS x(proc, via)
), wanted(via, proc) AS (
    SELECT via, proc FROM named
  UNION ALL
    SELECT w.via || ' (aggregate ' || g.aggfnoid::regproc::text || ')', s.proc
    FROM named w
    JOIN pg_aggregate g ON g.aggfnoid = w.proc
    CROSS JOIN LATERAL unnest(ARRAY[g.aggtransfn, g.aggfinalfn, g.aggcombinefn, g.aggserialfn, g.aggdeserialfn,
                                    g.aggmtransfn, g.aggminvtransfn, g.aggmfinalfn]::oid[]) AS s(proc)
    WHERE s.proc <> 0
)
SELECT DISTINCT
       w.via,
       n.nspname                   AS schema,
       p.proname                   AS name,
       p.provolatile               AS volatility,
       pg_get_userbyid(p.proowner) AS owner,
       e.extname                   AS extension,
       pg_get_function_identity_arguments(p.oid) AS arguments,
       -- what an unqualified call of this name reaches first on the search path (--allow-function NAME)
       n.oid = (SELECT o.pronamespace FROM pg_proc o JOIN pg_namespace on_path ON on_path.oid = o.pronamespace
                WHERE o.proname = p.proname AND on_path.nspname = ANY (current_schemas(true))
                ORDER BY array_position(current_schemas(true), on_path.nspname) LIMIT 1) AS first_on_path,
       ARRAY[p.prorettype] || p.proargtypes::oid[] AS types
FROM wanted w
JOIN pg_proc p ON p.oid = w.proc
JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_depend ed ON ed.classid = 'pg_proc'::regclass AND ed.objid = p.oid
                      AND ed.refclassid = 'pg_extension'::regclass AND ed.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = ed.refobjid
