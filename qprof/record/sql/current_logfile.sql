-- The log file the server writes now (NULL without logging_collector; superuser or granted).
SELECT pg_current_logfile() AS logfile
