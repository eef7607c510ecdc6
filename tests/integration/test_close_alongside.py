"""A close reads on connections of its own beside its transaction (the peers' baseline, the
dense blocks and the next chunks while one is scored): on real PostgreSQL it computes exactly
the scores the one-connection computation gives, chunk by chunk in the same order, over
several chunks (one employee bursts through a QR code with contacts a colleague of another
team shares, so the anomaly reasons, blocks and overlap are all exercised)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from datetime import timedelta

import asyncpg
import orjson
import pytest

from services.scorer import buckets, scoring
from services.scorer.closing import CLOSE_READER_SETTINGS, CLOSE_READERS, PeriodCloser
from services.scorer.domain.anomaly import PeerBaseline
from services.scorer.domain.features import Features
from shared.calendar import parse_period
from shared.clock import ManualClock
from shared.db import create_pool
from shared.kafka import make_broker
from tests import factories as f
from tests.infra import Infra, unique
from tests.integration.test_quota_tally import as_consumed, feed
from tests.integration.test_quota_tally import scoring as scoring_db
from tests.integration.test_refresh_round import FIRST, stream

pytestmark = pytest.mark.integration


PRIOR_ONLY = scoring.BankFigures(PeerBaseline(), {})
"""A period's bank-wide figures not read: the prior baseline and no dense blocks."""
IDS = ["e1", "e2", "e3", "e4", *(f"r{i}" for i in range(5)), *(f"p{i}" for i in range(12))]


def records() -> list[dict[str, object]]:
    """`test_refresh_round`'s stream, a ring of five employees of five teams who all add the
    same twelve contacts (a dense block), and twelve peers whose steady adds make the peers'
    baseline."""
    out = stream()
    for i in range(5):
        out.append(f.employee(f"r{i}", team_id=f"t{5 + i}"))
        for k in range(12):
            out.append(f.add(f"r{i}", f"wm-ring{k}", FIRST + timedelta(hours=k, minutes=i)))
    for i in range(12):
        out.append(f.employee(f"p{i}", team_id="t20"))
        for k in range(2 + i % 5):
            out.append(f.add(f"p{i}", f"wm-p{i}-{k}", FIRST + timedelta(days=k % 4, hours=i)))
    return out


def _plain(scores: list[dict[str, object]]) -> list[dict[str, object]]:
    return [orjson.loads(orjson.dumps(s, default=str)) for s in scores]


