-- Where the server logs and whether it logs every statement's duration (qprof record).
-- Raw pg_settings values: log_min_duration_statement in ms (-1 off, 0 every statement).
SELECT name, setting
FROM pg_settings
WHERE name IN ('data_directory', 'logging_collector', 'log_min_duration_statement', 'log_duration',
               'log_statement', 'log_line_prefix', 'log_destination')
