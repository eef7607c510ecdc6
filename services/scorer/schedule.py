"""Things that happen because time passes: periods closing at their deadline (end of the period
plus CLOSE_GRACE_HOURS, so the retention window of the last adds has run), pace checkpoints at
the end of the k-th working day of the month, the alarm when WeCom data stops arriving for
DATA_STALE_WORKING_HOURS of working time (nights, weekends and holidays do not count), and the
purge of contact-level data older than CONTACT_DATA_RETENTION_MONTHS (contact_data.py, once
a month when the cutoff moves on). Each is recorded (period_close, scheduler_mark,
contact_governance) so a restart neither repeats nor skips one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from services.scorer import contact_data
from services.scorer.closing import PeriodCloser
from services.scorer.domain.quota import Status, evaluate
from services.scorer.scoring import Scorer
from shared.calendar import Period, PeriodKind, parse_period, period_of
from shared.db import Connection
from shared.schemas import AlertName, BreachEvent

CURRENT_FIELDS = """s.employee_id, s.branch_id, s.team_id, s.supervisor_id, s.target,
       COALESCE(q.valid_adds, s.valid_adds) AS valid_adds,
       COALESCE(q.pending_adds, s.pending_adds) AS pending_adds"""
"""What the pace checks read of an open month's rows (`s`): the counts from the counters
(`q`), as the read API shows them; the rows' copies follow after the refresh's settle."""

log = logging.getLogger(__name__)


class Schedule:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        scorer: Scorer,
        closer: PeriodCloser,
        close_kinds: frozenset[PeriodKind],
        close_grace: timedelta,
        pace_checkpoints: tuple[int, ...],
        stale_working_hours: float,
        retention_months: int | None = None,
    ) -> None:
        self._pool = pool
        self._retention_months = retention_months  # None: no purge
        self._scorer = scorer
        self._closer = closer
        self._close_kinds = close_kinds
        self._grace = close_grace
        self._checkpoints = pace_checkpoints
        self._stale_hours = stale_working_hours

    async def run_once(self, now: datetime | None = None) -> None:
        now = now or self._scorer.clock()
        async with self._pool().acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext('scorer-schedule'))"):
                return  # another instance is on it
            try:
                await self.close_due(conn, now)
                await self.pace_checkpoints(conn, now)
                await self.data_freshness(conn, now)
                if self._retention_months is not None:
                    await contact_data.purge_due(conn, self._scorer, self._retention_months, now)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext('scorer-schedule'))")

    async def close_due(self, conn: Connection, now: datetime) -> None:
        gate = self._closer.gate
        if gate is not None:  # a hold left by a crash between a close and its release
            for row in await conn.fetch(
                "SELECT h.period FROM close_hold h JOIN period_close c USING (period)"
            ):
                await gate.release(conn, parse_period(row["period"]), now)
        keys = await conn.fetch(
            """SELECT DISTINCT period FROM quota_counter
               UNION SELECT DISTINCT period FROM target
               EXCEPT SELECT period FROM period_close
               EXCEPT SELECT period FROM purged_period"""
        )
        tz = self._scorer.calendar.tz
        for row in keys:
            try:
                period = parse_period(row["period"])
            except ValueError:
                continue
            if period.kind in self._close_kinds and period.end_at(tz) + self._grace <= now:
                result = await self._closer.close(conn, period, "schedule", now)
                if result["closed"]:
                    log.info("period closed at its deadline", extra=result)
                elif self._closer.gate is not None:
                    await self._closer.gate.hold(conn, period, result["held"], now)

    async def pace_checkpoints(self, conn: Connection, now: datetime) -> None:
        calendar = self._scorer.calendar
        month = period_of(PeriodKind.MONTH, now.astimezone(calendar.tz).date())
        days = calendar.working_days(month)
        for k in self._checkpoints:
            if k > len(days):
                continue
            _, checkpoint_end = calendar.working_window(days[k - 1])
            mark = f"pace:{month.key}:{k}"
            if now < checkpoint_end or await self._done(conn, mark):
                continue
            await self._pace_behind(conn, month, k, checkpoint_end, now)
            await conn.execute(
                "INSERT INTO scheduler_mark (mark) VALUES ($1) ON CONFLICT DO NOTHING", mark
            )
        await self._pace_cleared(conn, month, now)

    async def _pace_cleared(self, conn: Connection, month: Period, now: datetime) -> None:
        """A `PaceBehind` of this month clears when the employee is no longer behind the pace
        due now (valid and pending adds against the target, as the checkpoints judge it): a
        resolved notice goes to whoever heard of it, once; a later checkpoint may find them
        behind again."""
        async with conn.transaction():  # published before the marks commit: at least once
            share = self._scorer.calendar.elapsed_share(month, now)
            firing = await conn.fetch(
                f"""SELECT {CURRENT_FIELDS} FROM scheduler_mark m JOIN employee_period_score s
                      ON s.period = $1 AND m.mark = 'pace-firing:' || $1 || ':' || s.employee_id
                    LEFT JOIN quota_counter q
                      ON q.employee_id = s.employee_id AND q.period = s.period
                    FOR UPDATE OF m""",  # noqa: S608 - constant column names
                month.key,
            )
            judged = [
                (r, evaluate(r["target"], r["valid_adds"], r["pending_adds"], share, closed=False))
                for r in firing
            ]
            rows = [(r, q) for r, q in judged if q.status is not Status.BEHIND]
            await conn.execute(
                "DELETE FROM scheduler_mark WHERE mark = ANY($1::text[])",
                [f"pace-firing:{month.key}:{r['employee_id']}" for r, _ in rows],
            )
            breaches = []
            for r, q in rows:
                status = q.status.value if q.status else None
                cleared = await conn.fetchval(
                    """INSERT INTO scheduler_mark (mark)
                       SELECT 'pace-cleared:' || $1 || ':' || $2 || ':' || count(*)
                         FROM scheduler_mark
                        WHERE starts_with(mark, 'pace-cleared:' || $1 || ':' || $2 || ':')
                       RETURNING mark""",
                    month.key,
                    r["employee_id"],
                )
                breaches.append(
                    BreachEvent(
                        event_id=BreachEvent.make_id(
                            AlertName.PACE_BEHIND, r["employee_id"], cleared, "resolved"
                        ),
                        occurred_at=now,
                        alertname=AlertName.PACE_BEHIND,
                        status="resolved",
                        employee_id=r["employee_id"],
                        period=month.key,
                        supervisor_id=r["supervisor_id"],
                        team_id=r["team_id"],
                        branch_id=r["branch_id"],
                        summary=(
                            f"{r['employee_id']} is back on pace in {month.key}: "
                            f"{r['valid_adds']} valid + {r['pending_adds']} pending against "
                            f"{r['target']} ({status})"
                        ),
                        values={
                            "valid_adds": r["valid_adds"],
                            "pending_adds": r["pending_adds"],
                            "target": r["target"],
                            "status": status,
                        },
                    )
                )
            if breaches:
                await self._closer.publish(breaches)

    async def _pace_behind(
        self, conn: Connection, month: Period, k: int, checkpoint_end: datetime, now: datetime
    ) -> None:
        """Behind is judged against the pace due at the checkpoint (k working days of the
        month's working time), not at the moment this runs: a scorer that was down at the
        checkpoint and runs it later asks the same question."""
        share = self._scorer.calendar.elapsed_share(month, checkpoint_end)
        scored = await conn.fetch(
            f"""SELECT {CURRENT_FIELDS} FROM employee_period_score s
                  LEFT JOIN quota_counter q
                    ON q.employee_id = s.employee_id AND q.period = s.period
                 WHERE s.period = $1 AND s.target IS NOT NULL AND s.target > 0""",  # noqa: S608
            month.key,
        )
        at_checkpoint = [
            (r, evaluate(r["target"], r["valid_adds"], r["pending_adds"], share, closed=False))
            for r in scored
        ]
        rows = [(r, q) for r, q in at_checkpoint if q.status is Status.BEHIND]
        breaches = [
            BreachEvent(
                event_id=BreachEvent.make_id(
                    AlertName.PACE_BEHIND, r["employee_id"], f"{month.key}#wd{k}", "firing"
                ),
                occurred_at=now,
                alertname=AlertName.PACE_BEHIND,
                employee_id=r["employee_id"],
                period=month.key,
                supervisor_id=r["supervisor_id"],
                team_id=r["team_id"],
                branch_id=r["branch_id"],
                summary=(
                    f"{r['employee_id']} is behind after working day {k} of {month.key}: "
                    f"{r['valid_adds']} valid + {r['pending_adds']} pending, projected "
                    f"{q.projection} against {r['target']}"
                ),
                values={
                    "checkpoint_working_day": k,
                    "valid_adds": r["valid_adds"],
                    "pending_adds": r["pending_adds"],
                    "target": r["target"],
                    "projection": q.projection,
                    "pace": q.pace,
                },
            )
            for r, q in rows
        ]
        await conn.execute(
            """INSERT INTO scheduler_mark (mark)
               SELECT 'pace-firing:' || $1 || ':' || unnest($2::text[]) ON CONFLICT DO NOTHING""",
            month.key,
            [r["employee_id"] for r, _ in rows],
        )
        await self._closer.publish(breaches)

    async def data_freshness(self, conn: Connection, now: datetime) -> None:
        last = await conn.fetchval(
            "SELECT last_received_at FROM ingest_watermark WHERE source = 'contact_events'"
        )
        if last is None:
            return
        episode = f"stale:{last.isoformat()}"
        hours = self._scorer.calendar.working_hours_between(last, now)
        if hours >= self._stale_hours and not await self._done(conn, episode):
            await self._stale(episode, last, now, "firing", hours)
            await conn.execute(
                "INSERT INTO scheduler_mark (mark) VALUES ($1) ON CONFLICT DO NOTHING", episode
            )
        # data arrived again after an episode: resolve every episode still open
        open_episodes = await conn.fetch(
            """SELECT m.mark FROM scheduler_mark m
                WHERE m.mark LIKE 'stale:%' AND m.mark <> $1
                  AND NOT EXISTS (SELECT 1 FROM scheduler_mark r
                                   WHERE r.mark = 'resolved:' || m.mark)""",
            episode,
        )
        for row in open_episodes:
            await self._stale(row["mark"], last, now, "resolved", 0.0)
            await conn.execute(
                "INSERT INTO scheduler_mark (mark) VALUES ($1) ON CONFLICT DO NOTHING",
                f"resolved:{row['mark']}",
            )

    async def _stale(
        self, episode: str, last: datetime, now: datetime, status: str, hours: float
    ) -> None:
        day = now.astimezone(self._scorer.calendar.tz).date().isoformat()
        await self._closer.publish(
            [
                BreachEvent(
                    event_id=BreachEvent.make_id(AlertName.DATA_STALE, None, episode, status),
                    occurred_at=now,
                    alertname=AlertName.DATA_STALE,
                    status=status,
                    period=day,
                    summary=(
                        f"no WeCom contact events for {hours:.1f} working hours (last at "
                        f"{last.isoformat()}): check the callback before reading targets"
                        if status == "firing"
                        else "WeCom contact events are arriving again"
                    ),
                    values={"last_received_at": last.isoformat(), "working_hours": round(hours, 2)},
                )
            ]
        )

    @staticmethod
    async def _done(conn: Connection, mark: str) -> bool:
        return bool(await conn.fetchval("SELECT 1 FROM scheduler_mark WHERE mark = $1", mark))

    async def run_forever(self, interval: float = 30.0) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("scheduled work failed; retrying")
            await asyncio.sleep(interval)
