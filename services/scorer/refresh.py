"""Keeping the materialised scores current.

The batch transaction marks (employee, period) pairs dirty; this worker takes them with
`FOR UPDATE SKIP LOCKED` (several scorer instances share the work), recomputes and stores the
scores in one transaction, so a crash leaves them dirty to be done again. Time alone also
changes scores (a retention window ends, a period's working time elapses): a periodic sweep
marks the relations whose windows closed since the last sweep, and the open periods' rows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter, Histogram

from services.scorer.scoring import Scorer, store_scores
from services.scorer.state import group_dirty
from shared.calendar import parse_period
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
    WHERE (claimed_at IS NULL OR marked_at > claimed_at
           OR claimed_at < clock_timestamp() - interval '5 minutes')
      AND marked_at < clock_timestamp() - $2::interval
    ORDER BY marked_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING employee_id, period, claimed_at, marked_at
"""
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
# After a failed recomputation: give the claims back rather than wait for them to expire.
RELEASE_SQL = """
UPDATE score_dirty d SET claimed_at = NULL
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

# Runs inside the refresh transaction with the new scores (closed-period revisions).
AfterScores = Callable[[Connection, list[dict[str, Any]]], Awaitable[None]]


class Refresher:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        scorer: Scorer,
        after: AfterScores | None = None,
        batch: int = 2000,
        settle: timedelta = timedelta(milliseconds=500),
    ) -> None:
        self._pool = pool
        self._scorer = scorer
        self._after = after
        self._batch = batch
        # A row marked moments ago is likely to be marked again by the next batch: letting it
        # settle briefly recomputes it once instead of once per batch.
        self._settle = settle
        self._last_sweep: datetime | None = None

    async def run_once(self) -> int:
        started = time.perf_counter()
        now = datetime.now(UTC)
        async with self._pool().acquire() as conn:
            async with conn.transaction():  # short: claim and commit
                taken = await conn.fetch(CLAIM_SQL, self._batch, self._settle)
            if not taken:
                return 0
            keys = (
                [r["employee_id"] for r in taken],
                [r["period"] for r in taken],
                [r["claimed_at"] for r in taken],
            )
            try:
                async with conn.transaction():
                    await self._recompute(conn, taken, now)
                    await conn.execute(CLEAR_SQL, *keys)
            except Exception:
                with contextlib.suppress(Exception):
                    await conn.execute(RELEASE_SQL, *keys)
                raise
        REFRESHED.inc(len(taken))
        scored_at = datetime.now(UTC)
        for r in taken:
            STATE_TO_SCORE.observe(max(0.0, (scored_at - r["marked_at"]).total_seconds()))
        REFRESH_SECONDS.observe(time.perf_counter() - started)
        return len(taken)

    async def _recompute(
        self, conn: Connection, taken: list[asyncpg.Record], now: datetime
    ) -> None:
        closed = {
            r["period"]
            for r in await conn.fetch(
                "SELECT period FROM period_close WHERE period = ANY($1::text[])",
                sorted({r["period"] for r in taken}),
            )
        }
        scores: list[dict[str, Any]] = []
        for key, ids in group_dirty((r["employee_id"], r["period"]) for r in taken).items():
            try:
                period = parse_period(key)
            except ValueError:
                continue
            scores += await self._scorer.compute(conn, period, ids, now, key in closed)
        await store_scores(conn, scores)
        if self._after is not None:
            await self._after(conn, scores)

    async def sweep(self) -> None:
        """Mark what time has changed: relations whose retention or engagement window ended
        since the last sweep, and every row of a still-open period (pace and projection move
        with working time)."""
        now = datetime.now(UTC)
        since = self._last_sweep or now - timedelta(days=40)
        rules = self._scorer.rules
        tz = self._scorer.calendar.tz.key
        windows = sorted({rules.retention_days, rules.engagement_days, rules.long_retention_days})
        async with self._pool().acquire() as conn, conn.transaction():
            for days in windows:
                await conn.execute(WINDOW_ENDED_SQL, since, now, timedelta(days=days), tz)
            await conn.execute(
                """INSERT INTO score_dirty (employee_id, period)
                   SELECT employee_id, period FROM employee_period_score s
                    WHERE NOT EXISTS (SELECT 1 FROM period_close c WHERE c.period = s.period)
                      AND s.computed_at < $1::timestamptz - interval '5 minutes'
                   ON CONFLICT DO NOTHING""",
                now,
            )
        self._last_sweep = now

    async def run_forever(self, interval: float = 0.5, sweep_every: float = 60.0) -> None:
        last_sweep = 0.0
        while True:
            try:
                if time.monotonic() - last_sweep > sweep_every:
                    await self.sweep()
                    last_sweep = time.monotonic()
                while await self.run_once():
                    pass
            except Exception:
                log.exception("score refresh failed; retrying")
            await asyncio.sleep(interval)
