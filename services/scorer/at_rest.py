"""Scores brought to rest: the same inputs give the same figures, however they were applied.

While records arrive, a score is computed from the inputs of its moment, and the bank-wide
figures it is judged against (the peers' baseline, the dense blocks: bankwide.py) are reused
for a while rather than recomputed for every batch. So an employee's anomaly score depends on
when it was last computed: on the order records came in, how they were batched, and how many
scorer instances shared the work. Quota and quality counters do not (they are kept by deltas).

Once the inputs stop changing — their version (below) has not moved for `quiet` seconds, and
the last pass ended at least `min_interval` seconds ago — one instance brings the scores to
rest, in three steps, each its own short transaction:

1. it moves the version on by one and records it as `at_rest`: from then on a bank-wide figure
   of an open period computed before (even from the same inputs, while they were quiet) is not
   reused (bankwide.py computes it afresh);
2. it marks every row of every open period to be recomputed, a period at a time, in key order
   (as batches lock rows), so no long transaction holds the batches up;
3. it records the version as `rested`: the pass is complete. A pass cut short (a crash, or
   an input arriving meanwhile) leaves `rested` behind and is done again.

When those rows are recomputed, every figure is a function of the inputs and of the clock
reading alone: identical after any order, batch split, rebalance or restart, with one instance
or several (`settled` tells a caller when that point is reached).

The inputs' version is the sum of the scorer group's stored offsets, plus `changes` (moved on
by every reviewer verdict and campaign, every batch of due timers, every rebuild under new
rules and every rest), plus the governance generation (erasures and purges). Time passing
changes scores too (pace, a window that ends before its timer runs): the sweep (refresh.py)
marks those rows.

Cost: a pass recomputes every open row once, as the sweep does every five minutes for rows
not recomputed since; `min_interval` (5 minutes by default) bounds how often a trickle of
records that leaves quiet gaps can ask for it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import asyncpg
from prometheus_client import Counter

from shared.db import Connection

log = logging.getLogger(__name__)
AT_REST = Counter(
    "scorer_scores_brought_to_rest_total",
    "Times the inputs stopped changing and every open score was recomputed from them "
    "(and the bank-wide figures afresh), so that figures depend on the inputs alone",
)


VERSION_EXPR = """(coalesce((SELECT sum(next_offset) FROM consumer_offset
                           WHERE consumer_group = $GROUP), 0)::bigint
      + (SELECT changes FROM scoring_inputs)
      + coalesce((SELECT generation FROM contact_governance), 0))"""
"""The inputs' version as an SQL expression; `$GROUP` names the consumer group's parameter."""
VERSION_SQL = "SELECT " + VERSION_EXPR.replace("$GROUP", "$1")
OPEN_PERIODS_SQL = """
SELECT DISTINCT s.period FROM employee_period_score s
 WHERE NOT EXISTS (SELECT 1 FROM period_close c WHERE c.period = s.period)
   AND NOT EXISTS (SELECT 1 FROM purged_period p WHERE p.period = s.period)
 ORDER BY 1
"""
# The open periods' rows of a slice of employees, recomputed once more, marked (and locked)
# in key order: an employee's rows one after the other, so that a refresh round claims all of
# an employee's periods together and reads its relations once for them (refresh.covers). A row
# claimed by a round in flight is marked again (that round may have read older inputs), as a
# batch marks it.
MARK_SLICE_SQL = """
INSERT INTO score_dirty (employee_id, period)
SELECT s.employee_id, s.period FROM employee_period_score s
 WHERE s.period = ANY($1::text[]) AND s.employee_id >= $2 AND s.employee_id <= $3
 ORDER BY s.employee_id, s.period
ON CONFLICT (employee_id, period) DO UPDATE SET marked_at = clock_timestamp()
 WHERE (score_dirty.claimed_at IS NOT NULL AND score_dirty.marked_at <= score_dirty.claimed_at)
    OR score_dirty.marked_at > clock_timestamp()
