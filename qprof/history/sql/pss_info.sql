-- pg_stat_statements 1.9+ (PostgreSQL 14): when its counters were last reset and how many
-- entries it has evicted (deallocated) since; both tell the delta code to restart counters.
SELECT stats_reset, dealloc FROM pg_stat_statements_info
