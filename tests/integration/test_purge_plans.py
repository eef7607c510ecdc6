"""The retention purge runs chunk after chunk under the hold that stops the consumer: each
chunk must find its rows by an index, not by reading every row of a bank-sized table (a
contact purge chunk read all 10,000,000 contacts in 2 s; a standings chunk all 10,200,000
standings in 1.4 s). With sequential scans priced out, the plan of each such statement names
its index: an expression that no longer matches its index's would show here."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from services.scorer.contact_data import PURGE_CHUNK, PURGES
from tests.infra import Infra, create_database, drop_database

pytestmark = pytest.mark.integration

INDEXED = {"relation_standing": "relation_standing_added", "contact": "contact_last_fact"}


@pytest.mark.parametrize("table", sorted(INDEXED))
async def test_a_purge_chunk_is_found_by_its_index(infra: Infra, table: str) -> None:
    database = await create_database(infra)
    try:
        conn = await asyncpg.connect(infra.app_dsn(database))
        try:
            statement = dict(PURGES)[table]
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_seqscan = off")
                plan = "\n".join(
                    r[0]
                    for r in await conn.fetch(
                        "EXPLAIN " + statement, datetime(2024, 12, 1, tzinfo=UTC), PURGE_CHUNK
                    )
                )
        finally:
            await conn.close()
    finally:
        await drop_database(infra, database)
    assert INDEXED[table] in plan, plan