"""
EMPLOYEES_SQL = """
SELECT DISTINCT employee_id FROM employee_period_score WHERE period = ANY($1::text[]) ORDER BY 1
"""
SLICE_EMPLOYEES = 1_000
"""Employees whose open rows are marked in one transaction."""
STATE_SQL = """
SELECT at_rest, rested,
       extract(epoch FROM clock_timestamp() - rested_at)::float8 AS since_rested
  FROM scoring_inputs
"""


async def inputs_version(conn: Connection, group: str) -> int:
    return int(await conn.fetchval(VERSION_SQL, group))


async def inputs_changed(conn: Connection) -> None:
    """Something the scores are computed from changed outside the consumed records (a
    verdict, a campaign, due timers, a rebuild; a rest, which starts afresh): in the caller's
    transaction, last (the row is locked until it commits)."""
    await conn.execute("UPDATE scoring_inputs SET changes = changes + 1")


async def settled(conn: Connection, group: str) -> bool:
    """The scores are at rest for the current inputs and every row is recomputed: figures
    are now a function of the inputs alone."""
    rested = await conn.fetchval("SELECT rested FROM scoring_inputs")
    if rested != await inputs_version(conn, group):
        return False
    return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM score_dirty)")


class Rest:
    """Watches the inputs' version; brings the scores to rest once it is quiet."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        group: str,
        quiet_seconds: float,
        min_interval_seconds: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._group = group
        self._quiet = quiet_seconds
        self._min_interval = min_interval_seconds
        self._monotonic = monotonic
        self._seen: int | None = None
        self._seen_since = 0.0

    async def run_once(self) -> bool:
        """True when this call brought the scores to rest."""
        async with self._pool().acquire() as conn:
            version = await inputs_version(conn, self._group)
            state = await conn.fetchrow(STATE_SQL)
        if state is None:  # no scoring_inputs row: a database without migration 0022
            return False
        now = self._monotonic()
        if version != self._seen:
            self._seen, self._seen_since = version, now
            return False
        if version == state["rested"] or now - self._seen_since < self._quiet:
            return False
        since = state["since_rested"]
        if since is not None and since < self._min_interval:
            return False
        async with self._pool().acquire() as conn:
            async with conn.transaction():  # 1: figures from other inputs no longer reused
                await conn.execute("SELECT 1 FROM scoring_inputs FOR UPDATE")
                if await inputs_version(conn, self._group) != version:
                    return False
                # the rest moves the version on itself: a figure computed from these same
                # inputs before the rest (reused while the inputs were quiet) is from an
                # older version, and computed afresh
                await inputs_changed(conn)
                version += 1
                await conn.execute("UPDATE scoring_inputs SET at_rest = $1", version)
            marked = 0
            periods = [r["period"] for r in await conn.fetch(OPEN_PERIODS_SQL)]
            ids = [r["employee_id"] for r in await conn.fetch(EMPLOYEES_SQL, periods)]
            for i in range(0, len(ids), SLICE_EMPLOYEES):
                last = ids[min(i + SLICE_EMPLOYEES, len(ids)) - 1]
                async with conn.transaction():  # 2: a slice of employees at a time
                    status = await conn.execute(MARK_SLICE_SQL, periods, ids[i], last)
                    marked += int(status.rsplit(" ", 1)[-1])
            async with conn.transaction():  # 3: complete, unless the inputs moved meanwhile
                await conn.execute("SELECT 1 FROM scoring_inputs FOR UPDATE")
                if await inputs_version(conn, self._group) != version:
                    return False
                await conn.execute(
                    """UPDATE scoring_inputs SET rested = $1, rested_at = clock_timestamp()
                        WHERE at_rest = $1""",
                    version,
                )
        AT_REST.inc()
        log.info(
            "inputs quiet for %.0f s: scores brought to rest at inputs version %d (%d rows "
            "marked; bank-wide figures computed afresh)",
            self._quiet,
            version,
            marked,
        )
        return True
