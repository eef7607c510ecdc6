"""Bank-wide figures shared by every scorer process through PostgreSQL, on real PostgreSQL: a
version one process stored is the one another process uses while it is usable (two scorer
instances judge against the same peers' baseline and dense blocks), an expired one is computed
again, a close computes afresh, and a process's own computation is stored with the refresh's
next write."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

from services.scorer.bankwide import encode_baseline, encode_blocks
from services.scorer.domain.anomaly import PeerBaseline
from services.scorer.domain.dense_block import DenseBlock
from services.scorer.domain.rules import ScoringRules
from services.scorer.scoring import Scorer
from shared.calendar import BusinessCalendar, parse_period
from shared.clock import ManualClock
from tests.infra import Infra

pytestmark = pytest.mark.integration

MONTH = parse_period("2026-09")
NOW = datetime(2026, 9, 20, tzinfo=UTC)
MARKED = PeerBaseline(median_first_adds=123.0)
RING = DenseBlock(("e1", "e2", "e3"), ("wm-1", "wm-2"), 2.4, 1.5, 6)


def scorer(block_interval: float = 30.0) -> Scorer:
    """A scorer process's own figures: a new Scorer has none in memory."""
    return Scorer(
        ScoringRules(),
        BusinessCalendar(),
        block_interval_seconds=block_interval,
        clock=ManualClock(NOW),
    )


async def stored(
    conn: asyncpg.Connection, kind: str, value: object, seconds: float, age: float
) -> None:
    await conn.execute(
        """INSERT INTO period_aggregate (period, kind, value, seconds, stored_at)
           VALUES ($1, $2, $3::jsonb, $4, clock_timestamp() - make_interval(secs => $5))
           ON CONFLICT (period, kind) DO UPDATE SET value = EXCLUDED.value,
                  seconds = EXCLUDED.seconds, stored_at = EXCLUDED.stored_at""",
        MONTH.key,
        kind,
        orjson.dumps(value).decode(),
        seconds,
        age,
    )


async def test_another_process_uses_the_stored_version_while_usable(
    infra: Infra, database: str
) -> None:
    conn = await asyncpg.connect(infra.app_dsn(database))
    try:
        # stored by another process: took 5 s, so usable for 50 s; stored 10 s ago
        await stored(conn, "baseline", encode_baseline(MARKED), 5.0, 10.0)
        await stored(conn, "blocks", encode_blocks(dict.fromkeys(RING.employees, RING)), 5.0, 10.0)
        one, two = scorer(), scorer()
        for process in (one, two):
            assert await process.baseline(conn, MONTH, NOW) == MARKED
            assert (await process.blocks(conn, MONTH))["e2"] == RING
            assert process.bankwide.held() == set()  # nothing computed
        # a close computes afresh from its snapshot (an empty bank: the prior, no block)
        assert await one.baseline(conn, MONTH, NOW, fresh=True) == PeerBaseline()
        assert await one.blocks(conn, MONTH, fresh=True) == {}
    finally:
        await conn.close()


async def test_an_expired_version_is_computed_again_and_stored_with_the_next_write(
    infra: Infra, database: str
) -> None:
    conn = await asyncpg.connect(infra.app_dsn(database))
    try:
        await stored(conn, "blocks", encode_blocks(dict.fromkeys(RING.employees, RING)), 0.5, 60.0)
        process = scorer(block_interval=30.0)
        assert await process.blocks(conn, MONTH) == {}  # 60 s old, usable 30 s: recomputed
        assert process.bankwide.held() == {(MONTH.key, "blocks")}
        async with conn.transaction():
            await process.bankwide.store(conn, MONTH.key, process.figures)
        assert process.bankwide.held() == set()
        value = await conn.fetchval(
            "SELECT value FROM period_aggregate WHERE period = $1 AND kind = 'blocks'", MONTH.key
        )
        assert orjson.loads(value) == []
        assert await scorer().blocks(conn, MONTH) == {}  # the other process reads it
    finally:
        await conn.close()
