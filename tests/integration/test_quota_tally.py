"""Quota and quality counters kept by deltas equal a recount the slow way
(services.scorer.verify), on real PostgreSQL, for random streams: duplicates, late and
out-of-order events, removals around the retention window's edge, handovers, profiles that
come before or after their adds (peer banks, not-found), customer links with tiers, chat
messages both ways (questions, replies, mass sends, on either side of the engagement window),
staff accounts, any batch split, a restart of the pipeline, and time moving on between batches
(the timers). The same records in another order and split give the same counters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.scorer import tally
from services.scorer.domain.rules import ScoringRules
from services.scorer.pipeline import ScoringPipeline
from services.scorer.scoring import Scorer
from services.scorer.verify import verify_period
from shared.calendar import BusinessCalendar, parse_period
from shared.clock import ManualClock
from tests import factories as f
from tests.infra import Infra, create_database, drop_database

pytestmark = pytest.mark.integration

START = f.at("2026-09-27", 9)  # a stream across a month's, a week's and a quarter's end
EMPLOYEES = ("e1", "e2", "e3")
CONTACTS = tuple(f"wm-{i}" for i in range(8))
PERIODS = ("2026-09", "2026-10", "2026-Q3", "2026-Q4", "2026-W39", "2026-W40", "2026-09-30")
RULES = ScoringRules(
    retention_days=2, profile_wait_hours=30, engagement_days=2, long_retention_days=4
)
TIERS = ("大众", "财富", "私行", None)


def removal(employee_id: str, contact: str, at: datetime, by: str) -> dict[str, Any]:
    change = {"employee": "del_external_contact", "customer": "del_follow_user"}[by]
    return {**f.add(employee_id, contact, at), "ChangeType": change}


def handover(employee_id: str, contact: str, at: datetime) -> dict[str, Any]:
    return {**removal(employee_id, contact, at, "employee"), "Source": "DELETE_BY_TRANSFER"}


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records of one bank's few days, in the order they happened to arrive."""
    hours = st.integers(min_value=0, max_value=24 * 7)
    records: list[dict[str, Any]] = [f.employee(e) for e in EMPLOYEES]
    for _ in range(draw(st.integers(min_value=1, max_value=25))):
        e, c = draw(st.sampled_from(EMPLOYEES)), draw(st.sampled_from(CONTACTS))
        at = START + timedelta(hours=draw(hours), minutes=draw(st.integers(0, 59)))
        kind = draw(st.sampled_from(["add", "add", "add", "employee", "customer", "handover"]))
        if kind == "add":
            records.append(f.add(e, c, at))
        elif kind == "handover":
            records.append(handover(e, c, at))
        else:
            records.append(removal(e, c, at, kind))
    for c in draw(st.lists(st.sampled_from(CONTACTS), unique=True)):
        shape = draw(st.sampled_from(["plain", "peer", "not_found", "inherited"]))
        records.append(
            {
                "plain": f.profile(c),
                "peer": f.profile(c, 2, "某某银行"),
                "not_found": f.profile(c, found=False, lookup_errcode=84061),
                "inherited": f.profile(c, employee_id="e2", add_way=202),
            }[shape]
        )
    for c in draw(st.lists(st.sampled_from(CONTACTS), unique=True, max_size=4)):
        records.append(
            {
                "type": "customer_link",
                "external_userid": c,
                "is_customer": draw(st.booleans()),
                "customer_tier": draw(st.sampled_from(TIERS)),
                "occurred_at": (START + timedelta(hours=draw(hours))).isoformat(),
            }
        )
    for i in range(draw(st.integers(min_value=0, max_value=20))):
        at = START + timedelta(hours=draw(hours), minutes=draw(st.integers(0, 59)))
        records.append(
            {
                "type": "message",
                "message_id": f"m{i}",
                "employee_id": draw(st.sampled_from(EMPLOYEES)),
                "external_userid": draw(st.sampled_from(CONTACTS[:4])),  # chats of a few
                "direction": draw(st.sampled_from(["from_customer", "to_customer"])),
                "kind": draw(st.sampled_from(["one_to_one", "one_to_one", "mass", "group"])),
                "sent_at": at.isoformat(),
            }
        )
    if draw(st.booleans()):
        records.append(f.staff_account("e3", external_userid=draw(st.sampled_from(CONTACTS))))
    records += draw(st.lists(st.sampled_from(records), max_size=5))  # sent twice
    return draw(st.permutations(records))


