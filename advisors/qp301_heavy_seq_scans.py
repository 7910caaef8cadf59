"""QP301 table.heavy-seq-scans — a large table is mostly read by sequential scans.

Anti-pattern: ``pg_stat_user_tables`` shows a table with many rows whose scans are mostly
sequential (index usage below 95 %): some frequent statement reads the whole table where an
index lookup would do. ``seq_tup_read`` says how many rows those scans read in total, and
÷ live rows how many whole-table reads that is. PostgreSQL's ``seq_scan`` (and ``idx_scan``)
count every process of a parallel scan — a scan with two workers counts three — so the counts
are process scans, not statement executions; the rows read are not inflated.

Fix: find the statements (``qprof top --by io``, ``qprof explain`` on them — QP101 names the
filter) and index what they filter on (``qprof advise``). Reporting queries that must read
everything are fine; ignore the table for them with ``-- qprof: ignore QP301`` or config.

Options: ``min_rows`` (live rows), ``min_index_usage_pct`` (below this share of index scans).

Example: ``public.orders: 4.2% of scans use an index (1,520 sequential scans, each parallel
worker counted, read 152,000,000 rows ≈ 1,520.0 whole-table reads; 100,000 live rows)``.

Known problems: the counters are cumulative since the statistics were last reset, so a problem
that was fixed last week still shows until they are reset (``qprof report`` over a window of
snapshots shows the change instead).
"""

from __future__ import annotations

from collections.abc import Iterator

from qprof.findings import Finding

from .base import DATABASE, fmt_int, make_rule
from .context import DatabaseContext


def check(db: DatabaseContext, options: dict) -> Iterator[Finding]:
    for table in db.tables:
        if not table.seq_scan or (table.n_live_tup or 0) < options["min_rows"]:
            continue
        idx_scan = table.idx_scan or 0
        usage = 100.0 * idx_scan / (idx_scan + table.seq_scan)
        if usage >= options["min_index_usage_pct"]:
            continue
        reads = table.table_reads
        yield RULE.finding(
            f"{table.qualified_name}: {usage:.1f}% of scans use an index ({fmt_int(table.seq_scan)} sequential scans, "
            f"each parallel worker counted, read {fmt_int(table.seq_tup_read)} rows"
            + (f" ≈ {reads:,.1f} whole-table reads" if reads is not None else "")
            + f"; {fmt_int(table.n_live_tup)} live rows)",
            evidence={
                "seq_scan": table.seq_scan,
                "idx_scan": table.idx_scan,
                "index_usage_pct": round(usage, 2),
                "seq_tup_read": table.seq_tup_read,
                "n_live_tup": table.n_live_tup,
                "table_reads": reads,
                "table_bytes": table.table_bytes,
            },
            suggestion="find the statements scanning it (qprof top --by io; qprof explain) and index their filters (qprof advise)",
            table=table.qualified_name,
        )


RULE = make_rule(
    __doc__,
    code="QP301",
    name="table.heavy-seq-scans",
    severity="warning",
    title="Table with heavy sequential scan volume",
    scope=DATABASE,
    engines=("postgresql",),
    options={"min_rows": 10000, "min_index_usage_pct": 95.0},
    check=check,
)
