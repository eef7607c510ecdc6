"""The notifier's gauges read from PostgreSQL by the background probe loop (shared/monitor.py):
digests waiting to be delivered and digests given up on (dead letters of delivery)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from prometheus_client import Gauge

DIGESTS = Gauge("notifier_digests", "Notice digests by delivery state (pending, dead)", ["state"])
STATES = ("pending", "dead")


class NotifierGauges:
    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def __call__(self) -> None:
        rows = await self._pool().fetch(
            "SELECT state, count(*) AS n FROM notice_digest WHERE state = ANY($1::text[]) "
            "GROUP BY state",
            list(STATES),
        )
        counts = {r["state"]: r["n"] for r in rows}
        for state in STATES:
            DIGESTS.labels(state).set(counts.get(state, 0))
