"""The facts looked up per relation (a staff account, a handover, a reviewer's verdict,
removals) are kept with its standing by the batch that judges it; the reads of whole periods
(the refresh, the close) take them from there, and the verifier lists every one that differs
from the lookups made afresh. (The property test of test_quota_tally checks, after every batch
of random streams, that none differs.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.scorer import inputs
from services.scorer.contact_data import erase
from services.scorer.domain.validity import ContactFacts
from services.scorer.state import UNIONID_LOCK
from services.scorer.verify import Difference, verify_period
from shared.calendar import parse_period
from shared.clock import ManualClock
from tests import factories as f
from tests.infra import Infra
from tests.integration.test_purge_plans import plan_of
from tests.integration.test_quota_tally import START, as_consumed, feed, handover, scoring

pytestmark = pytest.mark.integration

MONTH = parse_period("2026-09")
MINUTE = timedelta(minutes=1)


async def test_period_reads_take_the_lookups_from_the_standings(infra: Infra) -> None:
    clock = ManualClock(START)
    async with scoring(infra, clock) as (pool, scorer):
        records = [
            *(f.employee(e) for e in ("e1", "e2", "e3")),
            f.staff_account("e3", external_userid="wm-3"),
            f.add("e1", "wm-1", START),
            handover("e2", "wm-1", START + MINUTE),  # e2 handed wm-1 over to e1
            f.add("e1", "wm-2", START + 2 * MINUTE),
            {**f.add("e1", "wm-2", START + 3 * MINUTE), "ChangeType": "del_follow_user"},
            f.add("e1", "wm-3", START + 4 * MINUTE),  # e3's own WeChat
            f.add("e1", "wm-4", START + 5 * MINUTE),
        ]
        await feed(pool, scorer, clock, as_consumed(records), [])
        tz = scorer.calendar.tz
        async with pool.acquire() as conn:

            async def read(live: bool) -> dict[str, ContactFacts]:
                found = await inputs.relations(conn, MONTH, ["e1"], tz, live=live)
                return {r.external_userid: r for r in found}

            kept, fresh = await read(live=False), await read(live=True)
            assert kept == fresh
            assert kept["wm-1"].handed_over and not kept["wm-2"].handed_over
            assert [r.removed_by for r in kept["wm-2"].removals] == ["customer"]
            assert kept["wm-3"].staff_account_of == "e3"
            assert await conn.fetchval("SELECT bool_and(derived) FROM relation_standing")
            assert await verify_period(conn, scorer, MONTH) == []

            # what a standing keeps is what the period's reads see
            await conn.execute(
                """UPDATE relation_standing SET review = 'gamed', removed_since_add = false
                    WHERE employee_id = 'e1' AND external_userid IN ('wm-4', 'wm-2')"""
            )
            kept = await read(live=False)
            assert kept["wm-4"].review == "gamed" and kept["wm-2"].removals == ()
            assert {
                d for d in await verify_period(conn, scorer, MONTH) if "relation" in d.figure
            } == {
                Difference("2026-09", "e1", "relation review", "gamed", None),
                Difference("2026-09", "e1", "relation removals", (), fresh["wm-2"].removals),
            }

            # a standing that keeps none (judged before they were kept) is looked up afresh
            await conn.execute(
                """UPDATE relation_standing SET derived = false, staff_account_of = NULL
                    WHERE employee_id = 'e1' AND external_userid = 'wm-3'"""
            )
            assert (await read(live=False))["wm-3"].staff_account_of == "e3"


async def test_a_handover_waits_for_a_batch_holding_its_contact(infra: Infra) -> None:
    """Handovers and adds of one contact travel on different partitions (keyed by employee)
    and may be applied at once. A batch holds the rows of the contacts it adds, hands over or
    declares staff accounts from its start: a handover applied beside the receiver's add
    waits for it, and then judges the add (read committed) as inherited. Before, it read no
    relation of the receiver, the add read no handover, and the add's standing kept
    `handed_over` false."""
    clock = ManualClock(START)
    async with scoring(infra, clock) as (pool, scorer):
        records = as_consumed(
            [
                *(f.employee(e) for e in ("e1", "e2")),
                f.add("e2", "wm-9", START),
                handover("e2", "wm-9", START + MINUTE),
                handover("e2", "wm-8", START + MINUTE),  # added before the scorer's history
            ]
        )
        await feed(pool, scorer, clock, records[:3], [])
        async with pool.acquire() as adding, adding.transaction():
            # the receiver's batch, under way: it holds the contact's row
            await adding.execute("SELECT 1 FROM contact WHERE external_userid = 'wm-9' FOR UPDATE")
            handing = asyncio.create_task(feed(pool, scorer, clock, records[3:4], []))
            await asyncio.sleep(1.0)
            assert not handing.done()  # waits for the receiver's batch to commit
        await asyncio.wait_for(handing, timeout=30)
        async with pool.acquire() as adding, adding.transaction():
            # a contact the scorer has no row of yet, being added by the receiver's batch
            await adding.execute("INSERT INTO contact (external_userid) VALUES ('wm-8')")
            handing = asyncio.create_task(feed(pool, scorer, clock, records[4:], []))
            await asyncio.sleep(1.0)
            assert not handing.done()
        await asyncio.wait_for(handing, timeout=30)
        async with pool.acquire() as conn:
            assert await verify_period(conn, scorer, MONTH) == []


async def test_a_staff_account_by_unionid_waits_for_batches_storing_unionids(
    infra: Infra,
) -> None:
    """A staff account declared by unionid alone finds its contacts by the unionid of their
    profiles, which a batch on another partition may be storing at that moment: neither would
    see the other, and the add would stay judged not a staff account. Batches that store
    unionids hold UNIONID_LOCK shared, a batch declaring staff accounts by unionid holds it
    exclusively: each waits for the other kind under way. A contact whose profile carried the
    unionid before is locked by the declaring batch like one it names: an add of it (which
    carries no unionid) under way in another batch holds its row, and the declaration waits."""
    clock = ManualClock(START)
    async with scoring(infra, clock) as (pool, scorer):
        records = as_consumed(
            [
                *(f.employee(e) for e in ("e1", "e2")),
                f.staff_account("e2", unionid="u-7"),
                f.add("e1", "wm-7", START),
                f.profile("wm-7", unionid="u-7"),
                f.add("e1", "wm-6", START + MINUTE),
                f.profile("wm-4", unionid="u-4"),
                f.staff_account("e2", unionid="u-4"),
            ]
        )
        await feed(pool, scorer, clock, records[:2], [])
        async with pool.acquire() as storing, storing.transaction():
            # a batch storing a contact's unionid, under way
            await storing.execute("SELECT pg_advisory_xact_lock_shared($1, $2)", *UNIONID_LOCK)
            declaring = asyncio.create_task(feed(pool, scorer, clock, records[2:3], []))
            await asyncio.sleep(1.0)
            assert not declaring.done()  # waits for it to commit
        await asyncio.wait_for(declaring, timeout=30)
        async with pool.acquire() as declaring_conn, declaring_conn.transaction():
            # a batch declaring a staff account by unionid, under way
            await declaring_conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *UNIONID_LOCK)
            storing_task = asyncio.create_task(feed(pool, scorer, clock, records[3:5], []))
            await asyncio.sleep(1.0)
            assert not storing_task.done()
        await asyncio.wait_for(storing_task, timeout=30)
        await feed(pool, scorer, clock, records[5:7], [])
        async with pool.acquire() as adding, adding.transaction():
            # a batch adding wm-4 (its profile known before), under way: it holds the row
            await adding.execute("SELECT 1 FROM contact WHERE external_userid = 'wm-4' FOR UPDATE")
            declaring = asyncio.create_task(feed(pool, scorer, clock, records[7:], []))
            await asyncio.sleep(1.0)
            assert not declaring.done()
        await asyncio.wait_for(declaring, timeout=30)
        async with pool.acquire() as conn:
            kept = {
                r.external_userid: r
                for r in await inputs.relations(conn, MONTH, ["e1"], scorer.calendar.tz)
            }
            assert kept["wm-7"].staff_account_of == "e2"
            assert kept["wm-6"].staff_account_of is None
            assert await verify_period(conn, scorer, MONTH) == []


async def test_erasing_a_contact_judges_again_the_same_persons_other_contacts(
    infra: Infra,
) -> None:
    """Erasing a contact removes HR's staff account of its unionid: the other contacts with that
    unionid (the same person) are no staff account any more, and their relations are judged
    again without it (before, their standings kept it and the verifier listed them)."""
    clock = ManualClock(START)
    async with scoring(infra, clock) as (pool, scorer):
        records = as_consumed(
            [
                *(f.employee(e) for e in ("e1", "e2")),
                f.staff_account("e2", unionid="u-5"),
                f.add("e1", "wm-5a", START),
                f.add("e1", "wm-5b", START + MINUTE),
                f.profile("wm-5a", unionid="u-5"),
                f.profile("wm-5b", unionid="u-5"),
                # HR names wm-3a and its unionid; only wm-3b's profile carries the unionid
                f.staff_account("e2", unionid="u-3", external_userid="wm-3a"),
                f.add("e1", "wm-3a", START + 2 * MINUTE),
                f.add("e1", "wm-3b", START + 3 * MINUTE),
                f.profile("wm-3b", unionid="u-3"),
            ]
        )
        await feed(pool, scorer, clock, records, [])
        tz = scorer.calendar.tz
        async with pool.acquire() as conn:
            kept = {r.external_userid: r for r in await inputs.relations(conn, MONTH, ["e1"], tz)}
            assert kept["wm-5b"].staff_account_of == kept["wm-3b"].staff_account_of == "e2"
            async with conn.transaction():
                await erase(conn, scorer, "wm-5a", lambda u: "h:" + u, clock())
                await erase(conn, scorer, "wm-3a", lambda u: "h:" + u, clock())
            kept = {r.external_userid: r for r in await inputs.relations(conn, MONTH, ["e1"], tz)}
            assert set(kept) == {"wm-5b", "wm-3b"}
            assert kept["wm-5b"].staff_account_of is kept["wm-3b"].staff_account_of is None
            assert await verify_period(conn, scorer, MONTH) == []


def customer_message(i: int, employee: str, contact: str, at: datetime) -> dict[str, Any]:
    return {
        "type": "message",
        "message_id": f"m{i}",
        "employee_id": employee,
        "external_userid": contact,
        "direction": "from_customer",
        "kind": "one_to_one",
        "sent_at": at.isoformat(),
    }


async def test_the_peers_baseline_reads_what_the_standings_keep(infra: Infra) -> None:
    """Whether a contact is a matched customer and holds a conversation (two messages of its
    own) is kept with the standing; the peers' baseline counts hollow adds from the standings
    alone. The second message comes in a batch of its own: only it makes a conversation."""
    clock = ManualClock(START)
    async with scoring(infra, clock) as (pool, scorer):
        records = as_consumed(
            [
                f.employee("e1"),
                f.add("e1", "wm-1", START),
                f.add("e1", "wm-2", START + MINUTE),
                f.add("e1", "wm-3", START + 2 * MINUTE),
                customer_message(1, "e1", "wm-2", START + 3 * MINUTE),
                {
                    "type": "customer_link",
                    "external_userid": "wm-1",
                    "is_customer": True,
                    "customer_tier": "gold",
                    "occurred_at": (START + 4 * MINUTE).isoformat(),
                },
                customer_message(2, "e1", "wm-2", START + 5 * MINUTE),
            ]
        )
        await feed(pool, scorer, clock, records, [6])
        now, tz = scorer.clock(), scorer.calendar.tz
        tail = scorer.tail(MONTH, now)
        assert tail is not None
        async with pool.acquire() as conn:
            signs = {
                r["external_userid"]: (r["customer"], r["conversation"])
                for r in await conn.fetch("SELECT * FROM relation_standing")
            }
            assert signs == {
                "wm-1": (True, False),
                "wm-2": (False, True),
                "wm-3": (False, False),
            }
            kept = await inputs.tallies_of(conn, MONTH, tz, now, tail)
            # three adds on one day, one of them hollow (wm-3)
            assert list(kept.employees) == ["e1"] and kept.employees["e1"].late_adds == 3
            assert list(kept.days.values()) == [{1: 1}]
            assert kept == await inputs.tallies_of(conn, MONTH, tz, now, tail, from_relations=True)
            assert await verify_period(conn, scorer, MONTH) == []

            # a standing judged before the signs were kept is counted from its relation
            await conn.execute(
                "UPDATE relation_standing SET customer = NULL, conversation = NULL "
                "WHERE external_userid = 'wm-2'"
            )
            assert await inputs.tallies_of(conn, MONTH, tz, now, tail) == kept

            # what a standing keeps is what the baseline counts, and the verifier says so
            await conn.execute(
                "UPDATE relation_standing SET customer = false, conversation = false "
                "WHERE external_userid = 'wm-2'"
            )
            found = {
                d.figure: (d.kept, d.recounted)
                for d in await verify_period(conn, scorer, MONTH)
                if d.figure.startswith("baseline ")
            }
            day = next(iter(kept.days))
            assert found == {
                f"baseline hollow adds {day}": ({2: 1}, {1: 1}),
                "baseline tally decided": (1, 2),  # a hollow add is decided after 7 days
            }


async def test_the_baseline_reads_the_standings_by_their_first_add(infra: Infra) -> None:
    """A period's standings by the index on their first add: no table read whole, and no
    contact joined for a standing that has its signs (only in the subplan for one that has
    not)."""
    start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    for plan in (
        await plan_of(infra, inputs.TALLY_SQL, start, end, end, end),
        await plan_of(infra, inputs.HOLLOW_DAYS_SQL, start, end, "Asia/Shanghai"),
    ):
        assert "Seq Scan" not in plan, plan
        assert "relation_standing_added" in plan, plan
        assert "on contact" not in plan.split("SubPlan")[0], plan
