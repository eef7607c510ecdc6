"""Closing a period, and correcting it afterwards.

Closing: final scores for every employee, the outcome of each recorded (revision 0), then a
`TargetMissed` breach for each employee below target. Breach ids are deterministic, and the
breaches are published before the close commits, so a crash in between only repeats ids the
notifier already knows.

After a close, a late event that changes an employee's figures revises the outcome (revision
n+1, logged in period_revision) and, when the outcome flips, says so: a `TargetMissed`
resolved breach when missed becomes met, a firing one when met becomes missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

from faststream.kafka import KafkaBroker
from prometheus_client import Counter

from services.scorer import tally
from services.scorer.close_gate import CloseGate
from services.scorer.scoring import READ_AHEAD, Scorer, store_scores
from shared.auth import Identity, Role, audit
from shared.calendar import Period, PeriodKind, parse_period
from shared.db import Connection, create_pool
from shared.governance import hold_shared
from shared.kafka import publish_all
from shared.schemas import AlertName, BreachEvent

log = logging.getLogger(__name__)
SCHEDULE = Identity("schedule", Role.ADMIN, via="system")
"""Who closes a period when its time comes (Schedule), as the audit log names it."""
ANOMALY_PERIOD_KINDS = frozenset({PeriodKind.MONTH, PeriodKind.QUARTER})
BREACHES = Counter(
    "scorer_breaches_published_total", "Breach events published", ["alertname", "status"]
)
REVISIONS = Counter("scorer_period_revisions_total", "Closed-period outcomes revised", ["flipped"])
PURGED = "contact_data_purged"
"""Why a period whose contact data was purged (shared/governance.py) cannot be closed now."""
CLOSE_READERS = READ_AHEAD + 4
"""Connections a close opens for its reads, its own: the baseline, the dense blocks, the
cross-team overlap, every employee's features (`buckets.Everyones`) and READ_AHEAD chunks
(`Scorer.compute_chunks_alongside`). Not taken from
the service's pool: the batches, timers and API requests that write a closing period's rows
wait there for the close to commit, holding their connections, and a close waiting for one of
those would never end."""
CLOSE_READER_SETTINGS = {"work_mem": "64MB", "jit": "off"}
"""The close's readers count and group every standing of the period bank-wide (the peers'
tallies, the hollow adds per day): with PostgreSQL's default 4 MB, a national
bank's month (800,000 standings) spills those to disk and sorts instead of hashing. Per sort or
hash of one statement, on CLOSE_READERS connections while a close runs. Without JIT: the
planner's estimate of those statements (a lookup per standing judged before migration 0028, which
none of a month's standings needs) has it compile them, which took 1.1 s of the 1.3 s the peers'
tallies ran."""


def target_breach(
    score: dict[str, Any], period: str, at: datetime, status: str, revision: int = 0
) -> BreachEvent:
    """Revision 0 is the close; a flip after it carries its revision in the id, so a second
    flip (missed → met → missed) is news to the notifier, not a duplicate of the close."""
    verb = "closed" if status == "firing" else "now meets"
    occasion = period if revision == 0 else f"{period}#revision{revision}"
    return BreachEvent(
        event_id=BreachEvent.make_id(
            AlertName.TARGET_MISSED, score["employee_id"], occasion, status
        ),
        occurred_at=at,
        alertname=AlertName.TARGET_MISSED,
        status=status,
        employee_id=score["employee_id"],
        period=period,
        supervisor_id=score["supervisor_id"],
        team_id=score["team_id"],
        branch_id=score["branch_id"],
        summary=(
            f"{score['employee_id']} {verb} {period} with {score['valid_adds']} valid adds "
            f"against a target of {score['target']}"
        ),
        values={k: score[k] for k in ("target", "valid_adds", "gross_adds", "attainment")},
    )


class PeriodCloser:
    def __init__(
        self,
        scorer: Scorer,
        broker: KafkaBroker,
        breaches_topic: str,
        gate: CloseGate | None = None,
        readers_dsn: str | None = None,
    ) -> None:
        self._scorer = scorer
        # where a close opens connections of its own for its reads, beside its writes
        # (`Scorer.compute_chunks_alongside`); without, everything on the close's connection
        self._readers_dsn = readers_dsn
        self._broker = broker
        self._topic = breaches_topic
        self._closing = 0
        self.gate = gate
        # the review loop's cases (services/scorer/review): opened from the flagged rows
        self.review: Callable[[Connection, Sequence[dict[str, Any]]], Awaitable[None]] | None = None

    async def publish(self, breaches: Sequence[BreachEvent]) -> None:
        """Publish and wait for every acknowledgement; a failure fails the caller's
        transaction, which is tried again (the breach ids are deterministic). The broker given
        to the closer publishes only, so it can be renewed (`publish_all`)."""
        await publish_all(
            self._broker,
            [(b.to_json(), self._topic, (b.employee_id or "-").encode()) for b in breaches],
        )
        for b in breaches:
            BREACHES.labels(b.alertname.value, b.status).inc()

    def closing(self) -> bool:
        """A close is running (the refresh holds meanwhile: `Refresher.run_forever`)."""
        return self._closing > 0

    async def close(
        self,
        conn: Connection,
        period: Period,
        closed_by: str,
        now: datetime | None = None,
        force: bool = False,
        who: Identity = SCHEDULE,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Close `period` as of `now` (the schedule's moment; the clock's by default) once
        its inputs are complete: otherwise nothing happens and the answer says why
        (`closed` false, `held` the reasons), unless `force` (which the log records). Every
        call leaves an audit row, `who` as the actor: in the close's own transaction when it
        closes."""
        now = now or self._scorer.clock()
        # closed already: closing again is idempotent (and releases a hold a crash left)
        closed = await conn.fetchval("SELECT 1 FROM period_close WHERE period = $1", period.key)
        action = "period.close_forced" if force else "period.close"
        refused: dict[str, Any] | None = None
        if await conn.fetchval("SELECT 1 FROM purged_period WHERE period = $1", period.key):
            # its contact data is gone: its figures stay as they stood, never recomputed
            refused = (
                {"period": period.key, "closed": True, "already_closed": True}
                if closed
                else {"period": period.key, "closed": False, "held": [PURGED]}
            )
        holds = (
            []
            if self.gate is None or closed or refused is not None
            else await self.gate.holds(conn, period, now)
        )
        if refused is None and holds and not force:
            refused = {"period": period.key, "closed": False, "held": holds}
        if refused is not None:
            before = {"closed": bool(closed)}
            entry = audit.Entry(action, period.key, before, refused, request_id)
            await audit.record(conn, who, entry, now)
            return refused
        if holds:
            log.warning(
                "period closed by force past incomplete inputs",
                extra={"period": period.key, "closed_by": closed_by, "holds": holds},
            )
        self._closing += 1
        try:
            entry = audit.Entry(action, period.key, {"closed": bool(closed)}, None, request_id)
            result = await self._close(conn, period, closed_by, now, (who, entry, holds))
        finally:
            self._closing -= 1
        if self.gate is not None:
            await self.gate.release(conn, period, now)
        return {**result, "forced_past": holds} if holds else result

    async def _close(
        self,
        conn: Connection,
        period: Period,
        closed_by: str,
        now: datetime,
        audited: tuple[Identity, audit.Entry, list[Any]],
    ) -> dict[str, Any]:
        # windows that ended by now are judged first: the counters the close reads are current
        await tally.run_all_due(conn, self._scorer, now)
        async with conn.transaction():
            await hold_shared(conn)  # no erasure or purge halfway through the close
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('close:' || $1))", period.key)
            already = await conn.fetchval(
                "SELECT 1 FROM period_close WHERE period = $1", period.key
            )
            # in code-point order, the order the features' one pass reads them in
            ids = [
                r["employee_id"]
                for r in await conn.fetch(
                    """SELECT DISTINCT employee_id COLLATE "C" AS employee_id
                         FROM employee_org ORDER BY 1"""
                )
            ]
            # one peer baseline and one fresh dense-block pass for the whole bank; scores are
            # computed and stored a chunk of employees at a time (bounded memory: only the
            # missed ones are kept for their breaches)
            at = min(now, period.end_at(self._scorer.calendar.tz))
            employees = 0
            missed: list[BreachEvent] = []
            async with contextlib.AsyncExitStack() as stack:
                if self._readers_dsn is None:
                    computed = self._scorer.compute_chunks(conn, period, ids, now, closed=True)
                else:
                    readers = await create_pool(
                        self._readers_dsn, CLOSE_READERS, CLOSE_READER_SETTINGS
                    )
                    stack.push_async_callback(readers.close)
                    computed = self._scorer.compute_chunks_alongside(
                        conn, lambda: readers, period, ids, now, closed=True
                    )
                # a failure or a cancel stops the reads at once, before the pool closes
                chunks = await stack.enter_async_context(contextlib.aclosing(computed))
                # With readers of its own, a chunk is stored on the close's connection while
                # the next is read and scored (the reads use the readers; the close's
                # connection only before the first chunk): PostgreSQL writes while Python
                # computes, and the stores still go one after the other, in order. Without,
                # the reads take that connection too: each store before the next read.
                storing: asyncio.Task[None] | None = None
                try:
                    async for scores in chunks:
                        if storing is not None:
                            await storing
                        if self._readers_dsn is None:
                            await self._record(conn, period, scores)
                        else:
                            storing = asyncio.create_task(self._record(conn, period, scores))
                            await asyncio.sleep(0)  # let it start before the scoring
                        employees += len(scores)
                        missed += (
                            target_breach(s, period.key, at, "firing")
                            for s in scores
                            if s["status"] == "missed"
                        )
                    if storing is not None:
                        await storing
                finally:
                    # a failed store's error is collected whatever ended the loop (a read
                    # failing after it, a cancel); a store still running is stopped
                    if storing is not None:
                        storing.cancel()
                        await asyncio.gather(storing, return_exceptions=True)
            await self.publish(missed)
            await conn.execute(
                "INSERT INTO period_close (period, closed_by, closed_at) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                period.key,
                closed_by,
                now,
            )
            result = {
                "period": period.key,
                "closed": True,
                "already_closed": bool(already),
                "employees": employees,
                "target_missed": len(missed),
            }
            who, entry, holds = audited
            after = {**result, "forced_past": holds} if holds else result
            await audit.record(conn, who, replace(entry, after=after), now)
        return result

    @staticmethod
    async def _record(conn: Connection, period: Period, scores: Sequence[dict[str, Any]]) -> None:
        """The final scores, and each outcome as the close decided it (revision 0)."""
        await store_scores(conn, scores)
        await conn.execute(
            """INSERT INTO period_outcome (period, employee_id, target, valid_adds, status)
               SELECT $1, * FROM unnest($2::text[], $3::int[], $4::int[], $5::text[])
               ON CONFLICT DO NOTHING""",
            period.key,
            [s["employee_id"] for s in scores],
            [s["target"] for s in scores],
            [s["valid_adds"] for s in scores],
            [s["status"] for s in scores],
        )

    async def after_refresh(self, conn: Connection, scores: Sequence[dict[str, Any]]) -> None:
        await self.revise(conn, scores)
        await self.flag_anomalies(conn, scores)

    async def flag_anomalies(self, conn: Connection, scores: Sequence[dict[str, Any]]) -> None:
        """`AnomalyFlagged` once per employee and month (or quarter) when the score crosses
        the threshold; the mark is kept in the same transaction as the scores. Each flag
        opens (or joins) a review case in that transaction too."""
        if self.review is not None:
            await self.review(conn, scores)
        now = self._scorer.clock()
        await self.clear_anomalies(conn, scores, now)
        flagged = [
            s
            for s in scores
            if s["flagged"] and parse_period(s["period"]).kind in ANOMALY_PERIOD_KINDS
        ]
        if not flagged:
            return
        # a period whose case a reviewer dismissed is raised again by the review loop alone,
        # once its score rose by the margin (services/scorer/review): no mark, no firing here
        dismissed = await _dismissed(conn, [(s["period"], s["employee_id"]) for s in flagged])
        new = await conn.fetch(
            """INSERT INTO scheduler_mark (mark) SELECT unnest($1::text[])
               ON CONFLICT DO NOTHING RETURNING mark""",
            [
                f"anomaly:{s['period']}:{s['employee_id']}"
                for s in flagged
                if (s["period"], s["employee_id"]) not in dismissed
            ],
        )
        fresh = {r["mark"] for r in new}
        firing = [s for s in flagged if f"anomaly:{s['period']}:{s['employee_id']}" in fresh]
        cycles = await _cycles(conn, [(s["period"], s["employee_id"]) for s in firing])
        await self.publish(
            [anomaly_breach(s, now, cycles.get((s["period"], s["employee_id"]), 0)) for s in firing]
        )

    async def clear_anomalies(
        self, conn: Connection, scores: Sequence[dict[str, Any]], now: datetime
    ) -> None:
        """A flagged month (or quarter) whose score fell below the threshold (new data, a
        reviewer's contact verdict) clears: a resolved `AnomalyFlagged` goes out once, and a
        later rise flags it again. Not when a reviewer already dismissed its case (the
        dismissal resolved it)."""
        below = [
            s
            for s in scores
            if not s["flagged"] and parse_period(s["period"]).kind in ANOMALY_PERIOD_KINDS
        ]
        if not below:
            return
        gone = await conn.fetch(
            """DELETE FROM scheduler_mark WHERE mark = ANY($1::text[]) RETURNING mark""",
            [f"anomaly:{s['period']}:{s['employee_id']}" for s in below],
        )
        marks = {r["mark"] for r in gone}
        cleared = [s for s in below if f"anomaly:{s['period']}:{s['employee_id']}" in marks]
        if not cleared:
            return
        keys = [(s["period"], s["employee_id"]) for s in cleared]
        cycles = await _cycles(conn, keys)
        await conn.execute(
            """INSERT INTO scheduler_mark (mark)
               SELECT 'anomaly-cleared:' || p || ':' || e || ':' || n
                 FROM unnest($1::text[], $2::text[], $3::int[]) AS x(p, e, n)""",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [cycles.get(k, 0) for k in keys],
        )
        dismissed = await _dismissed(conn, keys)  # the dismissal resolved it already
        await self.publish(
            [
                anomaly_cleared(s, now, cycles.get(k, 0))
                for s, k in zip(cleared, keys, strict=True)
                if k not in dismissed
            ]
        )

    async def revise(self, conn: Connection, scores: Sequence[dict[str, Any]]) -> None:
        """Within the refresh transaction: compare closed periods' new figures with their
        recorded outcomes."""
        closed = [s for s in scores if s.get("closed")]
        if not closed:
            return
        rows = await conn.fetch(
            """SELECT o.* FROM period_outcome o
                 JOIN unnest($1::text[], $2::text[]) AS x(p, e)
                   ON o.period = x.p AND o.employee_id = x.e""",
            [s["period"] for s in closed],
            [s["employee_id"] for s in closed],
        )
        outcomes = {(r["period"], r["employee_id"]): r for r in rows}
        breaches: list[BreachEvent] = []
        now = self._scorer.clock()
        for s in closed:
            old = outcomes.get((s["period"], s["employee_id"]))
            if old is None or (old["valid_adds"], old["status"]) == (s["valid_adds"], s["status"]):
                continue
            flipped = {old["status"], s["status"]} == {"met", "missed"}
            await conn.execute(
                """UPDATE period_outcome SET valid_adds = $3, status = $4, target = $5,
                          revision = revision + 1, decided_at = $6
                    WHERE period = $1 AND employee_id = $2""",
                s["period"],
                s["employee_id"],
                s["valid_adds"],
                s["status"],
                s["target"],
                now,
            )
            await conn.execute(
                """INSERT INTO period_revision (period, employee_id, revision, old_valid_adds,
                          new_valid_adds, old_status, new_status, outcome_flipped)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                s["period"],
                s["employee_id"],
                old["revision"] + 1,
                old["valid_adds"],
                s["valid_adds"],
                old["status"],
                s["status"],
                flipped,
            )
            REVISIONS.labels(str(flipped).lower()).inc()
            if flipped:
                status = "resolved" if s["status"] == "met" else "firing"
                breaches.append(target_breach(s, s["period"], now, status, old["revision"] + 1))
                log.info(
                    "closed period outcome flipped",
                    extra={
                        "period": s["period"],
                        "employee_id": s["employee_id"],
                        "from": old["status"],
                        "to": s["status"],
                    },
                )
        await self.publish(breaches)


async def _dismissed(conn: Connection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (period, employee) keys whose latest review case was dismissed."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (c.employee_id, c.period) c.period, c.employee_id, c.status
             FROM review_case c
             JOIN unnest($1::text[], $2::text[]) AS x(p, e)
               ON c.period = x.p AND c.employee_id = x.e
            ORDER BY c.employee_id, c.period, c.case_id DESC""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["period"], r["employee_id"]) for r in rows if r["status"] == "dismissed"}


async def _cycles(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """How often each (period, employee)'s flag cleared before: a flag raised again after a
    clearing is a new alert (its breach ids name the cycle)."""
    rows = await conn.fetch(
        """SELECT x.p, x.e, count(m.mark)::int AS n
             FROM unnest($1::text[], $2::text[]) AS x(p, e)
             LEFT JOIN scheduler_mark m
               ON starts_with(m.mark, 'anomaly-cleared:' || x.p || ':' || x.e || ':')
            GROUP BY x.p, x.e""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["p"], r["e"]): r["n"] for r in rows}


