"""Who writes a score row's quota columns, on real PostgreSQL, and what the read API shows.

- a batch moves the counters (tally.py); the read API computes an open period's quota figures
  from them at once; the row's copy of a key the batch marked dirty is the refresh's to write;
- the refresh writes the counters as they stand when it stores the row, never a version older
  than the row holds;
- a target or an org record changes the quota columns in its own batch;
- pace and status move with working time: the sweep writes again the rows no batch touched;
- a refresh whose period was closed after its claim stores nothing (the close has the row)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from services.scorer import repository, tally
from services.scorer.api import current
from services.scorer.pipeline import ScoringPipeline
from services.scorer.refresh import Refresher
from services.scorer.scoring import Scorer, store_open
from shared.calendar import parse_period
from shared.clock import ManualClock
from tests import factories as f
from tests.infra import Infra
from tests.integration.test_quota_tally import START, as_consumed, scoring

pytestmark = pytest.mark.integration

MONTH = "2026-09"


async def nowhere(raw: Any, reason: str) -> None:
    raise AssertionError(f"dead letter: {reason}")


async def row(pool: Any, employee_id: str = "e1", period: str = MONTH) -> Any:
    return await pool.fetchrow(
        "SELECT * FROM employee_period_score WHERE employee_id = $1 AND period = $2",
        employee_id,
        period,
    )


async def snapshot_scores(pool: Any, scorer: Scorer, clock: ManualClock) -> list[dict[str, Any]]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        return await scorer.compute(conn, parse_period(MONTH), ["e1"], clock(), False)


async def test_the_refresh_writes_the_counters_as_they_stand_never_older_ones(
    infra: Infra,
) -> None:
    clock = ManualClock(START)
    records = as_consumed(
        [f.employee("e1"), f.add("e1", "wm-1", START), f.add("e1", "wm-2", START)]
    )
    async with scoring(infra, clock) as (pool, scorer):
        pipeline = ScoringPipeline(lambda: pool, "g", scorer, nowhere)
        await pipeline.handle(records[:2])
        scores = await snapshot_scores(pool, scorer, clock)  # sees one add
        assert scores[0]["gross_adds"] == 1
        await pipeline.handle(records[2:])  # commits after the snapshot
        # the batch leaves the row of a key it marked dirty to the refresh; the API reads
        # the counters (test_the_read_api_shows_the_counters_before_the_refresh)
        assert (await row(pool))["gross_adds"] == 1
        async with pool.acquire() as conn, conn.transaction():
            assert await store_open(conn, scorer, MONTH, scores)
        stored = await row(pool)
        assert (stored["gross_adds"], stored["first_adds"]) == (2, 2)  # read when stored
        assert stored["anomaly_score"] == scores[0]["anomaly_score"]  # the refresh's own
        version = await pool.fetchval(
            "SELECT version FROM quota_counter WHERE employee_id = 'e1' AND period = $1", MONTH
        )
        assert stored["quota_version"] == version
        # a row written from a newer version than a store's read keeps its figures
        await pool.execute(
            "UPDATE employee_period_score SET gross_adds = 7, quota_version = $2"
            " WHERE employee_id = 'e1' AND period = $1",
            MONTH,
            version + 1,
        )
        scores[0]["anomaly_score"] = 12.5
        async with pool.acquire() as conn, conn.transaction():
            assert await store_open(conn, scorer, MONTH, scores)
        stored = await row(pool)
        assert (stored["gross_adds"], stored["quota_version"]) == (7, version + 1)
        assert stored["anomaly_score"] == 12.5


async def test_the_read_api_shows_the_counters_before_the_refresh(infra: Infra) -> None:
    clock = ManualClock(START)
    records = as_consumed(
        [
            f.employee("e1"),
            f.target("employee", "e1", MONTH, 4),
            f.add("e1", "wm-1", START),
            f.add("e1", "wm-2", START),
        ]
    )
    async with scoring(infra, clock) as (pool, scorer):
        pipeline = ScoringPipeline(lambda: pool, "g", scorer, nowhere)
        await pipeline.handle(records[:3])
        async with pool.acquire() as conn, conn.transaction():
            assert await store_open(conn, scorer, MONTH, await snapshot_scores(pool, scorer, clock))
        await pipeline.handle(records[3:])  # no refresh after this batch
        period = parse_period(MONTH)
        async with pool.acquire() as conn:
            found = await repository.read_scores(conn, MONTH)
            assert found[0]["gross_adds"] == 1  # the row's copy waits for the refresh
            shown = await current(conn, scorer, period, found, closed=False)
            assert (shown[0]["gross_adds"], shown[0]["first_adds"]) == (2, 2)
            fields = await tally.quota_fields(conn, scorer, MONTH, {"e1": 4}, clock(), False)
            assert {k: shown[0][k] for k in fields["e1"]} == fields["e1"]
            # a closed period's rows are its figures
            assert (await current(conn, scorer, period, found, closed=True))[0]["gross_adds"] == 1


async def test_a_row_the_refresh_creates_gets_the_snapshot_figures(infra: Infra) -> None:
    clock = ManualClock(START)
    records = as_consumed([f.employee("e1"), f.add("e1", "wm-1", START)])
    async with scoring(infra, clock) as (pool, scorer):
        await ScoringPipeline(lambda: pool, "g", scorer, nowhere).handle(records)
        await pool.execute("DELETE FROM employee_period_score")
        scores = await snapshot_scores(pool, scorer, clock)
        async with pool.acquire() as conn, conn.transaction():
            assert await store_open(conn, scorer, MONTH, scores)
        stored = await row(pool)
        assert (stored["gross_adds"], stored["first_adds"]) == (1, 1)
        assert stored["quota_at"] == clock()


async def test_a_target_changes_the_quota_columns_in_its_own_batch(infra: Infra) -> None:
    clock = ManualClock(START)
    records = as_consumed(
        [
            f.employee("e1"),
            f.add("e1", "wm-1", START),
            f.profile("wm-1"),
            f.target("employee", "e1", MONTH, 40),
        ]
    )
    async with scoring(infra, clock) as (pool, scorer):
        pipeline = ScoringPipeline(lambda: pool, "g", scorer, nowhere)
        await pipeline.handle(records[:3])
        assert (await row(pool))["target"] is None
        await pipeline.handle(records[3:])  # no refresh runs in this test
        stored = await row(pool)
        assert stored["target"] == 40
        assert stored["status"] == "behind"  # 1 of 40 with most of September gone


async def test_the_sweep_moves_pace_with_working_time(infra: Infra) -> None:
    clock = ManualClock(START)
    records = as_consumed(
        [f.employee("e1"), f.target("employee", "e1", MONTH, 2), f.add("e1", "wm-1", START)]
    )
    async with scoring(infra, clock) as (pool, scorer):
        await ScoringPipeline(lambda: pool, "g", scorer, nowhere).handle(records)
        before = await row(pool)
        assert before["quota_at"] == START
        clock.advance(timedelta(days=2))  # a working day and more gone, nothing added
        refresher = Refresher(lambda: pool, scorer)
        await refresher.sweep()
        after = await row(pool)
        assert after["quota_at"] == clock()
        async with pool.acquire() as conn:
            now_fields = await tally.quota_fields(conn, scorer, MONTH, {"e1": 2}, clock(), False)
        assert after["pace"] == now_fields["e1"]["pace"]
        assert after["pace"] < before["pace"]
        assert (await row(pool, period="2026-Q3"))["quota_at"] == clock()


async def test_a_refresh_of_a_period_closed_since_its_claim_stores_nothing(infra: Infra) -> None:
    clock = ManualClock(START)
    records = as_consumed([f.employee("e1"), f.add("e1", "wm-1", START)])
    async with scoring(infra, clock) as (pool, scorer):
        await ScoringPipeline(lambda: pool, "g", scorer, nowhere).handle(records)
        scores = await snapshot_scores(pool, scorer, clock)
        scores[0]["quality_score"] = -1.0
        await pool.execute("INSERT INTO period_close (period, closed_by) VALUES ($1, 't')", MONTH)
        async with pool.acquire() as conn, conn.transaction():
            assert not await store_open(conn, scorer, MONTH, scores)
        assert (await row(pool))["quality_score"] != -1.0


async def test_a_refresh_and_a_batch_writing_the_same_rows_do_not_deadlock(infra: Infra) -> None:
    """Both lock score rows in key order, whatever order they computed them in: the refresh's
    rows come in claim order, the batch's org rows in whatever order a join returns them."""
    clock = ManualClock(START)
    records = as_consumed(
        [f.employee("e1"), f.employee("e2"), f.add("e1", "wm-1", START), f.add("e2", "wm-2", START)]
    )
    async with scoring(infra, clock) as (pool, scorer):
        await ScoringPipeline(lambda: pool, "g", scorer, nowhere).handle(records)
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            scores = await scorer.compute(conn, parse_period(MONTH), ["e1", "e2"], clock(), False)
        async with pool.acquire() as batch, pool.acquire() as refresh:
            async with batch.transaction():
                # the batch has e1's row; the refresh then stores e2's and e1's
                await batch.execute(
                    "SELECT 1 FROM employee_period_score WHERE period = $1 AND employee_id = 'e1'"
                    " FOR UPDATE",
                    MONTH,
                )

                async def store() -> bool:
                    async with refresh.transaction():
                        return await store_open(refresh, scorer, MONTH, scores[::-1])

                storing = asyncio.create_task(store())
                pid = refresh.get_server_pid()
                for _ in range(100):  # until the refresh waits for e1's row
                    waiting = await batch.fetchval(
                        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                        pid,
                    )
                    if waiting:
                        break
                    await asyncio.sleep(0.05)
                assert waiting
                # the batch writes both rows: e2's must not be held by the waiting refresh
                await tally.sync_scores(batch, scorer, [("e2", MONTH), ("e1", MONTH)], clock())
            assert await asyncio.wait_for(storing, 30)


