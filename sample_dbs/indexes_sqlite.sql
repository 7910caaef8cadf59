-- Secondary indexes of the qprof sample database (SQLite).
-- Primary keys are in schema_sqlite.sql. Names match indexes_postgresql.sql exactly.

-- PLANTED duplicate_indexes (exact): same table, same columns, same kind as
-- campaigns_client_id_idx below -- the classic "the ORM's index=True plus a hand-written
-- index". Created first on purpose: both planners then prefer the later, identical
-- campaigns_client_id_idx, so this one also shows zero scans.
CREATE INDEX ix_campaigns_client_id ON campaigns (client_id);

-- Indexes the workload (queries/shop.sql) uses ------------------------------------------
CREATE UNIQUE INDEX customers_email_key ON customers (email);
CREATE INDEX customers_country_idx ON customers (country);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE INDEX campaigns_client_id_idx ON campaigns (client_id);
CREATE INDEX contents_campaign_id_idx ON contents (campaign_id);
CREATE INDEX contents_client_id_status_idx ON contents (client_id, status);
CREATE INDEX script_blocks_content_id_position_idx ON script_blocks (content_id, position);

-- PLANTED duplicate_indexes (prefix): (client_id) is a leading prefix of
-- contents_client_id_status_idx (client_id, status): every lookup it serves, the
-- composite serves too, so it only adds write cost and space.
CREATE INDEX contents_client_id_idx ON contents (client_id);

-- PLANTED unused_indexes: no workload statement filters, joins, groups or sorts on these.
CREATE INDEX orders_total_cents_idx ON orders (total_cents);
CREATE INDEX case_bank_updated_at_idx ON case_bank (updated_at);

-- PLANTED low_selectivity: plain indexes on low-cardinality status columns.
-- ~90% of case_bank rows are 'active' and ~80% of orders are 'delivered': a query for
-- those values reads most of the table through the index; only rare values profit.
CREATE INDEX case_bank_status_idx ON case_bank (status);
CREATE INDEX orders_status_idx ON orders (status);

-- Deliberately absent (index-advisor candidates; each lookup is >= 10x faster with an index
-- at scale 1.0): orders (customer_id), execution_log (case_id),
-- audio_generations (content_id), audio_generations (task_id),
-- case_bank (usage_count) for ORDER BY usage_count DESC LIMIT 100.
