"""Two notifier processes on one database (one consumer group): the outbox is worked with
`FOR UPDATE SKIP LOCKED`, so each digest is claimed by one of them and sent once."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Topics
from tests.apps import eventually
from tests.infra import Infra, unique
from tests.integration.test_notifier_delivery import (
    FAST,
    breach,
    make_settings,
    notifier,
    publish,
    query,
)
from tests.standins.webhook_sink import webhook_sink

pytestmark = pytest.mark.integration
ALERTS = 60


async def test_two_workers_send_each_digest_once(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with webhook_sink() as sink:
        group = unique("notifier")
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            {"timing": FAST},
            group=group,
            notifier_webhook_url=sink.url,
        )
        async with notifier(settings), notifier(settings):
            await publish(infra, topics.breaches, [breach(f"e{i:02d}") for i in range(ALERTS)])
            await sink.wait_for(ALERTS)

            async def open_digests() -> int:
                rows = await query(
                    infra, database, "SELECT count(*) AS n FROM notice_digest WHERE state <> 'sent'"
                )
                return int(rows[0]["n"])

            await eventually(open_digests, lambda n: n == 0)
        keys = [h["idempotency-key"] for h in sink.headers]
        assert len(keys) == ALERTS and len(set(keys)) == ALERTS  # none twice
        log = await query(
            infra,
            database,
            "SELECT digest_id, count(*) AS n FROM notice_delivery_log WHERE outcome = 'sent' "
            "GROUP BY digest_id HAVING count(*) > 1",
        )
        assert log == []
