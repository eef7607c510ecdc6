"""The retention purge runs chunk after chunk under the hold that stops the consumer: each
chunk must find its rows by an index, not by reading every row of a bank-sized table (a
contact purge chunk read all 10,000,000 contacts in 2 s; a standings chunk all 10,200,000
standings in 1.4 s). With sequential scans priced out, the plan of each purge statement reads
no table whole, and names the index it is meant to use: an expression that no longer matches
its index's would show here. (Reviewers' verdicts are few: read whole.)"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from services.scorer.contact_data import PURGE_CHUNK, PURGES
from tests.infra import Infra, create_database, drop_database

pytestmark = pytest.mark.integration

INDEXED = {
    "contact_event": "occurred_at",  # monthly partitions, each by its index on the time
    "message": "sent_at",
    "chat_day": "chat_day_asked",
    "contact_removal": "contact_removal_time",
    "employee_contact": "employee_contact_window",
    "relation_standing": "relation_standing_added",
    "contact": "contact_last_fact",
}


def test_every_purge_is_checked() -> None:
    assert set(dict(PURGES)) == {*INDEXED, "contact_verdict"}


@pytest.mark.parametrize("table", sorted(INDEXED))
async def test_a_purge_chunk_is_found_by_its_index(infra: Infra, table: str) -> None:
    database = await create_database(infra)
    try:
        conn = await asyncpg.connect(infra.app_dsn(database))
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_seqscan = off")
                plan = "\n".join(
                    r[0]
                    for r in await conn.fetch(
                        "EXPLAIN " + dict(PURGES)[table],
                        datetime(2024, 12, 1, tzinfo=UTC),
                        PURGE_CHUNK,
                    )
                )
        finally:
            await conn.close()
    finally:
        await drop_database(infra, database)
    assert "Seq Scan" not in plan and INDEXED[table] in plan, plan
