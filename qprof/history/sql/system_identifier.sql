-- The cluster's system identifier (pg_control_system needs superuser or an explicit GRANT).
SELECT system_identifier::text AS system_identifier FROM pg_control_system()