async def test_the_close_computes_alongside_what_one_connection_computes(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(FIRST + timedelta(days=5, hours=2))
    monkeypatch.setattr(scoring, "COMPUTE_CHUNK", 1)  # a chunk an employee
    # the features' one pass fetches a few buckets at a time: an employee's span fetches, and
    # the chunks (IDS, not in the pass's order) take theirs out of order
    monkeypatch.setattr(buckets, "EVERYONES_FETCH", 3)
    async with scoring_db(infra, clock) as (pool, scorer), contextlib.AsyncExitStack() as stack:
        await feed(pool, scorer, clock, as_consumed(records()), [])
        # the readers a close opens (the features' one pass holds one of them throughout)
        database = await pool.fetchval("SELECT current_database()")
        readers = await create_pool(infra.app_dsn(database), CLOSE_READERS, CLOSE_READER_SETTINGS)
        stack.push_async_callback(readers.close)
        now = clock()
        for key in ("2026-09", "2026-Q3", "2026-10"):
            period = parse_period(key)
            async with pool.acquire() as conn, conn.transaction():
                alone = [c async for c in scorer.compute_chunks(conn, period, IDS, now, True)]
            async with pool.acquire() as conn, conn.transaction():
                beside = [
                    c
                    async for c in scorer.compute_chunks_alongside(
                        conn, lambda: readers, period, IDS, now, True
                    )
                ]
            assert len(beside) == len(alone) >= 3, key
            assert [_plain(c) for c in beside] == [_plain(c) for c in alone], key
        assert any(s["anomaly_score"] > 0 for c in alone for s in c)
        # the bank-wide figures matter here: scored without them, the month differs
        async with pool.acquire() as conn, conn.transaction():
            month = parse_period("2026-09")
            unbanked = [
                await scorer.score_chunk(read)
                for chunk in await scorer.chunks(conn, month, IDS)
                if (read := await scorer.read_chunk(conn, month, chunk, now, True, PRIOR_ONLY))
                is not None
            ]
            async with pool.acquire() as other, other.transaction():
                banked = [c async for c in scorer.compute_chunks(other, month, IDS, now, True)]
        assert [_plain(c) for c in unbanked] != [_plain(c) for c in banked]

        # a caller that stops early leaves no read running behind it
        async with pool.acquire() as conn, conn.transaction():
            chunks = scorer.compute_chunks_alongside(
                conn, lambda: readers, parse_period("2026-10"), IDS, now, True
            )
            assert await anext(chunks)
            await chunks.aclose()
        await asyncio.sleep(0)
        assert readers.get_idle_size() == readers.get_size()


async def test_a_database_that_sorts_ids_otherwise_reads_each_chunks_features_by_key(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encoding whose order is not Python's: no one pass (each chunk reads its employees'
    features by key), the same scores, and the pass's connection is not held for nothing:
    once the last chunk is read, every reader is free."""
    clock = ManualClock(FIRST + timedelta(days=5, hours=2))
    monkeypatch.setattr(scoring, "COMPUTE_CHUNK", 1)
    monkeypatch.setattr(buckets, "CODE_POINT_ENCODINGS", frozenset())
    async with scoring_db(infra, clock) as (pool, scorer), contextlib.AsyncExitStack() as stack:
        await feed(pool, scorer, clock, as_consumed(records()), [])
        database = await pool.fetchval("SELECT current_database()")
        readers = await create_pool(infra.app_dsn(database), CLOSE_READERS, CLOSE_READER_SETTINGS)
        stack.push_async_callback(readers.close)
        now, period = clock(), parse_period("2026-09")
        async with pool.acquire() as conn, conn.transaction():
            alone = [c async for c in scorer.compute_chunks(conn, period, IDS, now, True)]
        beside, free = [], []
        async with pool.acquire() as conn, conn.transaction():
            async for c in scorer.compute_chunks_alongside(
                conn, lambda: readers, period, IDS, now, True
            ):
                beside.append(c)
                free.append(readers.get_idle_size())
        assert len(beside) >= 3
        assert [_plain(c) for c in beside] == [_plain(c) for c in alone]
        assert free[-1] == readers.get_size()


async def test_a_close_whose_store_fails_closes_nothing_and_closes_when_tried_again(
    infra: Infra, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A close stores each chunk while it scores the next: when the store of one chunk fails
    (PostgreSQL refuses one employee's outcome), midway or in the last chunk, the close fails
    whole with that error, nothing of it stays, no task's error is left uncollected, and the
    same close tried again closes every employee."""
    clock = ManualClock(FIRST + timedelta(days=40))
    monkeypatch.setattr(scoring, "COMPUTE_CHUNK", 1)  # a chunk an employee
    month = parse_period("2026-09")
    last = sorted(IDS)[-1]
    async with scoring_db(infra, clock) as (pool, scorer):
        await feed(pool, scorer, clock, as_consumed(records()), [])
        database = await pool.fetchval("SELECT current_database()")
        broker = make_broker(infra.kafka_bootstrap, "test-close")
        owner = await asyncpg.connect(infra.owner_dsn(database))
        try:
            await broker.start()
            await owner.execute(
                """CREATE TABLE refused (employee_id text PRIMARY KEY);
                   GRANT SELECT ON refused TO PUBLIC;
                   CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN
                     IF EXISTS (SELECT 1 FROM refused r WHERE r.employee_id = NEW.employee_id)
                     THEN RAISE EXCEPTION 'outcome of % refused', NEW.employee_id; END IF;
                     RETURN NEW;
                   END $$;
                   CREATE TRIGGER refuse BEFORE INSERT ON period_outcome
                      FOR EACH ROW EXECUTE FUNCTION refuse();"""
            )
            closer = PeriodCloser(
                scorer, broker, unique("breaches"), readers_dsn=infra.app_dsn(database)
            )
            rows = "SELECT * FROM employee_period_score WHERE period = $1 ORDER BY employee_id"
            async with pool.acquire() as conn:
                before = await conn.fetch(rows, month.key)
                for refused in ("r2", last):  # the 19th of 21 chunks, and the last
                    await owner.execute("TRUNCATE refused")
                    await owner.execute("INSERT INTO refused VALUES ($1)", refused)
                    with pytest.raises(asyncpg.RaiseError, match=f"outcome of {refused} refused"):
                        await closer.close(conn, month, "test", force=True)
                    assert not await conn.fetchval("SELECT count(*) FROM period_close")
                    assert not await conn.fetchval("SELECT count(*) FROM period_outcome")
                    assert await conn.fetch(rows, month.key) == before  # stored chunks undone
                await owner.execute("TRUNCATE refused")
                closed = await closer.close(conn, month, "test", force=True)
                outcomes = await conn.fetchval("SELECT count(*) FROM period_outcome")
                stored = len(await conn.fetch(rows, month.key))
            assert closed["closed"] and closed["employees"] == len(IDS) == outcomes == stored
            assert len(before) < stored
            gc.collect()  # a task whose error nobody collected says so when it is collected
            await asyncio.sleep(0)
            assert "never retrieved" not in caplog.text
        finally:
            await broker.stop()
            await owner.close()


async def test_the_features_pass_hands_each_employee_its_features_whole_and_ends_when_read(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one pass over a period's buckets gives each chunk what reading its employees' by
    key gives, fetches ending on an employee's buckets or exactly on the last row; it keeps
    none of an employee nobody will ask for, and ends its transaction once read through. A
    fetch that fails fails every take after it with its own error."""
    clock = ManualClock(FIRST + timedelta(days=5, hours=2))
    month = parse_period("2026-09")
    async with scoring_db(infra, clock) as (pool, scorer):
        await feed(pool, scorer, clock, as_consumed(records()), [])
        tz = scorer.calendar.tz
        async with pool.acquire() as conn:
            by_key = await buckets.features(conn, month, IDS, tz)
            rows = await conn.fetchval(
                f"SELECT count(*) FROM ({buckets.BANK_FEATURES_SQL}) AS b",
                None,
                month.start_at(tz),
                month.end_at(tz),
            )
            assert rows > 3 and len(by_key) >= 10
            wanted = [e for e in sorted(IDS) if e != "r2"]
            for fetch in (3, rows):  # mid-employee; exactly the rows (then an empty fetch)
                monkeypatch.setattr(buckets, "EVERYONES_FETCH", fetch)
                stream = await buckets.Everyones.open(conn, month, tz, wanted)
                assert stream is not None
                taken: dict[str, Features] = {}
                for chunk in (wanted[4:9], wanted[:4], wanted[9:]):  # out of the pass's order
                    taken |= await stream.take(chunk)
                assert taken == {e: f for e, f in by_key.items() if e != "r2"}, fetch
                assert "r2" in by_key and not stream._held
                assert not conn.is_in_transaction()
                await stream.close()

            sql = buckets.EVERYONES_SQL
            # a statement refused as it starts: nothing stays open
            monkeypatch.setattr(buckets, "EVERYONES_SQL", sql.replace("ARRAY[", "ARRAY[1 / 0, "))
            with pytest.raises(asyncpg.DivisionByZeroError):
                await buckets.Everyones.open(conn, month, tz, wanted)
            assert not conn.is_in_transaction()
            # one that fails as it runs, at the first row
            failing_row = sql.replace("ARRAY[", "ARRAY[adds / (adds - adds), ")
            monkeypatch.setattr(buckets, "EVERYONES_SQL", failing_row)
            failing = await buckets.Everyones.open(conn, month, tz, wanted)
            assert failing is not None
            for _ in range(2):
                with pytest.raises(asyncpg.DivisionByZeroError):
                    await failing.take(wanted[:3])
            await failing.close()
            assert not conn.is_in_transaction()
