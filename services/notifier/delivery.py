"""Working the digests: one due digest part per transaction, claimed with `FOR UPDATE SKIP
LOCKED` (several workers never take the same one), sent, and recorded in the same
transaction. A crash between sending and recording rolls the claim back, so only the part in
flight is sent again, with the same idempotency key; nothing else repeats, nothing is lost.

Failures retry with exponential backoff and become dead letters after the last attempt;
rate limits postpone without spending an attempt; an invalid robot key disables that robot
and tells ops. Every attempt is written to `notice_delivery_log`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import Counter

from services.notifier.channels.base import (
    ChannelAdapter,
    DestinationInvalid,
    PermanentFailure,
    RateLimited,
    Target,
)
from services.notifier.channels.webhook import webhook_id
from services.notifier.domain.acklink import AckLinks
from services.notifier.domain.daily import DailyContent
from services.notifier.domain.digest import Digest, DigestItem
from shared.clock import Clock
from shared.db import Connection

log = logging.getLogger(__name__)
NOTICES = Counter(
    "notifier_notices_total",
    "Digest part delivery attempts by channel and outcome",
    ["channel", "outcome"],
)

CLAIM_SQL = """
SELECT digest_id, channel, recipient, destination, period, idempotency_key, parts_sent, attempts,
       kind, snapshot
  FROM notice_digest
 WHERE state = 'pending' AND next_attempt_at <= $1
 ORDER BY next_attempt_at, digest_id
 LIMIT 1
 FOR UPDATE SKIP LOCKED
"""
MEMBERS_SQL = """
SELECT a.alert_id, a.alertname, a.status, a.employee_id, a.period, a.supervisor_id, a.team_id,
       a.branch_id, a.summary, a.starts_at, a.received_at, n.level
  FROM notice_outbox n JOIN alert a USING (alert_id)
 WHERE n.digest_id = $1
 ORDER BY n.notice_id
