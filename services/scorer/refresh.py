"""Keeping the materialised scores current.

The batch transaction marks (employee, period) pairs dirty; this worker takes them with
`FOR UPDATE SKIP LOCKED` (several scorer instances share the work), recomputes and stores the
scores of each period in one transaction with the clearing of its claims, so a crash leaves them
dirty to be done again. Time alone also changes scores (a retention window ends, a period's
working time elapses): a periodic sweep marks the relations whose windows closed since the last
sweep, and the open periods' rows. Once the inputs stop changing, every open row is marked once
more so that scores depend on the inputs alone (at_rest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from prometheus_client import Counter, Histogram

from services.scorer import tally
from services.scorer.at_rest import Rest
from services.scorer.scoring import (
    BankFigures,
    ChunkInputs,
    Scorer,
    SpanReads,
    store_current,
    store_open,
)
from shared import governance
from shared.calendar import Period, PeriodKind, local_date, parse_period, periods_containing
from shared.clock import system_clock
from shared.db import Connection
from shared.metrics import LATENCY_BUCKETS

log = logging.getLogger(__name__)
REFRESHED = Counter("scorer_scores_refreshed_total", "Employee-period scores recomputed")
REFRESH_SECONDS = Histogram(
    "scorer_refresh_seconds", "Time to recompute one round of dirty scores", buckets=LATENCY_BUCKETS
)
STATE_TO_SCORE = Histogram(
    "scorer_state_to_score_seconds",
    "From an input's change being committed (its score marked dirty) to the recomputed score "
    "being committed; with scorer_event_to_state_seconds, the event-to-score latency",
    buckets=LATENCY_BUCKETS,
)

CLAIM_SQL = """
UPDATE score_dirty SET claimed_at = clock_timestamp()
 WHERE (employee_id, period) IN (
   SELECT employee_id, period FROM score_dirty
    WHERE marked_at < transaction_timestamp()
                      - least($3::interval, $4::interval, $5::interval, $6::interval)
      AND (claimed_at IS NULL OR marked_at > claimed_at
           OR claimed_at < clock_timestamp() - $2::interval)
      AND marked_at < clock_timestamp() - CASE
            WHEN length(period) = 10 THEN $3::interval
            WHEN period LIKE '%-W%' THEN $4::interval
            WHEN period LIKE '%-Q%' THEN $6::interval
            ELSE $5::interval END
    ORDER BY marked_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING employee_id, period, claimed_at, marked_at
"""
# The first condition bounds the scan of the marks' index (the shortest settle; the
# transaction's time, not the volatile clock, so that it can): with every row still settling,
# a claim reads nothing.
# A row is claimable once the first mark since its last recompute has settled for its kind's
# time ($3..$6: day, week, month and quarter keys as shared.calendar makes them): a row is
# recomputed at most about once per settle however busy its employee, and the longer periods,
# whose rows read the most relations, wait longer.
# A claim older than the lease is taken as abandoned (its instance was killed mid-refresh) and
# claimable again; a live instance recomputes a round in well under the lease.
# Rows marked again while they were recomputed (marked_at > claimed_at) stay, and are claimable
# again at once. Rows are locked in key order, as the consumer marks them: no deadlock.
CLEAR_SQL = """
DELETE FROM score_dirty WHERE ctid = ANY(ARRAY(
  SELECT d.ctid FROM score_dirty d
    JOIN unnest($1::text[], $2::text[], $3::timestamptz[]) AS x(e, p, c)
      ON d.employee_id = x.e AND d.period = x.p
   WHERE d.marked_at <= x.c
   ORDER BY d.employee_id, d.period
   FOR UPDATE OF d))
"""
# Every claim of a round, locked in key order before some are cleared and others deferred (two
# statements that would otherwise lock out of order against a batch marking rows).
LOCK_CLAIMS_SQL = """
SELECT count(*) FROM (
  SELECT 1 FROM score_dirty d
    JOIN unnest($1::text[], $2::text[]) AS x(e, p) ON d.employee_id = x.e AND d.period = x.p
   ORDER BY d.employee_id, d.period
   FOR UPDATE OF d) AS locked
"""
# After a failed recomputation: give the claims back rather than wait for them to expire.
RELEASE_SQL = """
UPDATE score_dirty d SET claimed_at = NULL
  FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS x(e, p, c)
 WHERE d.employee_id = x.e AND d.period = x.p AND d.claimed_at = x.c
"""

# Rows of employees not known yet: claimable again after a back-off that doubles with each
# attempt (5 s, 10 s, ... at most 10 min); new input for the row makes it due at once
# (repository.mark_dirty), also when it came while the round held the claim (marked since):
# the employee record this round did not see may be what came.
DEFER_SQL = """
UPDATE score_dirty d
   SET claimed_at = NULL, deferrals = d.deferrals + 1,
       marked_at = CASE WHEN d.marked_at > d.claimed_at THEN d.marked_at
                        ELSE clock_timestamp()
                             + least(interval '5 seconds' * power(2, least(d.deferrals, 8)),
                                     interval '10 minutes') END
  FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS x(e, p, c)
 WHERE d.employee_id = x.e AND d.period = x.p AND d.claimed_at = x.c
"""

# The period keys of an instant, as shared.calendar makes them (day, ISO week, month, quarter).
WINDOW_ENDED_SQL = """
INSERT INTO score_dirty (employee_id, period)
SELECT c.employee_id, k
  FROM employee_contact c,
       LATERAL (SELECT c.first_added_at AT TIME ZONE $4 AS t) l,
       LATERAL unnest(ARRAY[to_char(l.t, 'YYYY-MM-DD'), to_char(l.t, 'IYYY-"W"IW'),
                            to_char(l.t, 'YYYY-MM'), to_char(l.t, 'YYYY-"Q"Q')]) AS k
 WHERE c.first_added_at >= $1::timestamptz - $3::interval
   AND c.first_added_at < $2::timestamptz - $3::interval
ON CONFLICT DO NOTHING
"""

# Adds whose wait for their contact's profile ended (they turn `unverified`): the wait runs
# from when the scorer stored the add (`seen_at`), not from its event time.
PROFILE_WAIT_ENDED_SQL = """
INSERT INTO score_dirty (employee_id, period)
SELECT r.employee_id, k
  FROM employee_contact r
  LEFT JOIN contact c USING (external_userid),
       LATERAL (SELECT r.first_added_at AT TIME ZONE $4 AS t) l,
       LATERAL unnest(ARRAY[to_char(l.t, 'YYYY-MM-DD'), to_char(l.t, 'IYYY-"W"IW'),
                            to_char(l.t, 'YYYY-MM'), to_char(l.t, 'YYYY-"Q"Q')]) AS k
 WHERE c.profile_found IS NULL
   AND r.seen_at >= $1::timestamptz - $3::interval
   AND r.seen_at < $2::timestamptz - $3::interval
ON CONFLICT DO NOTHING
"""

# How long a row's first mark settles before its recompute, by period kind (ScorerSettings).
# Day, week and month alike: the rows a batch marks for one employee are claimed in the same
# round, and their relations read once (`Refresher._compute`). 4 s, not 2: from the features a
# recompute is cheap, and with 2 s the refresh recomputed each busy row about every 4 s,
# taking the cores and PostgreSQL from the consumer (docs/performance.md).
DEFAULT_SETTLE: Mapping[PeriodKind, timedelta] = {
    PeriodKind.DAY: timedelta(seconds=4),
    PeriodKind.WEEK: timedelta(seconds=4),
    PeriodKind.MONTH: timedelta(seconds=4),
    PeriodKind.QUARTER: timedelta(seconds=10),
}

# Quota columns of open periods written again when older than this (pace moves with time).
QUOTA_RESYNC = timedelta(minutes=5)

# How far back the first sweep of a database looks for windows that ended.
FIRST_SWEEP = timedelta(days=40)

# Runs inside the refresh transaction with the new scores (closed-period revisions).
AfterScores = Callable[[Connection, list[dict[str, Any]]], Awaitable[None]]


def running_between(since: datetime, now: datetime, tz: ZoneInfo) -> list[Period]:
    """The periods whose working time elapsed between the last sweep (`since`, a day early:
    rows computed just before their period ended) and `now`: those containing a day of it.
    A row computed after its period ended is no longer moved by time, only by its inputs
    (and by windows ending, which the sweep marks by relation): a month that stays open for
    days before it is closed is not recomputed every five minutes meanwhile."""
    day, last = local_date(since - timedelta(days=1), tz), local_date(now, tz)
    found: dict[str, Period] = {}
    while day <= last:
        found.update((p.key, p) for p in periods_containing(day))
        day += timedelta(days=1)
    return [found[k] for k in sorted(found)]


def covers(periods: Sequence[Period]) -> dict[Period, list[Period]]:
    """The claimed periods of one employee, each under the longest of them that holds it:
    a day, its week, month and quarter are read once, over the quarter, and sliced; days
    that no longer period claimed for the employee holds are read each on its own (a drain
    claims scattered days: reading their whole month for each would read most of it in
    vain). In (cover, its periods) order of the longest first."""
    found: dict[Period, list[Period]] = {}
    for p in sorted(periods, key=lambda p: (p.start - p.end, p.start, p.key)):
        cover = next((c for c in found if c.start <= p.start and p.end <= c.end), None)
        found.setdefault(p if cover is None else cover, []).append(p)
    return found


@dataclass(frozen=True)
class Chunk:
    """Employees whose relations a refresh round reads at once, over `span` (a period claimed
    for each of them: `covers`), and for each period inside it those claimed in it."""

    span: Period
    employees: list[str]
    periods: list[tuple[Period, list[str]]]


@dataclass
class Round:
    """A refresh round's computation: scores by period (a period absent: not computed), the
    periods whose contact data was purged, and the erasure generation seen before any read."""

    scores: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    purged: set[str] = field(default_factory=set)
    seen: int = 0


class Refresher:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        scorer: Scorer,
        after: AfterScores | None = None,
        batch: int = 2_000,
        settle: Mapping[PeriodKind, timedelta] | timedelta = DEFAULT_SETTLE,
        parallel: int = 2,
        lease: timedelta = timedelta(seconds=30),
        rest: Rest | None = None,
    ) -> None:
        self._pool = pool
        self._rest = rest
        self._scorer = scorer
        self._after = after
        # Rows per round: a round's recomputation shares the event loop and the cores with
        # the consumer, and the consumer is looked at again between rounds (`run_forever`).
        self._batch = batch
        self._parallel = parallel
        # A row marked moments ago is likely to be marked again by the next batch: letting it
        # settle recomputes it once instead of once per batch (CLAIM_SQL).
        kinds = settle if isinstance(settle, Mapping) else dict.fromkeys(PeriodKind, settle)
        self._settle = [kinds.get(k, DEFAULT_SETTLE[k]) for k in PeriodKind]
        self._lease = lease

    async def run_once(self) -> int:
        """Claim up to `batch` dirty rows and recompute them: the relations and chat traces of
        employees claimed in nested periods are read once over the longest of them (a day,
        its week, month and quarter hold the same adds: `covers`), `parallel` chunks at a time
        so that PostgreSQL works while Python computes; then each period's scores are stored
        in a transaction of its own (scores, revisions and the clearing of its claims
        together)."""
        started = time.perf_counter()
        now = self._scorer.clock()
        async with self._pool().acquire() as conn:
            async with conn.transaction():  # short: claim and commit
                taken = await conn.fetch(CLAIM_SQL, self._batch, self._lease, *self._settle)
            if not taken:
                return 0
            closed = {
                r["period"]
                for r in await conn.fetch(
                    "SELECT period FROM period_close WHERE period = ANY($1::text[])",
                    sorted({r["period"] for r in taken}),
                )
            }
        by_period: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for r in taken:
            by_period[r["period"]].append(r)
        gate = asyncio.Semaphore(self._parallel)
        outcomes: list[Any] = []
        try:
            computed = await self._compute(by_period, now, closed, gate)
        except BaseException as exc:
            await self._release(taken)
            if not isinstance(exc, Exception):
                raise
            outcomes.append(exc)
        else:

            async def one(key: str, rows: list[asyncpg.Record]) -> None:
                async with gate:
                    await self._store_period(key, rows, computed, now, key in closed)

            outcomes = await asyncio.gather(
                *(one(k, rows) for k, rows in sorted(by_period.items())), return_exceptions=True
            )
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        REFRESHED.inc(len(taken))
        # against marked_at, which PostgreSQL's clock wrote: the machine's clock on both sides
        scored_at = system_clock()
        for r in taken:
            STATE_TO_SCORE.observe(max(0.0, (scored_at - r["marked_at"]).total_seconds()))
        REFRESH_SECONDS.observe(time.perf_counter() - started)
        if failed:
            raise failed[0]
        return len(taken)

    async def _release(self, taken: list[asyncpg.Record]) -> None:
        with contextlib.suppress(Exception):
            async with self._pool().acquire() as conn:
                await conn.execute(
                    RELEASE_SQL,
                    [r["employee_id"] for r in taken],
                    [r["period"] for r in taken],
                    [r["claimed_at"] for r in taken],
                )

    async def _compute(
        self,
        by_period: Mapping[str, list[asyncpg.Record]],
        now: datetime,
        closed: set[str],
        gate: asyncio.Semaphore,
    ) -> Round:
        """The round's scores by period. Employees are grouped by the claimed periods that
        cover others claimed for them (`covers`); a group's relations and chat traces are read
        once, over its covering period, a chunk of employees at a time, each chunk in a
        snapshot of its own that ends before its scores are computed (no read snapshot stays
        open while Python computes, so PostgreSQL prunes the row versions the batches leave
        behind as they go)."""
        scorer = self._scorer
        parsed: dict[str, Period] = {}
        for key in by_period:
            with contextlib.suppress(ValueError):
                parsed[key] = parse_period(key)
        found = Round()
        async with (
            self._pool().acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            found.seen = await governance.generation(conn)
            found.purged = {
                r[0]
                for r in await conn.fetch(
                    "SELECT period FROM purged_period WHERE period = ANY($1::text[])",
                    sorted(parsed),
                )
            }
            claimed: dict[str, list[str]] = defaultdict(list)
            for key in sorted(parsed):
                if key not in found.purged:
                    for r in by_period[key]:
                        claimed[r["employee_id"]].append(key)
            # grouped by the claimed period that covers others claimed for them (`covers`):
            # the groups are few however each employee's claims differ
            groups: dict[Period, dict[str, list[Period]]] = defaultdict(dict)
            for employee, keys in sorted(claimed.items()):
                for cover, inside in covers([parsed[k] for k in keys]).items():
                    groups[cover][employee] = inside
            work: list[Chunk] = []
            for cover, members in sorted(groups.items(), key=lambda g: g[0].key):
                periods = sorted(
                    {p for inside in members.values() for p in inside}, key=lambda p: p.key
                )
                for chunk in await scorer.chunks(conn, cover, list(members)):
                    asked = [(p, [e for e in chunk if p in members[e]]) for p in periods]
                    work.append(Chunk(cover, chunk, [(p, i) for p, i in asked if i]))
        found.scores = {k: [] for k in parsed if k not in found.purged}
        banks: dict[str, BankFigures] = {}
        reading: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

        async def bank_of(conn: Connection, period: Period) -> BankFigures:
            """The period's bank-wide figures, read once for the round (a second chunk that
            needs them waits for the first)."""
            async with reading[period.key]:
                if period.key not in banks:
                    fresh = period.key in closed
                    banks[period.key] = BankFigures(
                        await scorer.baseline(conn, period, now, fresh=fresh),
                        await scorer.blocks(conn, period, fresh=fresh),
                    )
            return banks[period.key]

        async def one(work: Chunk) -> None:
            async with gate:
                reads: list[ChunkInputs] = []
                shared: SpanReads | None = None
                async with (
                    self._pool().acquire() as conn,
                    conn.transaction(isolation="repeatable_read", readonly=True),
                ):
                    spanned = len(work.periods) > 1
                    for period, ids in work.periods:
                        bank = await bank_of(conn, period)
                        read = await scorer.read_chunk(
                            conn,
                            period,
                            ids,
                            now,
                            period.key in closed,
                            bank,
                            from_span=spanned,
                            # its store reads the counters as they stand then (store_open,
                            # store_current): not in this snapshot too
                            counters=False,
                        )
                        if read is not None:
                            reads.append(read)
                    if spanned:
                        # the relations of those whose features alone do not give their anomaly
                        # in one of the periods
                        assessed = sorted({e for read in reads for e in read.assessed})
                        shared = await scorer.read_span(conn, work.span, assessed)
                # the snapshot and the connection are let go: from here on, Python computes
                judged = None if shared is None else scorer.judge_span(shared, now)
                del shared
                for read in reads:
                    found.scores[read.period.key] += await scorer.score_chunk(read, judged)

        async with asyncio.TaskGroup() as group:  # a failure cancels the other chunks
            for w in work:
                group.create_task(one(w))
        return found

    async def _store_period(
        self,
        key: str,
        taken: list[asyncpg.Record],
        found: Round,
        now: datetime,
        closed: bool,
    ) -> None:
        """Store the period's scores and clear its claims in one transaction."""
        keys = (
            [r["employee_id"] for r in taken],
            [r["period"] for r in taken],
            [r["claimed_at"] for r in taken],
        )
        async with self._pool().acquire() as conn:
            try:
                # An employee without an org record yet (it travels on another partition, maybe
                # through another instance, and may be committed after this snapshot) gets no
                # score: its rows stay dirty and are tried again shortly, not cleared. A period
                # whose contact data was purged keeps its rows as they stood: cleared, unstored.
                computed = key in found.scores
                scores = found.scores.get(key, [])
                scored = {sc["employee_id"] for sc in scores} if computed else None
                done = [i for i, e in enumerate(keys[0]) if scored is None or e in scored]
                later = [i for i, e in enumerate(keys[0]) if scored is not None and e not in scored]
                async with conn.transaction():
                    # a contact erased (or data purged) since the snapshot: these scores may
                    # still quote it; computed again next round
                    await governance.hold_shared(conn)
                    if computed and await governance.generation(conn) != found.seen:
                        await conn.execute(RELEASE_SQL, *keys)
                        return
                    if not computed:
                        pass
                    elif closed:
                        await store_current(conn, self._scorer, key, scores, now, closed)
                    elif not await store_open(conn, self._scorer, key, scores):
                        await conn.execute(RELEASE_SQL, *keys)  # closed since the claim
                        return
                    if self._after is not None and computed:
                        await self._after(conn, scores)
                    if later:
                        await conn.fetchval(LOCK_CLAIMS_SQL, keys[0], keys[1])
                    await conn.execute(CLEAR_SQL, *([k[i] for i in done] for k in keys))
                    if later:
                        await conn.execute(DEFER_SQL, *([k[i] for i in later] for k in keys))
            except BaseException:  # a failure, or a shutdown (cancelled) mid-round
                with contextlib.suppress(Exception):
                    await conn.execute(RELEASE_SQL, *keys)
                raise

    async def sweep(self) -> None:
        """Mark what time has changed: relations whose retention or engagement window, or
        whose wait for a profile, ended since the last sweep, and every row of a still-open
        period (pace and projection move with working time). The last sweep's time is kept in
        the database (`refresh_sweep`), locked while sweeping: instances sweep one after the
        other, each from where the last one stopped, and a restart (or a scorer down for days)
        goes on from there. The first sweep of a database goes FIRST_SWEEP back."""
        now = self._scorer.clock()
        rules = self._scorer.rules
        tz = self._scorer.calendar.tz.key
        windows = sorted({rules.retention_days, rules.engagement_days, rules.long_retention_days})
        async with self._pool().acquire() as conn, conn.transaction():
            last = await conn.fetchval("SELECT swept_at FROM refresh_sweep FOR UPDATE")
            since = last if last is not None else now - FIRST_SWEEP
            for days in windows:
                await conn.execute(WINDOW_ENDED_SQL, since, now, timedelta(days=days), tz)
            await conn.execute(PROFILE_WAIT_ENDED_SQL, since, now, rules.profile_wait, tz)
            running = running_between(since, now, self._scorer.calendar.tz)
            await conn.execute(
                """INSERT INTO score_dirty (employee_id, period)
                   SELECT employee_id, s.period FROM employee_period_score s
                     JOIN unnest($2::text[], $3::timestamptz[]) AS r(period, ends)
                       ON r.period = s.period
                    WHERE NOT EXISTS (SELECT 1 FROM period_close c WHERE c.period = s.period)
                      AND NOT EXISTS (SELECT 1 FROM purged_period p WHERE p.period = s.period)
                      AND s.computed_at < $1::timestamptz - interval '5 minutes'
                      AND s.computed_at < r.ends
                   ON CONFLICT DO NOTHING""",
                now,
                [p.key for p in running],
                [p.end_at(self._scorer.calendar.tz) for p in running],
            )
            await conn.execute(
                """INSERT INTO refresh_sweep (swept_at) VALUES ($1)
                   ON CONFLICT (only_row) DO UPDATE
                      SET swept_at = GREATEST(refresh_sweep.swept_at, EXCLUDED.swept_at)""",
                now,
            )
        async with self._pool().acquire() as conn:
            await tally.resync_stale(conn, self._scorer, now - QUOTA_RESYNC, now, running=running)

    async def run_forever(
        self,
        interval: float = 0.1,
        sweep_every: float = 60.0,
        catching_up: Callable[[], bool] = lambda: False,
        max_hold: float = 10.0,
        closing: Callable[[], bool] = lambda: False,
    ) -> None:
        """While the consumer is catching up on a backlog (`catching_up`), scores would be
        recomputed only to be marked dirty again by the next batch: hold the refresh, for at
        most `max_hold` seconds at a time, so that a backlog is applied first and each row is
        recomputed about once. While a period closes (`closing`: it recomputes every employee
        of the period itself), the refresh waits between rounds: on two cores they would
        halve each other's speed, and the close has a deadline."""
        last_sweep = last_rest = 0.0
        last_round = time.monotonic()
        while True:
            try:
                if closing() or (catching_up() and time.monotonic() - last_round < max_hold):
                    await asyncio.sleep(interval)
                    continue
                if time.monotonic() - last_sweep > sweep_every:
                    await self.sweep()
                    last_sweep = time.monotonic()
                if self._rest is not None and time.monotonic() - last_rest > 1.0:
                    await self._rest.run_once()  # inputs quiet: every open row once more
                    last_rest = time.monotonic()
                # round after round while there is work, but back to the hold above as soon
                # as the consumer falls behind: the quota figures it keeps come first
                while not closing() and await self.run_once() and not catching_up():
                    pass
            except Exception:
                log.exception("score refresh failed; retrying")
            last_round = time.monotonic()
            await asyncio.sleep(interval)