async def test_the_sweep_leaves_a_period_that_ended_before_its_rows_were_computed(
    infra: Infra,
) -> None:
    """Time moves a row only while its period runs: once recomputed after the period's end,
    a month left open for days before its close is not recomputed every five minutes."""
    clock = ManualClock(START)
    records = as_consumed(
        [f.employee("e1"), f.target("employee", "e1", MONTH, 2), f.add("e1", "wm-1", START)]
    )
    async with scoring(infra, clock) as (pool, scorer):
        await ScoringPipeline(lambda: pool, "g", scorer, nowhere).handle(records)
        refresher = Refresher(lambda: pool, scorer, settle=timedelta(0))
        month_end = parse_period(MONTH).end_at(scorer.calendar.tz)
        clock.advance(month_end - clock() + timedelta(days=1))  # the month has ended
        await refresher.sweep()  # written before the end: once more, as of now
        assert (await row(pool))["quota_at"] == clock()
        while await refresher.run_once():  # every marked row recomputed after the end
            pass
        assert (await row(pool))["computed_at"] == clock()
        written = clock()
        clock.advance(timedelta(minutes=10))
        await refresher.sweep()
        assert (await row(pool))["quota_at"] == written
        marked = await pool.fetch("SELECT period FROM score_dirty WHERE employee_id = 'e1'")
        assert MONTH not in {r["period"] for r in marked}


async def test_the_sweep_writes_every_stale_row_once_a_chunk_after_another(infra: Infra) -> None:
    clock = ManualClock(START)
    staff = [f"e{i}" for i in range(1, 6)]
    records = as_consumed(
        [
            *(f.employee(e) for e in staff),
            *(f.add(e, f"wm-{e}", START) for e in staff),
            f.add("nobody", "wm-x", START),  # no org record: its rows are left, not stuck on
        ]
    )
    async with scoring(infra, clock) as (pool, scorer):
        await ScoringPipeline(lambda: pool, "g", scorer, nowhere).handle(records)
        clock.advance(timedelta(days=2))
        async with pool.acquire() as conn:
            written = await tally.resync_stale(conn, scorer, clock(), clock(), chunk=2)
        rows = await pool.fetch("SELECT employee_id, quota_at FROM employee_period_score")
        assert {r["employee_id"] for r in rows} == set(staff)
        assert written == len(rows) == 4 * len(staff)  # day, week, month, quarter each
        assert all(r["quota_at"] == clock() for r in rows)
