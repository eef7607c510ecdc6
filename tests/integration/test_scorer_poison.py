"""A record that passes validation but that the store refuses (forced here by a constraint the
test adds) is isolated from its batch: it alone goes to the dead-letter topic with the error,
and every other record of the batch and of the partition is applied without waiting behind
it. After the fix (the constraint dropped), the documented command replays it, once."""

from __future__ import annotations

import asyncpg
import pytest

from services.scorer.app import create_app
from shared.dead_letters import replay
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.infra import Infra
from tests.integration.conftest import scorer_settings
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration
POISON = "e-poison"


async def employees(infra: Infra, database: str) -> set[str]:
    conn = await asyncpg.connect(infra.app_dsn(database))
    try:
        return {r["employee_id"] for r in await conn.fetch("SELECT employee_id FROM employee")}
    finally:
        await conn.close()


async def test_a_record_the_store_refuses_is_dead_lettered_alone_and_replayed_after_the_fix(
    infra: Infra, topics: Topics, database: str
) -> None:
    owner = await asyncpg.connect(infra.owner_dsn(database))
    try:
        await owner.execute(
            f"ALTER TABLE employee ADD CONSTRAINT poison_for_the_test "
            f"CHECK (employee_id <> '{POISON}')"
        )
        before = [f.employee(f"e{i:02d}") for i in range(20)]
        after = [f.employee(f"e{i:02d}") for i in range(20, 40)]
        # one partition, one batch: the poison sits in the middle of what the scorer reads
        await produce(infra, topics.bank_records, [*before, f.employee(POISON), *after], "org")
        expected = {f"e{i:02d}" for i in range(40)}
        async with running(create_app(scorer_settings(infra, topics, database))):
            applied = await eventually(
                lambda: employees(infra, database), lambda got: expected <= got, timeout=60
            )
            assert POISON not in applied
            [dead] = await read_topic(infra, topics.dlq(topics.bank_records), expect=1)
            assert dead["topic"] == topics.bank_records and dead["offset"] == 20
            assert "poison_for_the_test" in dead["error"] and POISON in dead["value"]
            # a later record on the same partition is not held up either
            await produce(infra, topics.bank_records, [f.employee("e-later")], "org")
            await eventually(
                lambda: employees(infra, database), lambda got: "e-later" in got, timeout=30
            )

            await owner.execute("ALTER TABLE employee DROP CONSTRAINT poison_for_the_test")
            dlq = topics.dlq(topics.bank_records)
            assert await replay(infra.kafka_bootstrap, dlq, "replay-test", dry_run=False) == 1
            await eventually(
                lambda: employees(infra, database), lambda got: POISON in got, timeout=30
            )
            # run again, it replays nothing twice
            assert await replay(infra.kafka_bootstrap, dlq, "replay-test", dry_run=False) == 0
    finally:
        await owner.close()
