"""Breach events → alerts and the notices to deliver, in one transaction with the offsets.

Each notice has an idempotency key (alert, employee, period, recipient, status): the database
enforces one notice per key, so a replayed or duplicated breach never notifies twice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import orjson
from prometheus_client import Counter
from pydantic import ValidationError

from shared.db import Connection
from shared.kafka import lock_offsets, store_offsets, unseen
from shared.schemas import BreachEvent

log = logging.getLogger(__name__)
BREACHES = Counter("notifier_breaches_total", "Breach events consumed by outcome", ["outcome"])

DeadLetter = Callable[[Any, str], Awaitable[None]]


def routes_for(breach: BreachEvent, webhook_url: str | None) -> list[tuple[str, str]]:
    """(channel, recipient) pairs. The catch-all webhook gets every alert; without any route
    the notice is logged, so it is still recorded and visible in the API."""
    routes: list[tuple[str, str]] = []
    if webhook_url:
        routes.append(("webhook", webhook_url))
    if not routes:
        routes.append(("log", breach.supervisor_id or "ops"))
    return routes


def idempotency_key(breach: BreachEvent, channel: str, recipient: str) -> str:
    return "|".join(
        (
            breach.alertname.value,
            breach.employee_id or "-",
            breach.period,
            channel,
            recipient,
            breach.status,
        )
    )


class BreachIntake:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        group: str,
        webhook_url: str | None,
        dead_letter: DeadLetter,
    ) -> None:
        self._pool = pool
        self._group = group
        self._webhook_url = webhook_url
        self._dead_letter = dead_letter

    async def handle(self, records: Sequence[Any]) -> None:
        async with self._pool().acquire() as conn, conn.transaction():
            stored = await lock_offsets(conn, self._group, records)
            for raw in unseen(records, stored):
                try:
                    breach = BreachEvent.model_validate(orjson.loads(raw.value))
                except (ValueError, ValidationError) as exc:
                    BREACHES.labels("dead_letter").inc()
                    await self._dead_letter(raw, f"{type(exc).__name__}: {exc}")
                    continue
                await self._record(conn, breach)
            await store_offsets(conn, self._group, records)

    async def _record(self, conn: Connection, breach: BreachEvent) -> None:
        alert_id = await conn.fetchval(
            """INSERT INTO alert (breach_event_id, alertname, status, employee_id, period,
                                  supervisor_id, team_id, branch_id, summary, details, starts_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
               ON CONFLICT (breach_event_id) DO NOTHING
               RETURNING alert_id""",
            breach.event_id,
            breach.alertname.value,
            breach.status,
            breach.employee_id,
            breach.period,
            breach.supervisor_id,
            breach.team_id,
            breach.branch_id,
            breach.summary,
            breach.values,
            breach.occurred_at,
        )
        if alert_id is None:
            BREACHES.labels("duplicate").inc()
            return
        BREACHES.labels("recorded").inc()
        routes = routes_for(breach, self._webhook_url)
        await conn.execute(
            """INSERT INTO notice_outbox (alert_id, channel, recipient, idempotency_key, payload)
               SELECT $1, c, r, k, '{}'::jsonb FROM unnest($2::text[], $3::text[], $4::text[])
                      AS x(c, r, k)
               ON CONFLICT (idempotency_key) DO NOTHING""",
            alert_id,
            [c for c, _ in routes],
            [r for _, r in routes],
            [idempotency_key(breach, c, r) for c, r in routes],
        )
