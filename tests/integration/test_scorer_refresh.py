"""The score refresh's time sweep and its hold, on real PostgreSQL:

- the last sweep's time is kept in the database: a restarted scorer marks only what time
  changed since then, not the last 40 days again (millions of rows at a bank's size), and a
  scorer that was down for days catches up on exactly those days;
- while a period closes, the refresh waits (the close recomputes every employee itself);
- while the consumer catches up on a backlog it waits too, and goes on once it is applied."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import pytest

from services.scorer.domain.rules import ScoringRules
from services.scorer.pipeline import CAUGHT_UP_AFTER, ScoringPipeline
from services.scorer.refresh import Refresher
from services.scorer.scoring import Scorer
from shared.calendar import BusinessCalendar
from shared.clock import Clock, ManualClock, system_clock
from shared.db import create_pool
from tests import factories as f
from tests.clocks import AS_OF
from tests.infra import Infra
from tests.integration.test_quota_columns import nowhere
from tests.integration.test_quota_tally import START, as_consumed

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(infra: Infra, database: str) -> AsyncIterator[asyncpg.Pool]:
    opened = await create_pool(infra.app_dsn(database), 2)
    yield opened
    await opened.close()


def refresher(pool: asyncpg.Pool, clock: Clock) -> Refresher:
    return Refresher(
        lambda: pool, Scorer(ScoringRules(), BusinessCalendar(), clock=clock, inputs_group="")
    )


async def add_relation(pool: asyncpg.Pool, employee: str, added: datetime) -> None:
    await pool.execute(
        """INSERT INTO employee_contact (employee_id, external_userid, first_added_at,
                                         last_added_at, add_count)
           VALUES ($1, $2, $3, $3, 1)""",
        employee,
        f"wm-{employee}",
        added,
    )


async def marked(pool: asyncpg.Pool) -> set[str]:
    rows = await pool.fetch("SELECT DISTINCT employee_id FROM score_dirty")
    return {r["employee_id"] for r in rows}


@pytest.mark.parametrize("as_of", AS_OF)
async def test_a_restart_sweeps_from_the_last_sweep_not_the_last_40_days(
    pool: asyncpg.Pool, as_of: datetime
) -> None:
    clock = ManualClock(as_of)
    now = clock()
    # e1's 7-day windows ended 13 days ago; e2's 30-day window ended a day ago
    await add_relation(pool, "e1", now - timedelta(days=20))
    await add_relation(pool, "e2", now - timedelta(days=31))
    await refresher(pool, clock).sweep()  # the database's first sweep looks 40 days back
    assert await marked(pool) == {"e1", "e2"}
    first = await pool.fetchval("SELECT swept_at FROM refresh_sweep")
    assert first == now

    await pool.execute("DELETE FROM score_dirty")  # scored
    clock.advance(timedelta(minutes=1))
    await refresher(pool, clock).sweep()  # a restarted scorer: nothing ended since the last sweep
    assert await marked(pool) == set()

    # the scorer was down for two days: the sweep after the restart covers exactly them
    await pool.execute("UPDATE refresh_sweep SET swept_at = swept_at - interval '2 days'")
    await refresher(pool, clock).sweep()
    assert await marked(pool) == {"e2"}  # its 30-day window ended during the downtime; e1's
    # windows ended before it (marked again only if sweeps went 40 days back each time)
    assert await pool.fetchval("SELECT swept_at FROM refresh_sweep") > first


async def test_the_refresh_waits_while_a_period_closes(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "INSERT INTO score_dirty (employee_id, period, marked_at) "
        "VALUES ('e1', '2026-09', now() - interval '1 minute')"
    )
    closing = True
    worker = asyncio.create_task(
        refresher(pool, system_clock).run_forever(interval=0.05, closing=lambda: closing)
    )
    try:
        await asyncio.sleep(1.0)
        untouched = "SELECT claimed_at IS NULL AND deferrals = 0 FROM score_dirty"
        assert await pool.fetchval(untouched)  # held: never claimed
        closing = False
        for _ in range(100):
            if not await pool.fetchval(untouched):  # claimed (and deferred: e1 has no org)
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the refresh did not resume after the close")
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


async def test_the_hold_ends_once_a_backlogs_last_full_batch_is_applied(
    pool: asyncpg.Pool,
) -> None:
    """The last batch of a backlog is full and no batch follows it: the refresh, held while
    the consumer catches up, must not stay held (it did, a round every 10 s, after a drain)."""
    clock, ticks = ManualClock(START), [0.0]
    scorer = Scorer(ScoringRules(), BusinessCalendar(), clock=clock, inputs_group="")
    pipeline = ScoringPipeline(
        lambda: pool, "g", scorer, nowhere, full_batch=4, monotonic=lambda: ticks[0]
    )
    await pipeline.handle(
        as_consumed([f.employee("e1"), f.add("e1", "wm-1", START)])  # half full: more may wait
    )
    assert pipeline.catching_up()
    ticks[0] += CAUGHT_UP_AFTER / 2
    assert pipeline.catching_up()  # the next batch may still come
    ticks[0] += CAUGHT_UP_AFTER
    assert not pipeline.catching_up()  # none came: the backlog is applied
    await pipeline.handle(as_consumed([f.add("e1", "wm-2", START)]))  # steady traffic
    assert not pipeline.catching_up()