def _cycle_key(period: str, cycle: int) -> str:
    return period if cycle == 0 else f"{period}#{cycle}"


def anomaly_cleared(score: dict[str, Any], at: datetime, cycle: int) -> BreachEvent:
    summary = (
        f"{score['employee_id']}'s anomaly score in {score['period']} fell below the "
        f"threshold ({score['anomaly_score']})"
    )
    return _anomaly_event(score, at, cycle, "resolved", summary)


def anomaly_breach(score: dict[str, Any], at: datetime, cycle: int = 0) -> BreachEvent:
    top = ", ".join(f"{r['code']} (+{r['contribution']})" for r in score["reasons"][:3])
    summary = (
        f"{score['employee_id']}'s adds in {score['period']} look gamed "
        f"(anomaly {score['anomaly_score']}): {top}"
    )
    return _anomaly_event(score, at, cycle, "firing", summary)


def _anomaly_event(
    score: dict[str, Any],
    at: datetime,
    cycle: int,
    status: Literal["firing", "resolved"],
    summary: str,
) -> BreachEvent:
    return BreachEvent(
        event_id=BreachEvent.make_id(
            AlertName.ANOMALY_FLAGGED,
            score["employee_id"],
            _cycle_key(score["period"], cycle),
            status,
        ),
        occurred_at=at,
        alertname=AlertName.ANOMALY_FLAGGED,
        status=status,
        employee_id=score["employee_id"],
        period=score["period"],
        supervisor_id=score["supervisor_id"],
        team_id=score["team_id"],
        branch_id=score["branch_id"],
        summary=summary,
        values={"anomaly_score": score["anomaly_score"], "reasons": score["reasons"]},
    )
