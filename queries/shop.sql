-- qprof sample workload for the sample database (python -m qprof.sample_dbs).
-- Portable SQL that runs unchanged on PostgreSQL 12+ and SQLite 3.35+.
-- Placeholders are PostgreSQL style ($1, $2 ...); the SQLite runner rewrites them.
-- Timestamps are literal 'YYYY-MM-DD HH:MM:SS' strings (TEXT in SQLite, timestamp in PostgreSQL).
-- The sample ids (customer 42, case 7, client 2, campaign 3, content 12, audio tasks of
-- audio_generations ids 5 and 17) exist at every scale >= 0.01 and for every seed.

-- name: orders_by_customer
-- params: [42]
-- calls: 500
SELECT id, status, total_cents FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20;

-- name: customer_by_email
-- params: ["customer42@example.com"]
-- calls: 300
SELECT id, name, country, created_at FROM customers WHERE email = $1;

-- name: top_customers_in_country
-- params: ["PL"]
-- calls: 5
SELECT c.id, c.name, count(*) AS order_count, sum(o.total_cents) AS revenue_cents
FROM customers c
JOIN orders o ON o.customer_id = c.id
WHERE c.country = $1
GROUP BY c.id, c.name
ORDER BY revenue_cents DESC
LIMIT 10;

-- name: orders_day_revenue
-- params: ["2024-06-01 00:00:00", "2024-06-02 00:00:00"]
-- calls: 20
SELECT count(*) AS order_count, sum(total_cents) AS revenue_cents
FROM orders
WHERE created_at >= $1 AND created_at < $2;

-- name: refunded_total
-- calls: 10
SELECT count(*) AS order_count, sum(total_cents) AS refunded_cents FROM orders WHERE status = 'refunded';

-- name: delivered_revenue
-- calls: 2
SELECT count(*) AS order_count, sum(total_cents) AS revenue_cents FROM orders WHERE status = 'delivered';

-- name: case_by_id
-- params: [7]
-- calls: 400
SELECT id, title, status, success_rate, usage_count FROM case_bank WHERE id = $1;

-- name: bump_case_usage
-- params: [7]
-- calls: 400
UPDATE case_bank SET usage_count = usage_count + 1 WHERE id = $1;

-- name: active_cases
-- calls: 20
SELECT id, title, success_rate FROM case_bank WHERE status = 'active';

-- name: draft_cases
-- calls: 5
SELECT id, title, created_at FROM case_bank WHERE status = 'draft';

-- name: weak_cases
-- params: [30]
-- calls: 5
SELECT id, title, success_rate FROM case_bank WHERE success_rate < $1 ORDER BY success_rate;

-- name: top_cases
-- calls: 50
SELECT id, title, usage_count FROM case_bank ORDER BY usage_count DESC LIMIT 100;

-- name: case_history
-- params: [7]
-- calls: 200
SELECT id, outcome, duration_ms, executed_at FROM execution_log WHERE case_id = $1 ORDER BY executed_at DESC LIMIT 50;

-- name: log_execution
-- params: [7, "success", 230, "2024-12-31 12:00:00"]
-- calls: 400
INSERT INTO execution_log (case_id, outcome, duration_ms, executed_at) VALUES ($1, $2, $3, $4);

-- name: purge_case_errors
-- params: [7]
-- calls: 1
DELETE FROM execution_log WHERE case_id = $1 AND outcome = 'error';

-- name: case_outcome_stats
-- calls: 2
SELECT case_id, count(*) AS runs,
       sum(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) AS successes,
       avg(duration_ms) AS avg_duration_ms
FROM execution_log
GROUP BY case_id
ORDER BY runs DESC
LIMIT 20;

-- name: campaigns_of_client
-- params: [2]
-- calls: 50
SELECT id, name, status FROM campaigns WHERE client_id = $1 AND status = 'active';

-- name: contents_by_client
-- params: [2]
-- calls: 100
SELECT id, title, status, updated_at FROM contents WHERE client_id = $1 ORDER BY updated_at DESC LIMIT 50;

-- name: contents_by_client_status
-- params: [2, "review"]
-- calls: 100
SELECT id, title, updated_at FROM contents WHERE client_id = $1 AND status = $2;

-- name: contents_by_campaign
-- params: [3]
-- calls: 100
SELECT id, title, status FROM contents WHERE campaign_id = $1 ORDER BY id;

-- name: script_for_content
-- params: [12]
-- calls: 300
SELECT position, body FROM script_blocks WHERE content_id = $1 ORDER BY position;

-- name: audio_by_task
-- params: ["48ccc848-36a2-35e8-c1ce-5f9624f6a964"]
-- calls: 300
SELECT id, content_id, status, duration_ms FROM audio_generations WHERE task_id = $1;

-- name: audio_by_content
-- params: [12]
-- calls: 200
SELECT id, task_id, status, duration_ms, created_at FROM audio_generations WHERE content_id = $1 ORDER BY created_at DESC;

-- name: finish_audio_task
-- params: ["6ecd5aa2-522c-3db2-7f44-5cd56569aab3", 61000]
-- calls: 100
UPDATE audio_generations SET status = 'done', duration_ms = $2 WHERE task_id = $1;

-- name: audio_status_summary
-- calls: 1
SELECT status, count(*) AS generations, avg(duration_ms) AS avg_duration_ms FROM audio_generations GROUP BY status;
