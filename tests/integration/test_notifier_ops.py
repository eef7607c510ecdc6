"""Ops notices through real Kafka and PostgreSQL: a held close (`CloseHeld`) reaches the ops
webhook once per period, however often the scorer says so, with what is held, why and how to
close anyway; the period's close resolves it, and ops hear that too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.schemas import AlertName, BreachEvent
from shared.settings import Topics
from tests.apps import eventually
from tests.infra import Infra, unique
from tests.integration.test_notifier_delivery import (
    FAST,
    alerts,
    make_settings,
    notifier,
    publish,
    query,
)
from tests.standins.webhook_sink import webhook_sink

pytestmark = pytest.mark.integration
PERIOD = "2026-10"


def close_held(status: str, reasons: list[str], event_id: str | None = None) -> BreachEvent:
    return BreachEvent(
        event_id=event_id or BreachEvent.make_id(AlertName.CLOSE_HELD, None, PERIOD, status),
        occurred_at=datetime(2026, 11, 5, 1, tzinfo=UTC),
        alertname=AlertName.CLOSE_HELD,
        status=status,
        period=PERIOD,
        summary="close held" if status == "firing" else "closed once complete",
        values={"reasons": reasons},
    )


def ops_config(hook: str) -> dict[str, Any]:
    return {
        "timing": FAST,
        "ops_recipients": ["ops_duty"],
        "routes": [
            {
                "name": "ops-notices",
                "match": {"alertname": ["DataStale", "CloseHeld"]},
                "channels": ["webhook"],
                "webhook_url": hook,
            },
            {"channels": ["log"]},
        ],
    }


async def test_a_held_close_reaches_ops_once_and_its_resolution_follows(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with webhook_sink() as ops:
        group = unique("notifier")
        settings = make_settings(infra, topics, database, tmp_path, ops_config(ops.url), group)
        held = close_held("firing", ["source_watermark:crm", "profile_unknown:12"])
        # sent twice (a scorer replay), then again under a new id with a changed reason
        updated = close_held("firing", ["source_watermark:crm"], event_id="breach:held-again")
        async with notifier(settings) as client:
            await publish(infra, topics.breaches, [held, held, updated])
            await ops.wait_for(1)

            async def consumed() -> int:
                rows = await query(
                    infra,
                    database,
                    "SELECT coalesce(sum(next_offset), 0) AS n FROM consumer_offset "
                    "WHERE consumer_group = $1",
                    group,
                )
                return int(rows[0]["n"])

            async def unsent() -> list[Any]:
                sql = "SELECT 1 FROM notice_outbox WHERE state IN ('pending', 'queued')"
                return await query(infra, database, sql)

            await eventually(consumed, lambda n: n == 3)
            await eventually(unsent, lambda rows: rows == [])
            assert len(ops.received) == 1
            sent = ops.received[0]["alerts"]
            assert [(a["status"], a["labels"]) for a in sent] == [
                ("firing", {"alertname": "CloseHeld", "period": PERIOD})
            ]
            summary = sent[0]["annotations"]["summary"]
            assert f"the close of {PERIOD} is held" in summary
            assert "bank source crm has not declared itself complete" in summary
            assert "12 contacts added in the period still wait" in summary
            assert f"POST /v1/periods/{PERIOD}/close?force=true" in summary
            # the period closes: the scorer resolves the hold, ops hear it once
            resolved = close_held("resolved", [])
            await publish(infra, topics.breaches, [resolved, resolved])
            await ops.wait_for(2)
            found = await eventually(
                lambda: alerts(client),
                lambda a: all(x["resolved_at"] for x in a if x["status"] == "firing"),
            )
        assert len(ops.received) == 2
        [cleared] = ops.received[1]["alerts"]
        assert cleared["status"] == "resolved"
        assert cleared["labels"]["alertname"] == "CloseHeld"
        assert "no longer held" in cleared["annotations"]["summary"]
        assert sorted(a["status"] for a in found) == ["firing", "firing", "resolved"]
        # no supervisor and no catch-all: only the ops route's webhook heard of it
        notices = await query(infra, database, "SELECT DISTINCT channel FROM notice_outbox")
        assert [n["channel"] for n in notices] == ["webhook"]
