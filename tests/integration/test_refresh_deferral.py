"""A row whose employee has no org record yet is deferred with a back-off; an input that
marks it while a round holds its claim (the employee record, committed after the round's
snapshot) makes it due at once, not after the back-off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from services.scorer import repository
from services.scorer.refresh import Refresher
from shared.clock import ManualClock
from shared.db import Connection
from tests import factories as f
from tests.infra import Infra
from tests.integration.test_quota_tally import as_consumed, feed, scoring

pytestmark = pytest.mark.integration

DAY = "2026-09-08"
ROWS = """
SELECT period, deferrals, marked_at <= clock_timestamp() AS due, claimed_at
  FROM score_dirty WHERE employee_id = 'e7' ORDER BY 1"""


@pytest.mark.parametrize("marked_meanwhile", [False, True])
async def test_a_row_marked_while_its_deferral_is_decided_stays_due(
    infra: Infra, marked_meanwhile: bool
) -> None:
    clock = ManualClock(f.at(DAY, 12))
    async with scoring(infra, clock) as (pool, scorer):
        records = [
            f.employee("e1"),
            f.add("e1", "wm-1", f.at(DAY, 9)),
            f.add("e7", "wm-2", f.at(DAY, 10)),  # e7: no employee record yet
        ]
        await feed(pool, scorer, clock, as_consumed(records), [])
        async with pool.acquire() as conn:
            periods = [r["period"] for r in await conn.fetch(ROWS)]
        assert len(periods) == 4

        database = await pool.fetchval("SELECT current_database()")
        marked: list[str] = []

        async def meanwhile(store: Connection, scores: list[dict[str, Any]]) -> None:
            # a batch commits while the round stores its first period: it marks e7's rows (its
            # employee record came), on a connection of its own
            if marked_meanwhile and not marked:
                marked.append(database)
                other = await asyncpg.connect(infra.app_dsn(database))
                try:
                    await repository.mark_dirty(other, {("e7", p) for p in periods})
                finally:
                    await other.close()

        # one period stored at a time: the mark comes before any of them is deferred
        refresher = Refresher(
            lambda: pool, scorer, after=meanwhile, settle=timedelta(0), parallel=1
        )
        assert await refresher.run_once() >= 4
        async with pool.acquire() as conn:
            rows = await conn.fetch(ROWS)
        assert [r["period"] for r in rows] == periods  # not scored: still dirty, unclaimed
        assert all(r["claimed_at"] is None for r in rows)
        # deferred either way (counted: `scorer_deferred_scores`), due at once when marked
        assert all(r["deferrals"] == 1 for r in rows), rows
        assert all(r["due"] == marked_meanwhile for r in rows), rows
