"""The scorer's roles on real Kafka and PostgreSQL: a `stream` process consumes and keeps the
scores current without serving the read API, and an `api` process beside it serves the same
database's scores (closes included) without consuming anything."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.scorer.app import create_app
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.infra import Infra
from tests.integration.conftest import scorer_settings
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration

PERIOD = "2026-09"


async def month(reader: Any) -> dict[str, Any]:
    """The month's rows by employee, as the read API serves them."""
    body = (await reader.get("/v1/scores", params={"period": PERIOD})).json()
    return {e["employee_id"]: e for e in body["employees"]}


async def test_a_stream_process_and_an_api_process_share_the_work(
    infra: Infra, topics: Topics, database: str
) -> None:
    stream = create_app(scorer_settings(infra, topics, database, scorer_role="stream"))
    api_settings = scorer_settings(infra, topics, database, scorer_role="api")
    api = create_app(api_settings)
    async with running(stream) as streaming, running(api) as reader:
        assert (await streaming.get("/v1/scores", params={"period": PERIOD})).status_code == 404
        assert (await streaming.get("/healthz")).status_code == 200
        await produce(infra, topics.bank_records, [f.employee("e1"), f.employee("e2")])
        await produce(
            infra,
            topics.contact_events,
            [f.add("e1", "wm-a", datetime(2026, 9, 10, 2, tzinfo=UTC))],
        )

        rows = await eventually(
            lambda: month(reader), lambda r: r.get("e1", {}).get("gross_adds") == 1
        )
        assert rows["e2"]["gross_adds"] == 0  # a row for everyone active, as in the all role
        assert (await reader.get("/readyz")).status_code == 200
    # the API process (a group of its own here) consumed nothing
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        groups = await conn.fetch("SELECT DISTINCT consumer_group FROM consumer_offset")
    finally:
        await conn.close()
    assert api_settings.scorer_group_id not in {r["consumer_group"] for r in groups}
    assert groups


async def test_consume_and_refresh_processes_split_the_stream_work(
    infra: Infra, topics: Topics, database: str
) -> None:
    """`consume` keeps the quota and quality figures current (kept by deltas) and recomputes
    nothing; a `refresh` process started beside it recomputes the anomaly scores from the same
    database."""
    consume = create_app(scorer_settings(infra, topics, database, scorer_role="consume"))
    refresh = create_app(
        scorer_settings(infra, topics, database, scorer_role="refresh", scorer_refresh_nice=0)
    )
    api = create_app(scorer_settings(infra, topics, database, scorer_role="api"))
    async with running(consume) as consuming, running(api) as reader:
        assert (await consuming.get("/v1/scores", params={"period": PERIOD})).status_code == 404
        await produce(infra, topics.bank_records, [f.employee("e1")])
        await produce(
            infra,
            topics.contact_events,
            [f.add("e1", "wm-a", datetime(2026, 9, 10, 2, tzinfo=UTC))],
        )

        rows = await eventually(
            lambda: month(reader), lambda r: r.get("e1", {}).get("gross_adds") == 1
        )
        assert rows["e1"]["quality_score"] is not None  # from the counters, in the batch
        assert rows["e1"]["quality"]["retention"] == 1.0  # kept since September
        conn = await asyncpg.connect(infra.app_dsn(database))
        try:

            async def waiting() -> int:
                return int(
                    await conn.fetchval("SELECT count(*) FROM score_dirty WHERE employee_id = 'e1'")
                )

            assert await waiting() > 0  # its anomaly: nobody recomputes, no refresh running
            async with running(refresh) as refreshing:
                scores = await refreshing.get("/v1/scores", params={"period": PERIOD})
                assert scores.status_code == 404
                assert await eventually(waiting, lambda n: n == 0) == 0
        finally:
            await conn.close()
        rows = await month(reader)
        assert rows["e1"]["gross_adds"] == 1
