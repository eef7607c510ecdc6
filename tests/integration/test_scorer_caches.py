"""What the scorer keeps in memory between refresh rounds stays bounded (the soak, bench/soak.py,
checks the whole process; this checks the one cache keyed by something that keeps growing)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from services.scorer.domain.rules import ScoringRules
from services.scorer.scoring import Scorer
from shared.calendar import BusinessCalendar, parse_period
from shared.clock import ManualClock
from tests.infra import Infra


async def test_dense_blocks_are_kept_for_the_periods_still_being_scored(
    infra: Infra, database: str
) -> None:
    scorer = Scorer(
        ScoringRules(),
        BusinessCalendar(),
        block_interval_seconds=0.2,
        clock=ManualClock(datetime(2026, 9, 20, tzinfo=UTC)),
        inputs_group="",
    )
    conn = await asyncpg.connect(infra.app_dsn(database))
    try:
        await scorer.blocks(conn, parse_period("2026-09"))
        await scorer.blocks(conn, parse_period("2026-Q3"))
        held = scorer.bankwide.held
        assert held() == {("2026-09", "blocks"), ("2026-Q3", "blocks")}  # both fresh: both kept
        await asyncio.sleep(0.3)  # both older than the interval: never read again
        await scorer.blocks(conn, parse_period("2026-10"))
        assert held() == {("2026-10", "blocks")}
    finally:
        await conn.close()
