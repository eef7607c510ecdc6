"""Working the outbox: due notices are claimed with `FOR UPDATE SKIP LOCKED` (several workers
never take the same one), sent, and marked in the same transaction. A crash between sending and
marking rolls the claim back, so the one notice in flight is sent again with the same
idempotency key; nothing else repeats and nothing is lost. Failures retry with exponential
backoff and become dead letters after the last attempt."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
import httpx
from prometheus_client import Counter

from services.notifier.domain.alertmanager import AlertView, webhook_payload
from shared.db import Connection

log = logging.getLogger(__name__)
NOTICES = Counter(
    "notifier_notices_total",
    "Notice delivery attempts by channel and outcome",
    ["channel", "outcome"],
)

Sender = Callable[[asyncpg.Record], Awaitable[None]]

CLAIM_SQL = """
SELECT n.notice_id, n.channel, n.recipient, n.idempotency_key, n.attempts,
       a.alert_id, a.alertname, a.status, a.employee_id, a.period, a.supervisor_id,
       a.team_id, a.branch_id, a.summary, a.details, a.starts_at
  FROM notice_outbox n JOIN alert a USING (alert_id)
 WHERE n.state = 'pending' AND n.next_attempt_at <= now()
 ORDER BY n.notice_id
 LIMIT $1
 FOR UPDATE OF n SKIP LOCKED
"""


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


def alert_view(row: asyncpg.Record) -> AlertView:
    labels = {
        "alertname": row["alertname"],
        "employee_id": row["employee_id"] or "",
        "supervisor_id": row["supervisor_id"] or "",
        "team_id": row["team_id"] or "",
        "branch_id": row["branch_id"] or "",
        "period": row["period"],
    }
    return AlertView(
        labels={k: v for k, v in labels.items() if v},
        annotations={"summary": row["summary"]},
        status=row["status"],
        starts_at=row["starts_at"],
    )


class Delivery:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        http: httpx.AsyncClient,
        max_attempts: int,
        external_url: str = "",
    ) -> None:
        self._pool = pool
        self._http = http
        self._max_attempts = max_attempts
        self._external_url = external_url
        self._senders: dict[str, Sender] = {"webhook": self._send_webhook, "log": self._send_log}

    async def _send_webhook(self, row: asyncpg.Record) -> None:
        payload = webhook_payload("webhook", [alert_view(row)], external_url=self._external_url)
        response = await self._http.post(
            row["recipient"], json=payload, headers={"Idempotency-Key": row["idempotency_key"]}
        )
        response.raise_for_status()

    async def _send_log(self, row: asyncpg.Record) -> None:
        log.info(
            "alert",
            extra={
                "alertname": row["alertname"],
                "period": row["period"],
                "employee_id": row["employee_id"],
                "summary": row["summary"],
            },
        )

    async def run_once(self, limit: int = 50) -> int:
        """Deliver what is due; returns how many notices were handled."""
        async with self._pool().acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM_SQL, limit)
            for row in rows:
                await self._deliver(conn, row)
            return len(rows)

    async def _deliver(self, conn: Connection, row: asyncpg.Record) -> None:
        channel = row["channel"]
        try:
            await self._senders[channel](row)
        except Exception as exc:
            attempts = row["attempts"] + 1
            dead = attempts >= self._max_attempts
            NOTICES.labels(channel, "dead" if dead else "retry").inc()
            log.warning(
                "notice delivery failed",
                extra={
                    "notice_id": row["notice_id"],
                    "channel": channel,
                    "attempts": attempts,
                    "error": f"{type(exc).__name__}: {exc}"[:500],
                },
            )
            await conn.execute(
                """UPDATE notice_outbox SET attempts = $2, last_error = $3,
                          state = CASE WHEN $4 THEN 'dead' ELSE 'pending' END,
                          next_attempt_at = now() + $5::interval
                    WHERE notice_id = $1""",
                row["notice_id"],
                attempts,
                f"{type(exc).__name__}: {exc}"[:1000],
                dead,
                backoff(attempts),
            )
            return
        NOTICES.labels(channel, "sent").inc()
        await conn.execute(
            "UPDATE notice_outbox SET state = 'sent', sent_at = now(), attempts = attempts + 1 "
            "WHERE notice_id = $1",
            row["notice_id"],
        )

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("delivery round failed; retrying")
                handled = 0
            if not handled:
                await asyncio.sleep(interval)