def as_consumed(records: Sequence[dict[str, Any]]) -> list[ConsumerRecord[bytes, bytes]]:
    """The records as the consumer hands them over: one partition, offsets in order."""
    return [
        ConsumerRecord(
            "bank.records" if r["type"] != "contact_event" else "wecom.contact-events",
            0,
            i,
            0,
            0,
            b"k",
            orjson.dumps(r),
            None,
            1,
            len(orjson.dumps(r)),
            [],
        )
        for i, r in enumerate(records)
    ]


@asynccontextmanager
async def scoring(infra: Infra, clock: ManualClock) -> AsyncIterator[tuple[Any, Scorer]]:
    database = await create_database(infra)
    pool = await asyncpg.create_pool(infra.app_dsn(database), min_size=1, max_size=2)
    try:
        yield pool, Scorer(RULES, BusinessCalendar(), clock=clock, inputs_group="")
    finally:
        await pool.close()
        await drop_database(infra, database)


async def feed(
    pool: Any,
    scorer: Scorer,
    clock: ManualClock,
    records: Sequence[Any],
    cuts: Sequence[int],
    check: bool = False,
) -> None:
    """Batches cut at `cuts`; time moves on (timers run) and the pipeline is built anew (a
    restart) between batches. `check`: the counters equal a recount after every batch, not
    only at the end (a change a batch missed would otherwise be mended by a later timer)."""

    async def nowhere(raw: Any, reason: str) -> None:
        raise AssertionError(f"dead letter: {reason}")

    edges = [0, *sorted(set(cuts)), len(records)]
    for a, b in pairwise(edges):
        if a < b:
            pipeline = ScoringPipeline(lambda: pool, "g", scorer, nowhere)
            await pipeline.handle(records[a:b])
            if check:
                async with pool.acquire() as conn:
                    for key in PERIODS:
                        assert await verify_period(conn, scorer, parse_period(key)) == []
            clock.advance(timedelta(hours=7))
            async with pool.acquire() as conn:
                await tally.run_due(conn, scorer, clock())


async def counters(pool: Any) -> list[tuple[Any, ...]]:
    """The counter rows, without their version (how many changes made them: the split's)."""
    rows = await pool.fetch("SELECT * FROM quota_counter ORDER BY employee_id, period")
    held = [tuple(v for k, v in r.items() if k != "version") for r in rows]
    return [r for r in held if any(v for v in r[2:])]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=streams(), cuts=st.lists(st.integers(0, 60), max_size=6), data=st.data())
async def test_kept_counters_equal_a_recount_whatever_the_order_and_split(
    infra: Infra, stream: list[dict[str, Any]], cuts: list[int], data: st.DataObject
) -> None:
    consumed = as_consumed(stream)
    reordered = as_consumed(data.draw(st.permutations(stream)))
    other_cuts = data.draw(st.lists(st.integers(0, 60), max_size=6))
    results = []
    for records, split, check in ((consumed, cuts, True), (reordered, other_cuts, False)):
        clock = ManualClock(START)
        async with scoring(infra, clock) as (pool, scorer):
            await feed(pool, scorer, clock, records, split, check)
            clock.set(START + timedelta(days=12))  # every window and wait has ended
            async with pool.acquire() as conn:
                for key in PERIODS:
                    assert await verify_period(conn, scorer, parse_period(key)) == []
            results.append(await counters(pool))
    assert results[0] == results[1]
