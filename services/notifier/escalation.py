"""Escalation: an alert nobody acknowledged within N working hours of its current level's
notice goes to the next person up the supervisor chain (notices at level + 1), up to the
configured number of levels. Resolved or acknowledged alerts never escalate."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

import asyncpg
from prometheus_client import Counter

from services.notifier import org
from services.notifier.domain.config import NotifierConfig
from services.notifier.domain.escalation import escalation_due, next_in_chain
from services.notifier.domain.routing import AlertFacts, plan_escalation
from services.notifier.intake import insert_notices
from shared.calendar import BusinessCalendar
from shared.clock import Clock

log = logging.getLogger(__name__)
ESCALATIONS = Counter("notifier_escalations_total", "Alerts escalated up the chain", ["level"])

OPEN_SQL = """
SELECT a.alert_id, a.alertname, a.status, a.employee_id, a.period, a.supervisor_id, a.team_id,
       a.branch_id, a.escalation_level,
       (SELECT max(n.sent_at) FROM notice_outbox n
         WHERE n.alert_id = a.alert_id AND n.level = a.escalation_level AND n.state = 'sent'
           AND n.channel IN ('robot', 'app', 'email', 'log')) AS notified_at
  FROM alert a
 WHERE a.status = 'firing' AND a.acknowledged_at IS NULL AND a.resolved_at IS NULL
   AND a.supervisor_id IS NOT NULL AND a.escalation_level < $1
 ORDER BY a.alert_id
 LIMIT $2
 FOR UPDATE OF a SKIP LOCKED
"""


class Escalator:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        config: NotifierConfig,
        calendar: BusinessCalendar,
        clock: Clock,
    ) -> None:
        self._pool = pool
        self._config = config
        self._calendar = calendar
        self._clock = clock

    async def run_once(self, limit: int = 500) -> int:
        timing = self._config.timing
        hours = timing.escalate_after_working_hours
        if hours is None or timing.max_escalation_levels == 0:
            return 0
        now = self._clock()
        escalated = 0
        async with self._pool().acquire() as conn, conn.transaction():
            for row in await conn.fetch(OPEN_SQL, timing.max_escalation_levels, limit):
                notified = row["notified_at"]
                if notified is None or not escalation_due(notified, now, hours, self._calendar):
                    continue
                level = row["escalation_level"] + 1
                chain = await org.supervisor_chain(conn, row["supervisor_id"])
                person = next_in_chain(chain, level)
                if person is None:
                    continue  # the top of the chain: nobody above to tell
                alert = AlertFacts(
                    row["alertname"],
                    row["status"],
                    row["employee_id"],
                    row["period"],
                    row["supervisor_id"],
                    row["team_id"],
                    row["branch_id"],
                )
                plans = plan_escalation(alert, person, level, self._config)
                wait = timedelta(seconds=timing.group_wait_seconds)
                await insert_notices(conn, row["alert_id"], alert, plans, wait, now)
                await conn.execute(
                    "UPDATE alert SET escalation_level = $2, escalated_at = $3 WHERE alert_id = $1",
                    row["alert_id"],
                    level,
                    now,
                )
                ESCALATIONS.labels(str(level)).inc()
                escalated += 1
        return escalated

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("escalation round failed; retrying")
            await asyncio.sleep(interval)
