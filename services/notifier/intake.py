"""Breach events → alerts and the notices to deliver, in one transaction with the offsets.

Each notice has an identity (alert name, employee, period, channel, recipient, status) that the
database keeps unique, so a replayed or duplicated breach never notifies twice. A resolved
breach closes the firing alert of the same condition: its notices not yet sent are superseded
(nobody hears "missed" then "resolved" for something they never saw), and whoever did hear of
it hears that it cleared."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
from prometheus_client import Counter
from pydantic import ValidationError

from services.notifier import org
from services.notifier.domain.config import Channel, NotifierConfig
from services.notifier.domain.ops_notices import notice_summary
from services.notifier.domain.routing import AlertFacts, NoticePlan, plan_initial
from shared.clock import Clock
from shared.db import Connection
from shared.governance import Governance, blank_examples
from shared.kafka import lock_offsets, store_offsets, unseen
from shared.schemas import AlertName, BreachEvent

log = logging.getLogger(__name__)
BREACHES = Counter("notifier_breaches_total", "Breach events consumed by outcome", ["outcome"])
for _outcome in ("recorded", "duplicate", "dead_letter"):
    # exported at 0 from the start: the first dead letter is then an increase Prometheus sees
    BREACHES.labels(_outcome)

DeadLetter = Callable[[Any, str], Awaitable[None]]

INSERT_NOTICES = """
WITH ep AS (
  SELECT count(*)::int AS n FROM alert p
   WHERE p.alertname = $8 AND p.period = $10
     AND (p.employee_id = $9 OR (p.employee_id IS NULL AND $9 = '-'))
     AND p.status = 'resolved' AND p.alert_id < $1
)
INSERT INTO notice_outbox (alert_id, channel, recipient, destination, level, idempotency_key,
                           group_key, alertname, employee_key, period, status, payload,
                           next_attempt_at, episode)
SELECT $1, c, r, d, l, CASE WHEN ep.n > 0 THEN k || '|#' || ep.n ELSE k END, g, $8, $9, $10,
       $11, '{}'::jsonb, $13::timestamptz + w * interval '1 second', ep.n
  FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[],
              $12::float8[]) AS x(c, r, d, l, k, g, w), ep
ON CONFLICT DO NOTHING
"""
"""The episode: how often the condition was resolved before this alert (migration 0021)."""


def facts(breach: BreachEvent) -> AlertFacts:
    return AlertFacts(
        alertname=breach.alertname.value,
        status=breach.status,
        employee_id=breach.employee_id,
        period=breach.period,
        supervisor_id=breach.supervisor_id,
        team_id=breach.team_id,
        branch_id=breach.branch_id,
    )


async def insert_notices(
    conn: Connection,
    alert_id: int,
    alert: AlertFacts,
    plans: Sequence[NoticePlan],
    group_wait: timedelta,
    now: datetime,
) -> None:
    """Store planned notices, due `group_wait` after `now` when grouped; one already stored
    under the same identity is left alone."""
    await conn.execute(
        INSERT_NOTICES,
        alert_id,
        [p.channel.value for p in plans],
        [p.recipient for p in plans],
        [p.destination for p in plans],
        [p.level for p in plans],
        [p.idempotency_key(alert) for p in plans],
        [p.group_key(alert) for p in plans],
        alert.alertname,
        alert.employee_id or "-",
        alert.period,
        alert.status,
        [group_wait.total_seconds() if p.grouped else 0.0 for p in plans],
        now,
    )


class BreachIntake:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        group: str,
        webhook_url: str | None,
        dead_letter: DeadLetter,
        clock: Clock,
        config: NotifierConfig | None = None,
        governance: Governance | None = None,
        retention: Callable[[datetime], datetime] | None = None,
    ) -> None:
        self._pool = pool
        # the first instant whose contact ids are kept, as of a moment (the retention purge)
        self._retention = retention
        # erased contacts' ids are blanked in what is recorded (services/notifier/contact_data.py)
        self._governance = governance or Governance(None)
        self._clock = clock
        self._group = group
        self._webhook_url = webhook_url
        self._dead_letter = dead_letter
        self._config = config or NotifierConfig()

    async def handle(self, records: Sequence[Any]) -> None:
        async with self._pool().acquire() as conn, conn.transaction():
            stored = await lock_offsets(conn, self._group, records)
            await self._governance.refresh(conn, strict=False)
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
        now = self._clock()
        values = self._governance.scrub(breach.values)
        if self._retention is not None and breach.occurred_at < self._retention(now):
            values = blank_examples(values)  # older than the retention: as the purge leaves it
        alert_id = await conn.fetchval(
            """INSERT INTO alert (breach_event_id, alertname, status, employee_id, period,
                                  supervisor_id, team_id, branch_id, summary, details, starts_at,
                                  resolved_at, received_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                       CASE WHEN $3::text = 'resolved' THEN $11::timestamptz END, $12)
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
            notice_summary(
                breach.alertname.value, breach.period, values, breach.status, breach.summary
            ),
            values,
            breach.occurred_at,
            now,
        )
        if alert_id is None:
            BREACHES.labels("duplicate").inc()
            return
        BREACHES.labels("recorded").inc()
        alert = facts(breach)
        if breach.status == "resolved":
            plans = await self._resolve(conn, alert, now)
        else:
            plans = plan_initial(
                alert, self._config, self._webhook_url, await self._risk_officers(conn, alert)
            )
        wait = timedelta(seconds=self._config.timing.group_wait_seconds)
        await insert_notices(conn, alert_id, alert, plans, wait, now)

    async def _risk_officers(self, conn: Connection, alert: AlertFacts) -> list[str]:
        roles = self._config.risk_compliance.roles
        if alert.alertname != AlertName.ANOMALY_FLAGGED.value or not roles:
            return []
        return await org.role_members(conn, roles, alert.branch_id)

    async def _resolve(
        self, conn: Connection, alert: AlertFacts, now: datetime
    ) -> list[NoticePlan]:
        """Close the firing alerts of this condition; tell only those who were told."""
        firing = await conn.fetch(
            """UPDATE alert SET resolved_at = coalesce(resolved_at, $4)
                WHERE alertname = $1 AND employee_id IS NOT DISTINCT FROM $2 AND period = $3
                  AND status = 'firing'
            RETURNING alert_id""",
            alert.alertname,
            alert.employee_id,
            alert.period,
            now,
        )
        if not firing:
            return plan_initial(alert, self._config, self._webhook_url)
        ids = [r["alert_id"] for r in firing]
        await conn.execute(
            """UPDATE notice_outbox SET state = 'superseded', last_error = 'resolved before sent'
                WHERE alert_id = ANY($1::bigint[]) AND state = 'pending'""",
            ids,
        )
        told = await conn.fetch(
            """SELECT DISTINCT channel, recipient, destination, level,
                      group_key LIKE 'alert:%' AS single
                 FROM notice_outbox
                WHERE alert_id = ANY($1::bigint[]) AND state IN ('queued', 'sent')""",
            ids,
        )
        return [
            NoticePlan(
                Channel(r["channel"]), r["recipient"], r["destination"], r["level"], not r["single"]
            )
            for r in told
        ]
