"""Deterministic row generators shared by the SQLite builder and the PostgreSQL loader.

Both engines consume exactly the same Python tuples, so a given (scale, seed) yields
identical data everywhere. Every table draws from its own ``random.Random`` seeded with
``f"{seed}:{table}"`` (string seeds are hashed with SHA-512, independent of
PYTHONHASHSEED), so a table's contents do not depend on the order tables are generated in.

The data is skewed on purpose, because uniform data hides the problems qprof looks for:
hot customers and hot cases (zipf-like ``u ** k`` draws favour low ids), low-cardinality
status columns dominated by one value, and timestamps spread over the year 2024.
Timestamps are ISO-8601 strings ('YYYY-MM-DD HH:MM:SS'): TEXT in SQLite, parsed by COPY
into ``timestamp`` in PostgreSQL.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import cached_property

TABLES: list[str] = [
    "customers",
    "orders",
    "clients",
    "campaigns",
    "contents",
    "script_blocks",
    "audio_generations",
    "case_bank",
    "execution_log",
]

COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("id", "name", "email", "country", "created_at"),
    "orders": ("id", "customer_id", "status", "total_cents", "created_at"),
    "clients": ("id", "name", "plan", "created_at"),
    "campaigns": ("id", "client_id", "name", "status", "created_at"),
    "contents": ("id", "campaign_id", "client_id", "title", "status", "created_at", "updated_at"),
    "script_blocks": ("id", "content_id", "position", "body"),
    "audio_generations": ("id", "content_id", "task_id", "status", "duration_ms", "created_at"),
    "case_bank": ("id", "title", "status", "success_rate", "usage_count", "created_at", "updated_at"),
    "execution_log": ("id", "case_id", "outcome", "duration_ms", "executed_at"),
}

# Row counts at scale 1.0 and the floor applied at small scales, so that the ids the
# sample workload references (customer 42, case 7, content 12, ...) always exist.
# script_blocks (2-6 per content) and audio_generations (1-3 per content) follow contents.
BASE_ROWS: dict[str, int] = {
    "customers": 100_000,
    "orders": 1_000_000,
    "clients": 1_000,
    "campaigns": 10_000,
    "contents": 50_000,
    "case_bank": 20_000,
    "execution_log": 500_000,
}
MIN_ROWS: dict[str, int] = {
    "customers": 500,
    "orders": 5_000,
    "clients": 10,
    "campaigns": 50,
    "contents": 200,
    "case_bank": 100,
    "execution_log": 2_000,
}

_EPOCH = datetime(2024, 1, 1)
_YEAR_SECONDS = 366 * 86_400  # 2024 is a leap year

_FIRST = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Edsger",
    "Frances",
    "Guido",
    "Hedy",
    "Ivan",
    "Joan",
    "Katherine",
    "Leslie",
    "Mary",
    "Niklaus",
)
_LAST = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Dijkstra",
    "Allen",
    "Rossum",
    "Lamarr",
    "Sutherland",
    "Clarke",
    "Lamport",
)
_TOPICS = (
    "login loop",
    "payment retry",
    "timeout on export",
    "duplicate invoice",
    "slow dashboard",
    "missing webhook",
    "password reset",
    "stale cache",
    "quota exceeded",
)
_SENTENCES = (
    "Welcome back to another episode.",
    "Our partners make this show possible.",
    "Use the code below for twenty percent off.",
    "Thanks for listening, see you next week.",
    "Here is what happened in the market today.",
    "Let us take a short break and be right back.",
    "Subscribe so you never miss an update.",
)


def _pool(weights: dict[str, int]) -> tuple[str, ...]:
    """Expand {value: percent} into a 100-slot tuple so one ``rng.choice`` draws by weight."""
    pool = tuple(value for value, pct in weights.items() for _ in range(pct))
    assert len(pool) == 100, weights
    return pool


_COUNTRIES = _pool({"US": 35, "DE": 12, "GB": 10, "FR": 8, "IN": 8, "BR": 7, "JP": 5, "CA": 5, "ES": 4, "NL": 3, "SE": 2, "PL": 1})
_ORDER_STATUS = _pool({"delivered": 80, "shipped": 8, "paid": 5, "pending": 4, "cancelled": 2, "refunded": 1})
_PLANS = _pool({"free": 50, "pro": 35, "enterprise": 15})
_CAMPAIGN_STATUS = _pool({"completed": 50, "active": 30, "paused": 12, "draft": 8})
_CONTENT_STATUS = _pool({"published": 70, "draft": 15, "review": 10, "archived": 5})
_AUDIO_STATUS = _pool({"done": 85, "failed": 5, "processing": 5, "queued": 5})
_CASE_STATUS = _pool({"active": 90, "deprecated": 7, "draft": 3})
_OUTCOMES = _pool({"success": 75, "failure": 17, "error": 8})


def ts(seconds: int) -> str:
    """ISO timestamp ``seconds`` after 2024-01-01 00:00:00 (clamped to the year 2024)."""
    seconds = min(max(seconds, 0), _YEAR_SECONDS - 1)
    return str(_EPOCH + timedelta(seconds=seconds))


def task_id(audio_generation_id: int) -> str:
    """UUID-shaped task id derived from the row id only (not the seed or scale),
    so the sample workload can name task ids that exist in every build."""
    h = hashlib.md5(b"audio-task-%d" % audio_generation_id).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _skewed(rng: random.Random, n: int, power: float) -> int:
    """Zipf-like id in 1..n: low ids are hot (P(id <= k) = (k/n) ** (1/power))."""
    return int(n * rng.random() ** power) + 1


def _spread(rng: random.Random, i: int, n: int, jitter: int = 3_600) -> int:
    """Seconds for the i-th of n append-only rows: ids roughly follow time, as in real logs."""
    return (i - 1) * _YEAR_SECONDS // n + rng.randrange(jitter)


def row_counts_base(scale: float) -> dict[str, int]:
    """Row counts of the independently sized tables at ``scale``."""
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    return {t: max(MIN_ROWS[t], round(BASE_ROWS[t] * scale)) for t in BASE_ROWS}


class SampleData:
    """Row source for one (scale, seed) build; ``rows(table)`` yields tuples in COLUMNS order."""

    def __init__(self, scale: float, seed: int) -> None:
        self.scale = scale
        self.seed = seed
        self.n = row_counts_base(scale)

    def rng(self, table: str) -> random.Random:
        return random.Random(f"{self.seed}:{table}")

    def rows(self, table: str) -> Iterator[tuple]:
        if table not in COLUMNS:
            raise KeyError(table)
        return getattr(self, f"_{table}")()

    def _customers(self) -> Iterator[tuple]:
        rng = self.rng("customers")
        for i in range(1, self.n["customers"] + 1):
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            yield (i, name, f"customer{i}@example.com", rng.choice(_COUNTRIES), ts(rng.randrange(_YEAR_SECONDS)))

    def _orders(self) -> Iterator[tuple]:
        rng = self.rng("orders")
        n, customers = self.n["orders"], self.n["customers"]
        for i in range(1, n + 1):
            cents = max(100, int(rng.lognormvariate(8.5, 0.9)))
            yield (i, _skewed(rng, customers, 2.0), rng.choice(_ORDER_STATUS), cents, ts(_spread(rng, i, n)))

    def _clients(self) -> Iterator[tuple]:
        rng = self.rng("clients")
        for i in range(1, self.n["clients"] + 1):
            yield (i, f"{rng.choice(_LAST)} Media {i}", rng.choice(_PLANS), ts(rng.randrange(_YEAR_SECONDS // 2)))

    @cached_property
    def _campaign_rows(self) -> Sequence[tuple]:
        # Materialised (small) because contents needs each campaign's client_id.
        rng = self.rng("campaigns")
        clients = self.n["clients"]
        return [
            (i, _skewed(rng, clients, 1.5), f"Campaign {i}", rng.choice(_CAMPAIGN_STATUS), ts(rng.randrange(_YEAR_SECONDS)))
            for i in range(1, self.n["campaigns"] + 1)
        ]

    def _campaigns(self) -> Iterator[tuple]:
        return iter(self._campaign_rows)

    def _contents(self) -> Iterator[tuple]:
        rng = self.rng("contents")
        campaigns = self._campaign_rows
        for i in range(1, self.n["contents"] + 1):
            campaign_id = _skewed(rng, len(campaigns), 1.5)
            created = rng.randrange(_YEAR_SECONDS)
            yield (
                i,
                campaign_id,
                campaigns[campaign_id - 1][1],
                f"Episode {i}",
                rng.choice(_CONTENT_STATUS),
                ts(created),
                ts(created + rng.randrange(30 * 86_400)),
            )

    def _script_blocks(self) -> Iterator[tuple]:
        rng = self.rng("script_blocks")
        row_id = 0
        for content_id in range(1, self.n["contents"] + 1):
            for position in range(1, rng.randint(2, 6) + 1):
                row_id += 1
                yield (row_id, content_id, position, rng.choice(_SENTENCES))

    def _audio_generations(self) -> Iterator[tuple]:
        rng = self.rng("audio_generations")
        row_id = 0
        for content_id in range(1, self.n["contents"] + 1):
            for _ in range(rng.choice((1, 1, 2, 2, 3))):
                row_id += 1
                status = rng.choice(_AUDIO_STATUS)
                duration = rng.randint(5_000, 180_000) if status == "done" else None
                yield (row_id, content_id, task_id(row_id), status, duration, ts(rng.randrange(_YEAR_SECONDS)))

    def _case_bank(self) -> Iterator[tuple]:
        rng = self.rng("case_bank")
        for i in range(1, self.n["case_bank"] + 1):
            rate = round(min(100.0, max(0.0, rng.gauss(70.0, 25.0))), 2)
            usage = min(1_000_000, int(rng.paretovariate(1.2) * 10))
            created = rng.randrange(_YEAR_SECONDS // 2)
            yield (i, f"Case {i}: {rng.choice(_TOPICS)}", rng.choice(_CASE_STATUS), rate, usage, ts(created), ts(created + rng.randrange(_YEAR_SECONDS // 2)))

    def _execution_log(self) -> Iterator[tuple]:
        rng = self.rng("execution_log")
        n, cases = self.n["execution_log"], self.n["case_bank"]
        for i in range(1, n + 1):
            yield (i, _skewed(rng, cases, 2.0), rng.choice(_OUTCOMES), int(rng.lognormvariate(5.5, 1.0)) + 1, ts(_spread(rng, i, n)))
