"""Scores brought to rest: the same inputs give the same figures, however they were applied.

While records arrive, a score is computed from the inputs of its moment, and the bank-wide
figures it is judged against (the peers' baseline, the dense blocks: bankwide.py) are reused
for a while rather than recomputed for every batch. So an employee's anomaly score depends on
when it was last computed: on the order records came in, how they were batched, and how many
scorer instances shared the work. Quota and quality counters do not (they are kept by deltas).

Once the inputs stop changing — the inputs' version (below) has not moved for `quiet` seconds —
one instance brings the scores to rest: it records the version as `at_rest`, which makes every
bank-wide figure computed from older inputs unusable (bankwide.py computes them afresh), and
marks every row of every open period to be recomputed. When those rows are done, every figure
is a function of the inputs alone: identical after any order, batch split, rebalance, restart
or replay, with one instance or several (`settled` tells a caller when that point is reached).

The inputs' version is the sum of the scorer group's stored offsets, plus `overrides` (moved on
by every reviewer verdict and campaign), plus the governance generation (erasures and purges):
every change of what scores are computed from makes it grow. The clock is an input too: a
retention window that ends changes scores without changing the version; the sweep (refresh.py)
marks those rows."""

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

VERSION_SQL = """
SELECT coalesce((SELECT sum(next_offset) FROM consumer_offset WHERE consumer_group = $1), 0)::bigint
     + (SELECT overrides FROM scoring_inputs)
     + coalesce((SELECT generation FROM contact_governance), 0)
"""
# Every open (not closed, not purged) row: recomputed once more. A row claimed by a round in
# flight is marked again (that round may have read older inputs), as a batch marks it.
MARK_OPEN_SQL = """
INSERT INTO score_dirty (employee_id, period)
SELECT s.employee_id, s.period FROM employee_period_score s
 WHERE NOT EXISTS (SELECT 1 FROM period_close c WHERE c.period = s.period)
   AND NOT EXISTS (SELECT 1 FROM purged_period p WHERE p.period = s.period)
ON CONFLICT (employee_id, period) DO UPDATE SET marked_at = clock_timestamp()
 WHERE (score_dirty.claimed_at IS NOT NULL AND score_dirty.marked_at <= score_dirty.claimed_at)
    OR score_dirty.marked_at > clock_timestamp()
"""
OVERRIDE_SQL = "UPDATE scoring_inputs SET overrides = overrides + 1"


async def inputs_version(conn: Connection, group: str) -> int:
    return int(await conn.fetchval(VERSION_SQL, group))


async def overridden(conn: Connection) -> None:
    """A reviewer changed what scores are computed from (a verdict, a campaign): in the
    caller's transaction."""
    await conn.execute(OVERRIDE_SQL)


async def settled(conn: Connection, group: str) -> bool:
    """The scores are at rest for the current inputs and every row is recomputed: figures
    are now a function of the inputs alone."""
    at_rest = await conn.fetchval("SELECT at_rest FROM scoring_inputs")
    if at_rest != await inputs_version(conn, group):
        return False
    return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM score_dirty)")


class Rest:
    """Watches the inputs' version; brings the scores to rest once it is quiet."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        group: str,
        quiet_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._group = group
        self._quiet = quiet_seconds
        self._monotonic = monotonic
        self._seen: int | None = None
        self._seen_since = 0.0

    async def run_once(self) -> bool:
        """True when this call brought the scores to rest."""
        async with self._pool().acquire() as conn:
            version = await inputs_version(conn, self._group)
            at_rest = await conn.fetchval("SELECT at_rest FROM scoring_inputs")
        now = self._monotonic()
        if version != self._seen:
            self._seen, self._seen_since = version, now
            return False
        if version == at_rest or now - self._seen_since < self._quiet:
            return False
        async with self._pool().acquire() as conn, conn.transaction():
            # one instance at a time; the version read again under the lock
            at_rest = await conn.fetchval("SELECT at_rest FROM scoring_inputs FOR UPDATE")
            if at_rest == version or await inputs_version(conn, self._group) != version:
                return False
            await conn.execute(
                "UPDATE scoring_inputs SET at_rest = $1, at_rest_since = clock_timestamp()",
                version,
            )
            marked = await conn.execute(MARK_OPEN_SQL)
        AT_REST.inc()
        log.info(
            "inputs quiet for %.0f s: scores brought to rest at inputs version %d (%s rows "
            "marked; bank-wide figures computed afresh)",
            self._quiet,
            version,
            marked.rsplit(" ", 1)[-1],
        )
        return True
