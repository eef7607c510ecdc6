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

from services.scorer.at_rest import Rest, inputs_changed, inputs_version, settled
from services.scorer.bankwide import SAME_INPUTS_SECONDS, encode_baseline, encode_blocks
from services.scorer.domain.anomaly import PeerBaseline
from services.scorer.domain.dense_block import DenseBlock
from services.scorer.domain.rules import ScoringRules
from services.scorer.scoring import Scorer
from shared.calendar import BusinessCalendar, parse_period
from shared.clock import ManualClock
from shared.db import Connection
from tests.infra import Infra

pytestmark = pytest.mark.integration

MONTH = parse_period("2026-09")
NOW = datetime(2026, 9, 20, tzinfo=UTC)
MARKED = PeerBaseline(hollow_per_day=123.0)
RING = DenseBlock(("e1", "e2", "e3"), ("wm-1", "wm-2"), 2.4, 1.5, 6)


def scorer(block_interval: float = 30.0, group: str = "") -> Scorer:
    """A scorer process's own figures: a new Scorer has none in memory."""
    return Scorer(
        ScoringRules(),
        BusinessCalendar(),
        block_interval_seconds=block_interval,
        clock=ManualClock(NOW),
        inputs_group=group,
    )


async def stored(
    conn: Connection,
    kind: str,
    value: object,
    seconds: float,
    age: float,
    inputs_version: int = 0,
) -> None:
    await conn.execute(
        """INSERT INTO period_aggregate (period, kind, value, seconds, inputs_version, stored_at)
           VALUES ($1, $2, $3::jsonb, $4, $6, clock_timestamp() - make_interval(secs => $5))
           ON CONFLICT (period, kind) DO UPDATE SET value = EXCLUDED.value,
                  seconds = EXCLUDED.seconds, inputs_version = EXCLUDED.inputs_version,
                  stored_at = EXCLUDED.stored_at""",
        MONTH.key,
        kind,
        orjson.dumps(value).decode(),
        seconds,
        age,
        inputs_version,
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
        await inputs_changed(conn)  # the inputs moved since it was computed
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


async def test_a_figure_from_the_inputs_as_they_stand_is_reused_for_five_minutes(
    infra: Infra, database: str
) -> None:
    """Recomputing it would give the same figure: only time's own effect is bounded."""
    conn = await asyncpg.connect(infra.app_dsn(database))
    try:
        version = await inputs_version(conn, "")
        ring = encode_blocks(dict.fromkeys(RING.employees, RING))
        await stored(conn, "blocks", ring, 0.5, 60.0, inputs_version=version)
        assert (await scorer(block_interval=30.0).blocks(conn, MONTH))["e1"] == RING
        await stored(conn, "blocks", ring, 0.5, SAME_INPUTS_SECONDS + 1, inputs_version=version)
        assert await scorer(block_interval=30.0).blocks(conn, MONTH) == {}  # recomputed
    finally:
        await conn.close()


async def test_a_figure_from_before_the_scores_came_to_rest_is_not_reused(
    infra: Infra, database: str
) -> None:
    pool = await asyncpg.create_pool(infra.app_dsn(database), min_size=1, max_size=2)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO consumer_offset (consumer_group, topic, partition, next_offset)
                   VALUES ('g', 'contacts', 0, 4), ('g', 'bank', 0, 3), ('other', 'x', 0, 50)"""
            )
            # a long-lived version (an hour's floor), computed from the inputs at version 3
            await stored(
                conn,
                "blocks",
                encode_blocks(dict.fromkeys(RING.employees, RING)),
                0.5,
                10.0,
                inputs_version=3,
            )
            process = scorer(block_interval=3600.0, group="g")
            assert (await process.blocks(conn, MONTH))["e1"] == RING  # reused while inputs move
            clock = [0.0]
            rest = Rest(
                lambda: pool,
                "g",
                quiet_seconds=5.0,
                min_interval_seconds=60.0,
                monotonic=lambda: clock[0],
            )
            assert not await rest.run_once()  # the version (7) seen for the first time
            clock[0] = 4.0
            assert not await rest.run_once()  # quiet for 4 s only
            assert not await settled(conn, "g")
            # computed while the inputs were quiet, from the very inputs the rest will see
            quiet = scorer(block_interval=3600.0, group="g")
            quiet.bankwide.offer(quiet.figures[1], MONTH.key, {"e1": RING}, 0.5, 7)
            assert (await quiet.blocks(conn, MONTH))["e1"] == RING
            clock[0] = 6.0
            # quiet for 6 s: brought to rest, the version moved on to 8 by the rest itself
            assert await rest.run_once()
            assert await conn.fetchval("SELECT at_rest FROM scoring_inputs") == 8
            assert await conn.fetchval("SELECT rested FROM scoring_inputs") == 8
            assert not await rest.run_once()  # once per version
            assert await settled(conn, "g")  # nothing to recompute in an empty bank
            # the stored version (inputs 3) is no longer used: computed afresh (an empty bank)
            assert await process.blocks(conn, MONTH) == {}
            # nor the one from the quiet seconds before the rest, from the same inputs
            assert await quiet.blocks(conn, MONTH) == {}
            async with conn.transaction():
                await process.bankwide.store(conn, MONTH.key, process.figures)
            assert (
                await conn.fetchval(
                    "SELECT inputs_version FROM period_aggregate "
                    "WHERE period = $1 AND kind = 'blocks'",
                    MONTH.key,
                )
                == 8
            )
            # a verdict or campaign moves the version on: the scores are no longer at rest
            async with conn.transaction():
                await inputs_changed(conn)
            assert await inputs_version(conn, "g") == 9
            assert not await settled(conn, "g")
            # a computation held in memory from before the rest is not used either, nor one
            # from inputs newer than the database's (another consumer group's, in a replay)
            held = scorer(block_interval=3600.0, group="g")
            held.bankwide.offer(held.figures[1], MONTH.key, {"e1": RING}, 0.5, 7)
            assert await held.blocks(conn, MONTH) == {}
            newer = scorer(block_interval=3600.0, group="g")
            newer.bankwide.offer(newer.figures[1], MONTH.key, {"e1": RING}, 0.5, 10)
            assert await newer.blocks(conn, MONTH) == {}
            # quiet again, but the last pass ended less than a minute ago: not yet
            clock[0] = 7.0
            assert not await rest.run_once()  # version 9 seen
            clock[0] = 20.0
            assert not await rest.run_once()
            await conn.execute("UPDATE scoring_inputs SET rested_at = rested_at - interval '2 min'")
            assert await rest.run_once()
            assert await settled(conn, "g")
    finally:
        await pool.close()
