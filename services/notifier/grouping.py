"""Forming digests from pending notices: silences first, then quiet hours and the working
calendar (held: `next_attempt_at` moves to the next allowed instant), then the group interval
(a recipient is not messaged again within it), then one digest per group.

A digest's membership is fixed and committed before anything is sent, so a crash while
sending repeats that digest with the same idempotency key and nothing else."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import groupby

import asyncpg
from prometheus_client import Counter

from services.notifier.domain.config import Channel, Timing
from services.notifier.domain.digest import digest_key
from services.notifier.domain.holding import next_allowed
from services.notifier.domain.routing import PERSON_CHANNELS
from services.notifier.domain.silences import ActiveSilence, Matcher, silenced_by
from shared.calendar import BusinessCalendar
from shared.clock import Clock
from shared.db import Connection

log = logging.getLogger(__name__)
FORMED = Counter(
    "notifier_notices_grouped_total", "Pending notices by grouping outcome", ["outcome"]
)

DUE_GROUPS = """
SELECT DISTINCT group_key FROM notice_outbox
 WHERE state = 'pending' AND next_attempt_at <= $1
 LIMIT $2
"""
LOCK_MEMBERS = """
SELECT n.notice_id, n.channel, n.recipient, n.destination, n.period, n.group_key,
       n.idempotency_key, n.level, a.alertname, a.employee_id, a.supervisor_id, a.team_id,
       a.branch_id
  FROM notice_outbox n JOIN alert a USING (alert_id)
 WHERE n.state = 'pending' AND n.group_key = ANY($1::text[])
 ORDER BY n.group_key, n.notice_id
 FOR UPDATE OF n SKIP LOCKED
"""


async def active_silences(conn: Connection, at: datetime) -> list[ActiveSilence]:
    rows = await conn.fetch(
        "SELECT silence_id, matchers, starts_at, ends_at FROM silence "
        "WHERE expired_at IS NULL AND starts_at <= $1 AND ends_at > $1",
        at,
    )
    return [
        ActiveSilence(
            r["silence_id"],
            tuple(Matcher.model_validate(m) for m in r["matchers"]),
            r["starts_at"],
            r["ends_at"],
        )
        for r in rows
    ]


def notice_labels(row: asyncpg.Record) -> dict[str, str]:
    labels = {
        "alertname": row["alertname"],
        "employee_id": row["employee_id"],
        "supervisor_id": row["supervisor_id"],
        "team_id": row["team_id"],
        "branch_id": row["branch_id"],
        "period": row["period"],
        "channel": row["channel"],
        "recipient": row["recipient"],
    }
    return {k: v for k, v in labels.items() if v}


class Grouper:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        timing: Timing,
        calendar: BusinessCalendar,
        clock: Clock,
    ) -> None:
        self._pool = pool
        self._timing = timing
        self._calendar = calendar
        self._clock = clock

    async def run_once(self, limit: int = 200) -> int:
        """Form the digests that are due; returns how many were formed."""
        now = self._clock()
        async with self._pool().acquire() as conn, conn.transaction():
            keys = [r["group_key"] for r in await conn.fetch(DUE_GROUPS, now, limit)]
            if not keys:
                return 0
            rows = await conn.fetch(LOCK_MEMBERS, keys)
            silences = await active_silences(conn, now)
            formed = 0
            for key, members in groupby(rows, key=lambda r: r["group_key"]):
                formed += await self._form(conn, key, list(members), silences, now)
            return formed

    async def _form(
        self,
        conn: Connection,
        key: str,
        members: list[asyncpg.Record],
        silences: list[ActiveSilence],
        now: datetime,
    ) -> int:
        kept = []
        for row in members:
            silence = silenced_by(notice_labels(row), silences, now)
            if silence is None:
                kept.append(row)
                continue
            FORMED.labels("silenced").inc()
            await conn.execute(
                "UPDATE notice_outbox SET state = 'silenced', silence_id = $2 WHERE notice_id = $1",
                row["notice_id"],
                silence,
            )
        if not kept:
            return 0
        ids = [r["notice_id"] for r in kept]
        first = kept[0]
        held_until = max(self._release_at(first, now), await self._interval_end(conn, key))
        if held_until > now:
            FORMED.labels("held").inc(len(ids))
            await conn.execute(
                """UPDATE notice_outbox SET next_attempt_at = $2, held_reason = $3
                    WHERE notice_id = ANY($1::bigint[])""",
                ids,
                held_until,
                "quiet hours / non-working day / group interval",
            )
            return 0
        digest_id = await conn.fetchval(
            """INSERT INTO notice_digest (channel, recipient, destination, period, group_key,
                                          idempotency_key, next_attempt_at, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING digest_id""",
            first["channel"],
            first["recipient"],
            first["destination"],
            first["period"],
            key,
            digest_key([r["idempotency_key"] for r in kept]),
            now,
        )
        await conn.execute(
            """UPDATE notice_outbox SET state = 'queued', digest_id = $2, held_reason = NULL
                WHERE notice_id = ANY($1::bigint[])""",
            ids,
            digest_id,
        )
        FORMED.labels("queued").inc(len(ids))
        return 1

    def _release_at(self, row: asyncpg.Record, now: datetime) -> datetime:
        """People are held outside allowed hours; machines (webhook) never are."""
        if Channel(row["channel"]) not in PERSON_CHANNELS:
            return now
        return next_allowed(now, self._timing, self._calendar)

    async def _interval_end(self, conn: Connection, key: str) -> datetime:
        last: datetime | None = await conn.fetchval(
            "SELECT max(created_at) FROM notice_digest WHERE group_key = $1", key
        )
        if last is None:
            return datetime.min.replace(tzinfo=self._calendar.tz)
        return last + timedelta(seconds=self._timing.group_interval_seconds)
