"""The scorer's gauges read from PostgreSQL by the background probe loop (shared/monitor.py):
when each source last delivered data (stale WeCom data) and the scores waiting to be
recomputed (the refresh backlog), and how many of them wait for an employee's org record."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from prometheus_client import Gauge

SOURCE_LAST_RECEIVED = Gauge(
    "scorer_source_last_received_timestamp_seconds",
    "When records of a source last reached the scorer's state (ingest_watermark), Unix time",
    ["source"],
)
DIRTY_SCORES = Gauge("scorer_dirty_scores", "Employee-period scores waiting to be recomputed")
DEFERRED_SCORES = Gauge(
    "scorer_deferred_scores",
    "Of those, scores deferred because their employee has no org record yet (HR feed behind, "
    "or an id HR never sends): retried with back-off",
)


class ScorerGauges:
    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def __call__(self) -> None:
        pool = self._pool()
        for row in await pool.fetch(
            "SELECT source, extract(epoch FROM last_received_at) AS at FROM ingest_watermark"
        ):
            SOURCE_LAST_RECEIVED.labels(row["source"]).set(float(row["at"]))
        backlog = await pool.fetchrow(
            "SELECT count(*) AS dirty, count(*) FILTER (WHERE deferrals > 0) AS deferred "
            "FROM score_dirty"
        )
        DIRTY_SCORES.set(backlog["dirty"] if backlog else 0)
        DEFERRED_SCORES.set(backlog["deferred"] if backlog else 0)
