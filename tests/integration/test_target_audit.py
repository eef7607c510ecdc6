"""Targets sent as records on `/v1/events` are audited, on real Kafka and PostgreSQL: the
ingestor names the authenticated sender in the record, and the scorer writes one audit row per
value it changes (before and after), in the batch's transaction; a target sent again, or older
than the stored one, leaves none. A sender cannot claim to be someone else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from services.ingestor.app import create_app as ingestor_app
from services.scorer.app import create_app as scorer_app
from services.scorer.settings import ScorerSettings
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.infra import Infra, unique
from tests.integration.test_slice import AUTH, db_settings, ingestor_settings

pytestmark = pytest.mark.integration

PERIOD = "2026-10"
AT = f.at("2026-10-01")


def target(value: int, at: Any) -> dict[str, Any]:
    return {**f.target("team", "t1", PERIOD, value), "occurred_at": at.isoformat()}


async def test_each_target_change_leaves_one_audit_row_naming_its_sender(
    infra: Infra, topics: Topics, database: str
) -> None:
    scorer_cfg = ScorerSettings(
        topics=topics, scorer_group_id=unique("scorer"), **db_settings(infra, database)
    )
    owner = await asyncpg.connect(infra.owner_dsn(database))
    query = (
        "SELECT actor, role, action, target, before, after FROM audit_log"
        " WHERE action = 'target.set' ORDER BY audit_id"
    )
    try:
        async with (
            running(ingestor_app(ingestor_settings(infra, topics))) as ingestor,
            running(scorer_app(scorer_cfg)),
        ):

            async def send(*records: dict[str, Any]) -> None:
                body = b"\n".join(orjson.dumps(r) for r in records)
                headers = {**AUTH, "Content-Type": "application/x-ndjson"}
                r = await ingestor.post("/v1/events", content=body, headers=headers)
                assert r.status_code == 200, r.text

            async def audited(n: int) -> list[Any]:
                return await eventually(lambda: owner.fetch(query), lambda r: len(r) >= n, 60)

            forged = {**target(5, AT), "submitted_by": {"name": "someone-else", "role": "admin"}}
            refused = await ingestor.post("/v1/events", content=orjson.dumps(forged), headers=AUTH)
            assert refused.status_code == 422
            assert "submitted_by" in refused.text

            await send(f.employee("e1"), target(10, AT))
            [first] = await audited(1)
            assert (first["actor"], first["role"], first["target"]) == (
                "ingest-api-token",
                "ingest",
                f"team:t1:{PERIOD}",
            )
            assert orjson.loads(first["before"]) == {"value": None}
            assert orjson.loads(first["after"])["value"] == 10

            # the same again, and an older record: nothing changes, nothing is audited; then a
            # newer value: one more row, with the value it replaced
            await send(target(10, AT), target(3, AT - timedelta(days=1)))
            await send(target(12, AT + timedelta(days=1)))
            rows = await audited(2)
            assert [orjson.loads(r["after"])["value"] for r in rows] == [10, 12]
            assert orjson.loads(rows[1]["before"]) == {"value": 10}
            stored = await owner.fetchval(
                "SELECT value FROM target WHERE scope = 'team' AND scope_id = 't1'"
            )
            assert stored == 12
    finally:
        await owner.close()
