"""The gate a period passes before it closes: its inputs complete, as the scorer sees them
from its own state (domain/completeness.py says what complete means).

A due period whose inputs are not complete is held: the reasons are kept in `close_hold`,
shown in `scorer_close_held{period,reason}` and the log, and ops get one `CloseHeld` notice
per period (a resolved one once it closes). The API's close answers 409 with the reasons
unless forced."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import Gauge

from services.scorer import progress
from services.scorer.domain.completeness import (
    CloseInputs,
    CompletenessRules,
    close_holds,
    reason_code,
)
from shared.calendar import BusinessCalendar, Period
from shared.db import Connection
from shared.schemas import AlertName, BreachEvent

log = logging.getLogger(__name__)

CLOSE_HELD = Gauge(
    "scorer_close_held",
    "1 while a due period's close is held because its inputs are incomplete, by reason",
    ["period", "reason"],
)

Publish = Callable[[Sequence[BreachEvent]], Awaitable[None]]
# Adds of a period still waiting for their contact's profile (neither answered nor given up).
PROFILE_UNKNOWN_SQL = """
SELECT count(*) FROM employee_contact r
  LEFT JOIN contact c USING (external_userid)
 WHERE r.first_added_at >= $1 AND r.first_added_at < $2
   AND GREATEST(r.first_added_at, COALESCE(r.seen_at, r.first_added_at)) > $3
   AND c.profile_found IS NULL
"""


class CloseGate:
    def __init__(
        self,
        calendar: BusinessCalendar,
        contact_topic: str,
        rules: CompletenessRules,
        retention: timedelta,
        profile_wait: timedelta,
        stale_working_hours: float,
        publish: Publish,
    ) -> None:
        self._calendar = calendar
        self._topic = contact_topic
        self._rules = rules
        self._retention = retention
        self._profile_wait = profile_wait
        self._stale_hours = stale_working_hours
        self._publish = publish
        # Until this instance's consumer has its partitions, what the database says of the
        # stream's progress may be hours old (a scorer restarted after a long stop).
        self.consuming = False

    async def holds(self, conn: Connection, period: Period, now: datetime) -> list[str]:
        """Why `period` may not close yet (nothing: it may)."""
        if not self.consuming:
            return ["consumer_starting"]
        tz = self._calendar.tz
        start, end = period.start_at(tz), period.end_at(tz)
        waiting = await conn.fetchval(PROFILE_UNKNOWN_SQL, start, end, now - self._profile_wait)
        inputs = CloseInputs(
            partitions=await progress.partitions(conn, self._topic),
            sources=await progress.sources(conn),
            profile_unknown_adds=int(waiting or 0),
            data_stale=await self._stale(conn, now),
        )
        return close_holds(end, self._retention, inputs, self._rules, now)

    async def hold(self, conn: Connection, period: Period, holds: list[str], now: datetime) -> None:
        """Record the hold; the first time, tell ops (one notice per period). The notice is
        published inside the transaction that records the hold: if it cannot be sent, the
        hold is not recorded either, and the next round tries both again."""
        async with conn.transaction():
            await self._hold(conn, period, holds, now)

    async def _hold(
        self, conn: Connection, period: Period, holds: list[str], now: datetime
    ) -> None:
        first = await conn.fetchval(
            """INSERT INTO close_hold (period, reasons, held_since, updated_at)
               VALUES ($1, $2, $3, $3)
               ON CONFLICT (period) DO UPDATE SET reasons = EXCLUDED.reasons, updated_at = $3
               RETURNING xmax = 0""",  # true when inserted: the hold is new
            period.key,
            holds,
            now,
        )
        log.warning("close held: inputs incomplete", extra={"period": period.key, "holds": holds})
        if first:
            await self._publish([held_notice(period.key, holds, now, "firing")])

    async def release(self, conn: Connection, period: Period, now: datetime) -> None:
        """After the close: the hold (if any) is over; ops hear that it resolved (in one
        transaction: a failed notice keeps the hold, released again on the next try)."""
        async with conn.transaction():
            held = await conn.fetchval(
                "DELETE FROM close_hold WHERE period = $1 RETURNING reasons", period.key
            )
            if held is not None:
                await self._publish([held_notice(period.key, [], now, "resolved")])

    async def _stale(self, conn: Connection, now: datetime) -> bool:
        last = await conn.fetchval(
            "SELECT last_received_at FROM ingest_watermark WHERE source = 'contact_events'"
        )
        if last is None:
            return False
        return self._calendar.working_hours_between(last, now) >= self._stale_hours


def held_notice(period: str, holds: list[str], at: datetime, status: str) -> BreachEvent:
    summary = (
        f"closing {period} is held: its inputs are incomplete ({', '.join(holds)}); it closes "
        f"by itself once they are, or POST /v1/periods/{period}/close?force=true closes it now"
        if status == "firing"
        else f"{period} is closed: its inputs are complete"
    )
    return BreachEvent(
        event_id=BreachEvent.make_id(AlertName.CLOSE_HELD, None, period, status),
        occurred_at=at,
        alertname=AlertName.CLOSE_HELD,
        status=status,
        period=period,
        summary=summary,
        values={"reasons": holds},
    )


class HeldCloses:
    """Probe: `scorer_close_held` from `close_hold`, whichever instance recorded the hold."""

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def __call__(self) -> None:
        rows = await self._pool().fetch(
            """SELECT period, reasons FROM close_hold h
                WHERE NOT EXISTS (SELECT 1 FROM period_close c WHERE c.period = h.period)"""
        )
        CLOSE_HELD.clear()
        for row in rows:
            for hold in row["reasons"]:
                CLOSE_HELD.labels(row["period"], reason_code(hold)).set(1)