"""


# (channel, recipient, destination) of each way ops are told
OpsAddress = tuple[str, str, str]


async def queue_ops_notice(
    conn: Connection, ops: Sequence[OpsAddress], kind: str, text: str, now: datetime
) -> int:
    """An ops notice: recorded in `ops_notice` and queued in the outbox to each ops address
    (one digest each, retried and dead-lettered like any other). Returns its id."""
    notice_id: int = await conn.fetchval(
        "INSERT INTO ops_notice (kind, detail) VALUES ($1, $2) RETURNING ops_notice_id",
        kind,
        text,
    )
    for channel, recipient, destination in ops:
        key = f"ops|{notice_id}|{channel}|{recipient}"
        await conn.execute(
            """INSERT INTO notice_digest (kind, snapshot, channel, recipient, destination,
                                          period, group_key, idempotency_key, next_attempt_at)
               VALUES ('ops', $1, $2, $3, $4, '-', $5, $5, $6) ON CONFLICT DO NOTHING""",
            {"kind": kind, "text": text},
            channel,
            recipient,
            destination,
            key,
            now,
        )
    return notice_id


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def _recipient(row: asyncpg.Record) -> str:
    """Who a digest went to, as ops read it: a webhook by its hash, never its URL."""
    recipient: str = row["recipient"]
    return webhook_id(recipient) if row["channel"] == "webhook" else recipient


class Delivery:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        channels: Mapping[str, ChannelAdapter],
        max_attempts: int,
        clock: Clock,
        ack_links: AckLinks | None = None,
        ops: Sequence[OpsAddress] = (),
    ) -> None:
        self._pool = pool
        self._channels = channels
        self._max_attempts = max_attempts
        self._clock = clock
        self._ack_links = ack_links
        self._ops = ops

    async def run_once(self, stopping: asyncio.Event | None = None, limit: int = 50) -> int:
        """Deliver up to `limit` due digest parts (fewer once `stopping` is set); returns how
        many were handled."""
        handled = 0
        while handled < limit and not (stopping is not None and stopping.is_set()):
            async with self._pool().acquire() as conn, conn.transaction():
                row = await conn.fetchrow(CLAIM_SQL, self._clock())
                if row is None:
                    break
                await self._deliver(conn, row)
            handled += 1
        return handled

    async def _digest(self, conn: Connection, row: asyncpg.Record) -> Digest:
        items = []
        for m in await conn.fetch(MEMBERS_SQL, row["digest_id"]):
            ack = (
                self._ack_links.url(m["alert_id"], row["recipient"], m["received_at"])
                if self._ack_links
                else None
            )
            items.append(
                DigestItem(
                    alert_id=m["alert_id"],
                    alertname=m["alertname"],
                    status=m["status"],
                    employee_id=m["employee_id"],
                    period=m["period"],
                    supervisor_id=m["supervisor_id"],
                    team_id=m["team_id"],
                    branch_id=m["branch_id"],
                    summary=m["summary"],
                    starts_at=m["starts_at"],
                    level=m["level"],
                    ack_url=ack,
                )
            )
        return Digest(row["recipient"], row["period"], tuple(items))

    async def _deliver(self, conn: Connection, row: asyncpg.Record) -> None:
        channel = row["channel"]
        adapter = self._channels.get(channel)
        part_no = row["parts_sent"]
        if adapter is None:
            await self._dead(conn, row, part_no, f"channel {channel} is not configured")
            return
        target = Target(
            row["digest_id"], channel, row["recipient"], row["destination"], row["idempotency_key"]
        )
        try:
            if row["kind"] == "daily":
                parts = adapter.render_daily(DailyContent.from_json(row["snapshot"]))
            elif row["kind"] == "ops":
                parts = adapter.render_ops(row["snapshot"]["text"])
            else:
                parts = adapter.render(await self._digest(conn, row))
            await adapter.send(conn, target, parts[part_no])
        except RateLimited as exc:
            NOTICES.labels(channel, "rate_limited").inc()
            await self._postpone(conn, row, part_no, exc.retry_at, str(exc))
        except DestinationInvalid as exc:
            NOTICES.labels(channel, "disabled").inc()
            await self._disable(conn, row, part_no, exc)
        except PermanentFailure as exc:
            NOTICES.labels(channel, "dead").inc()
            await self._dead(conn, row, part_no, _error(exc))
        except Exception as exc:
            await self._retry_or_dead(conn, row, part_no, exc)
        else:
            NOTICES.labels(channel, "sent").inc()
            await self._sent(conn, row, part_no, len(parts))

    async def _log(
        self, conn: Connection, row: asyncpg.Record, part: int, outcome: str, detail: str
    ) -> None:
        await conn.execute(
            """INSERT INTO notice_delivery_log (digest_id, channel, part, outcome, detail)
               VALUES ($1, $2, $3, $4, $5)""",
            row["digest_id"],
            row["channel"],
            part,
            outcome,
            detail or None,
        )

    async def _sent(self, conn: Connection, row: asyncpg.Record, part: int, total: int) -> None:
        done = part + 1 >= total
        now = self._clock()
        await conn.execute(
            """UPDATE notice_digest SET parts_sent = $2, attempts = attempts + 1,
                      state = CASE WHEN $3 THEN 'sent' ELSE 'pending' END,
                      sent_at = CASE WHEN $3 THEN $4::timestamptz END, last_error = NULL
                WHERE digest_id = $1""",
            row["digest_id"],
            part + 1,
            done,
            now,
        )
        if done:
            await conn.execute(
                """UPDATE notice_outbox SET state = 'sent', sent_at = $2,
                          attempts = attempts + 1
                    WHERE digest_id = $1""",
                row["digest_id"],
                now,
            )
        await self._log(conn, row, part, "sent", f"part {part + 1}/{total}")

    async def _postpone(
        self, conn: Connection, row: asyncpg.Record, part: int, at: datetime, detail: str
    ) -> None:
        await conn.execute(
            "UPDATE notice_digest SET next_attempt_at = $2, last_error = $3 WHERE digest_id = $1",
            row["digest_id"],
            at,
            detail,
        )
        await self._log(conn, row, part, "rate_limited", detail)

    async def _retry_or_dead(
        self, conn: Connection, row: asyncpg.Record, part: int, exc: Exception
    ) -> None:
        attempts = row["attempts"] + 1
        if attempts >= self._max_attempts:
            NOTICES.labels(row["channel"], "dead").inc()
            await self._dead(conn, row, part, _error(exc))
            return
        NOTICES.labels(row["channel"], "retry").inc()
        log.warning(
            "notice delivery failed; retrying",
            extra={"digest_id": row["digest_id"], "channel": row["channel"], "attempts": attempts},
        )
        await conn.execute(
            """UPDATE notice_digest SET attempts = $2, last_error = $3, next_attempt_at = $4
                WHERE digest_id = $1""",
            row["digest_id"],
            attempts,
            _error(exc),
            self._clock() + backoff(attempts),
        )
        await conn.execute(
            "UPDATE notice_outbox SET attempts = $2, last_error = $3 WHERE digest_id = $1",
            row["digest_id"],
            attempts,
            _error(exc),
        )
        await self._log(conn, row, part, "retry", _error(exc))

    async def _dead(self, conn: Connection, row: asyncpg.Record, part: int, error: str) -> None:
        """A dead letter: kept, visible in the API and `ops_notice`, never silently gone."""
        log.error(
            "notice is a dead letter",
            extra={"digest_id": row["digest_id"], "channel": row["channel"], "error": error},
        )
        await conn.execute(
            """UPDATE notice_digest SET state = 'dead', attempts = attempts + 1, last_error = $2
                WHERE digest_id = $1""",
            row["digest_id"],
            error,
        )
        await conn.execute(
            """UPDATE notice_outbox SET state = 'dead', attempts = attempts + 1, last_error = $2
                WHERE digest_id = $1""",
            row["digest_id"],
            error,
        )
        await self._tell_ops(
            conn,
            row,
            "dead_letter",
            f"digest {row['digest_id']} ({row['channel']} to {_recipient(row)}): {error}",
        )
        await self._log(conn, row, part, "dead", error)

    async def _tell_ops(self, conn: Connection, row: asyncpg.Record, kind: str, text: str) -> None:
        """Recorded in `ops_notice`, and sent to the ops recipients through the outbox (not
        when what failed was itself a notice to ops: that would never end)."""
        ops = () if row["kind"] == "ops" else self._ops
        await queue_ops_notice(conn, ops, kind, text, self._clock())

    async def _disable(
        self, conn: Connection, row: asyncpg.Record, part: int, exc: DestinationInvalid
    ) -> None:
        newly = await conn.fetchval(
            """INSERT INTO disabled_destination (channel, destination, reason)
               VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1""",
            row["channel"],
            exc.disabled_key,
            str(exc),
        )
        if newly:
            log.error(
                "route disabled: the group robot's key is invalid; fix robot_webhook",
                extra={"destination": exc.disabled_key, "team": row["destination"]},
            )
            await self._tell_ops(
                conn, row, "route_disabled", f"{exc.disabled_key} of {row['destination']}: {exc}"
            )
        await self._dead(conn, row, part, f"route disabled: {exc}")
        await self._log(conn, row, part, "disabled", str(exc))

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("delivery round failed; retrying")
                handled = 0
            if not handled:
                await asyncio.sleep(interval)
