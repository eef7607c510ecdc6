"""Planning the daily digest: on each working day, once the configured local time has passed,
one transaction claims the day (`daily_digest_day`), snapshots every supervisor's team figures
from `employee_period_score` and puts one digest per supervisor and channel into the outbox
(`notice_digest`, kind 'daily'), where delivery works it like any other digest.

Several notifier processes, restarts and crashes: the day's row is claimed once (a second
claimer waits for the first to commit, then finds it), so a day is planned exactly once; a
notifier down at the planned time plans the day when it is back the same day; a day it missed
entirely is reported to ops rather than sent later with later figures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
from prometheus_client import Counter

from services.notifier.domain.config import Channel, DailyDigest, Timing
from services.notifier.domain.daily import DailyPlan, TeamRow, due_day, missed_days, plan_daily
from services.notifier.domain.holding import next_allowed
from services.notifier.robots import team_has_robot
from shared.calendar import BusinessCalendar, period_of
from shared.clock import Clock
from shared.db import Connection

log = logging.getLogger(__name__)
PLANNED = Counter("notifier_daily_digests_planned_total", "Daily digests planned", ["channel"])

TEAM_FIGURES = """
SELECT s.supervisor_id, s.employee_id, coalesce(e.name, '') AS name, s.valid_adds, s.target,
       s.branch_id, s.team_id
  FROM employee_period_score s LEFT JOIN employee e USING (employee_id)
 WHERE s.period = $1 AND s.supervisor_id IS NOT NULL
 ORDER BY s.supervisor_id, s.branch_id, s.team_id, s.employee_id
"""
INSERT_DIGEST = """
INSERT INTO notice_digest (kind, day, snapshot, channel, recipient, destination, period, group_key,
                           idempotency_key, next_attempt_at)
VALUES ('daily', $1, $2, $3, $4, $5, $6, $7, $7, $8)
ON CONFLICT DO NOTHING
"""


class DailyDigests:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        settings: DailyDigest,
        timing: Timing,
        calendar: BusinessCalendar,
        clock: Clock,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._timing = timing
        self._calendar = calendar
        self._clock = clock

    async def run_once(self) -> int:
        """Plan today's digests if they are due and not yet planned; returns how many."""
        now = self._clock()
        day = due_day(now, self._settings.at, self._calendar.tz, self._calendar.is_working_day)
        if day is None:
            return 0
        async with self._pool().acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                "INSERT INTO daily_digest_day (day, digests) VALUES ($1, 0) "
                "ON CONFLICT DO NOTHING RETURNING day",
                day,
            )
            if claimed is None:
                return 0
            last = await conn.fetchval("SELECT max(day) FROM daily_digest_day WHERE day < $1", day)
            missed = missed_days(last, day, self._calendar.is_working_day)
            if missed:
                detail = "no daily digest on " + ", ".join(d.isoformat() for d in missed)
                log.warning("daily digests were missed (the notifier was not running)")
                await conn.execute(
                    "INSERT INTO ops_notice (kind, detail) VALUES ('daily_digest_missed', $1)",
                    detail + ": the notifier was not running on those days",
                )
            period = period_of(self._settings.period, day).key
            rows = [
                (
                    r["supervisor_id"],
                    TeamRow(
                        r["employee_id"],
                        r["valid_adds"],
                        r["target"],
                        r["name"],
                        r["branch_id"],
                        r["team_id"],
                    ),
                )
                for r in await conn.fetch(TEAM_FIGURES, period)
            ]
            plans = [
                plan
                for plan in plan_daily(day, period, rows, self._settings.channels)
                if await self._reachable(conn, plan)
            ]
            # quiet hours and the calendar hold the digest, as they hold alerts
            release = next_allowed(now, self._timing, self._calendar)
            for plan in plans:
                await conn.execute(
                    INSERT_DIGEST,
                    day,
                    plan.content.to_json(),
                    plan.channel.value,
                    plan.recipient,
                    plan.destination,
                    period,
                    plan.idempotency_key,
                    release,
                )
                PLANNED.labels(plan.channel.value).inc()
            await conn.execute(
                "UPDATE daily_digest_day SET digests = $2 WHERE day = $1", day, len(plans)
            )
            log.info("daily digests planned", extra={"day": day.isoformat(), "digests": len(plans)})
            return len(plans)

    @staticmethod
    async def _reachable(conn: Connection, plan: DailyPlan) -> bool:
        """A team without a group robot gets no robot digest (its supervisor still gets the
        e-mail): a daily dead letter and ops notice for it would be noise, not news."""
        if plan.channel is not Channel.ROBOT:
            return True
        if await team_has_robot(conn, plan.destination):
            return True
        log.info("no group robot for the daily digest", extra={"team": plan.destination})
        return False

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("daily digest planning failed; retrying")
            await asyncio.sleep(interval)
