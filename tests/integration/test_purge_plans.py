"""The retention purge runs chunk after chunk under the hold that stops the consumer: each
chunk must find its rows by an index, not by reading every row of a bank-sized table (a
contact purge chunk read all 10,000,000 contacts in 2 s; a standings chunk all 10,200,000
standings in 1.4 s). With sequential scans priced out, the plan of each purge statement reads
no table whole, and names the index it is meant to use: an expression that no longer matches
its index's would show here. (Reviewers' verdicts are few: read whole.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.scorer import contact_data
from services.scorer.contact_data import CONTACTS_PURGE_SQL, PURGE_CHUNK, PURGES
from shared.clock import ManualClock
from shared.governance import hold_exclusive
from tests.infra import Infra, create_database, drop_database
from tests.integration.test_quota_tally import scoring

pytestmark = pytest.mark.integration

INDEXED = {
    "contact_event": "occurred_at",  # monthly partitions, each by its index on the time
    "message": "sent_at",
    "chat_day": "chat_day_asked",
    "contact_removal": "contact_removal_time",
    "employee_contact": "employee_contact_window",
    "relation_standing": "relation_standing_added",
    "add_bucket": "add_bucket_span",
}


def test_every_purge_is_checked() -> None:
    assert {p.table for p in PURGES} == {*INDEXED, "contact_verdict"}


async def plan_of(infra: Infra, statement: str, *args: object, sort: bool = True) -> str:
    database = await create_database(infra)
    try:
        conn = await asyncpg.connect(infra.app_dsn(database))
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_seqscan = off")
                if not sort:
                    await conn.execute("SET LOCAL enable_sort = off")
                return "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + statement, *args))
        finally:
            await conn.close()
    finally:
        await drop_database(infra, database)


CUTOFF = datetime(2024, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("after", [(None, None), (datetime(2023, 1, 1, tzinfo=UTC), "wm-1")])
async def test_the_contacts_are_found_in_their_index_order(
    infra: Infra, after: tuple[datetime | None, str | None]
) -> None:
    """Chunk after chunk from where the last one stopped: a range of the index, in its order
    (sorting priced out too: an empty table is sorted for nothing)."""
    plan = await plan_of(infra, CONTACTS_PURGE_SQL, CUTOFF, PURGE_CHUNK, *after, sort=False)
    picked = plan.split("CTE gone")[0]  # the chunk's choice (the last key is sorted from it)
    assert "Tid Scan on contact" in plan, plan  # deletes by the picked rows' addresses
    assert "Seq Scan" not in plan and "Index Scan using contact_last_fact" in picked, plan
    assert "Sort" not in picked and "ROW(" in picked, plan  # where the last chunk stopped


async def test_whether_any_contact_is_left_to_purge_is_asked_of_the_index(infra: Infra) -> None:
    """The question asked once, without the hold, before the contacts' chunks."""
    plan = await plan_of(infra, contact_data.CONTACTS_PROBE_SQL, CUTOFF)
    assert "Seq Scan" not in plan and "contact_last_fact" in plan, plan


@pytest.mark.parametrize("table", sorted(INDEXED))
async def test_a_purge_chunk_is_found_by_its_index(infra: Infra, table: str) -> None:
    """The chunk, and the question asked before it without the hold (is there any?)."""
    purge = next(p for p in PURGES if p.table == table)
    for statement, limit in ((purge.statement, PURGE_CHUNK), (purge.probe, 1)):
        plan = await plan_of(infra, statement, CUTOFF, limit)
        assert "Seq Scan" not in plan and INDEXED[table] in plan, plan


async def test_the_contact_purge_goes_chunk_after_chunk_past_followed_ones(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of two: the old contacts nobody follows go, whatever number of old contacts
    still followed (re-added since) and of equal keys lie between them; the others stay."""
    monkeypatch.setattr(contact_data, "PURGE_CHUNK", 2)
    old = datetime(2024, 3, 1, tzinfo=UTC)
    clock = ManualClock(datetime(2026, 12, 15, 2, tzinfo=UTC))
    async with scoring(infra, clock) as (pool, scorer), pool.acquire() as conn:
        contacts: list[tuple[str, datetime | None]] = [
            (f"wm-{i:02}", old + timedelta(days=i // 3)) for i in range(12)
        ]
        # nothing known of when: '-infinity', which chunks must end on and start from again
        contacts += [(f"wm-none{i}", None) for i in range(5)]
        contacts += [("wm-new", datetime(2026, 1, 1, tzinfo=UTC))]
        await conn.executemany(
            "INSERT INTO contact (external_userid, first_added_at) VALUES ($1, $2)", contacts
        )
        followed = ["wm-01", "wm-02", "wm-05", "wm-09", "wm-new", "wm-none2"]
        await conn.executemany(
            """INSERT INTO employee_contact (employee_id, external_userid, first_added_at)
                   VALUES ('e1', $1, '2026-11-02T00:00:00Z')""",
            [(c,) for c in followed],
        )
        purged = await contact_data.purge_due(conn, scorer, 24, clock())
        assert purged is not None and purged.rows["contact"] == len(contacts) - len(followed)
        left = {r[0] for r in await conn.fetch("SELECT external_userid FROM contact")}
        assert left == set(followed)


async def test_a_purge_holds_the_consumer_only_for_what_it_has_to_delete(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every step asks first, without the hold, whether it has anything to delete: a database
    with nothing old (a new one, or one purged last month) stops the consumer's batches once,
    to move the horizon, not once per table; a table with old rows still has them deleted."""
    held: list[int] = []

    async def counted(conn: asyncpg.Connection) -> None:
        held.append(1)
        await hold_exclusive(conn)

    monkeypatch.setattr(contact_data, "hold_exclusive", counted)
    clock = ManualClock(datetime(2026, 12, 15, 2, tzinfo=UTC))
    async with scoring(infra, clock) as (pool, scorer), pool.acquire() as conn:
        recent = datetime(2026, 11, 20, tzinfo=UTC)
        await conn.execute(
            """INSERT INTO contact_removal (employee_id, external_userid, removed_at, removed_by)
               VALUES ('e1', 'wm-new', $1, 'customer')""",
            recent,
        )
        assert await contact_data.purge_due(conn, scorer, 24, clock()) is not None
        assert len(held) == 1
        assert await conn.fetchval("SELECT count(*) FROM contact_removal") == 1

        # a month later, one old removal (stored before the horizon moved on): one more hold
        held.clear()
        await conn.execute(
            """INSERT INTO contact_removal (employee_id, external_userid, removed_at, removed_by)
               VALUES ('e1', 'wm-old', '2024-12-20T00:00:00Z', 'employee')""",
        )
        later = datetime(2027, 1, 15, 2, tzinfo=UTC)
        purged = await contact_data.purge_due(conn, scorer, 24, later)
        assert purged is not None and purged.rows["contact_removal"] == 1
        assert len(held) == 2
        left = await conn.fetch("SELECT external_userid FROM contact_removal")
        assert [r[0] for r in left] == ["wm-new"]
