-- The settings that explain a change in statement cost, kept with every snapshot.
SELECT name, setting, unit
FROM pg_settings
WHERE name = ANY(%(names)s)
ORDER BY name
