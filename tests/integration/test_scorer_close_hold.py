"""A period closes when its inputs are complete, not when the clock says so (real Kafka and
PostgreSQL, the scorer's schedule running on an injected clock):

- a past month streamed after its deadline is held while its contact events still arrive and
  while lookups are outstanding: no TargetMissed until it is complete, then exactly one per
  employee who missed, through the notifier; ops hear CloseHeld once, then its resolution;
- WeCom data going stale midway holds the close; it closes once data arrives again;
- with a required bank source, the month waits for that source's `source_watermark`; the API's
  close answers 409 with the reasons meanwhile, and `?force=true` closes anyway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.scorer.app import create_app as scorer_app
from shared.calendar import PeriodKind
from shared.clock import ManualClock, offset_to, shifted_clock
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.clocks import shanghai
from tests.infra import Infra, unique
from tests.integration.conftest import scorer_settings
from tests.integration.test_slice import db_settings
from tests.kafka_helpers import produce, read_topic
from tests.standins.webhook_sink import webhook_sink

pytestmark = pytest.mark.integration
OCTOBER = "2026-10"
# a Friday morning, twelve days after October's deadline (end + 8 days' grace)
NOW = shanghai(2026, 11, 20, 10)
IDLE = timedelta(minutes=30)
TARGETS = {"e1": 2, "e2": 1, "e3": 5}  # e3 misses: 1 valid add against 5


def october_adds() -> list[list[dict[str, Any]]]:
    """October's adds, per employee, in three chunks a day apart in event time."""
    return [
        [f.add("e1", "wo-1", f.at("2026-10-09")), f.add("e3", "wo-5", f.at("2026-10-09"))],
        [f.add("e1", "wo-2", f.at("2026-10-16")), f.add("e2", "wo-3", f.at("2026-10-16"))],
        [f.add("e2", "wo-4", f.at("2026-10-23"))],
    ]


@dataclass
class Stack:
    scorer: httpx.AsyncClient
    clock: ManualClock
    topics: Topics
    infra: Infra

    async def stream(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            key = r.get("UserID") or r.get("employee_id") or "org"
            topic = self.topics.contact_events if r["type"] == "contact_event" else None
            await produce(self.infra, topic or self.topics.bank_records, [r], key=str(key))

    async def held(self) -> list[str]:
        r = await self.scorer.post(f"/v1/periods/{OCTOBER}/close")
        if r.status_code == 200:
            return []
        assert r.status_code == 409, r.text
        return list(r.json()["held"])

    async def breaches(self, alertname: str) -> list[dict[str, Any]]:
        found = await read_topic(self.infra, self.topics.breaches, expect=10_000, timeout_ms=1500)
        return [b for b in found if b["alertname"] == alertname]


@asynccontextmanager
async def stack(
    infra: Infra, topics: Topics, database: str, **overrides: Any
) -> AsyncIterator[Stack]:
    clock = ManualClock(NOW)
    settings = scorer_settings(
        infra,
        topics,
        database,
        close_period_kinds=[PeriodKind.MONTH],
        schedule_interval_seconds=0.2,
        **overrides,
    )
    async with running(scorer_app(settings, clock=clock)) as client:
        yield Stack(client, clock, topics, infra)


async def org(s: Stack) -> None:
    await s.stream(
        [
            *(f.employee(e) for e in TARGETS),
            *(f.target("employee", e, OCTOBER, n) for e, n in TARGETS.items()),
        ]
    )


def profiles() -> list[dict[str, Any]]:
    return f.profiles_for(a for chunk in october_adds() for a in chunk)


async def consumed(s: Stack, adds: int) -> None:
    """Until the scorer has applied `adds` of October's adds (before the test moves its clock:
    a batch applied after the move would count as recent)."""

    async def gross() -> int:
        body = (await s.scorer.get("/v1/scores", params={"period": OCTOBER})).json()
        return sum(e["gross_adds"] for e in body["employees"])

    await eventually(gross, lambda n: n >= adds, timeout=30)


async def closed(s: Stack) -> None:
    async def state() -> bool:
        body = (await s.scorer.get("/v1/scores", params={"period": OCTOBER})).json()
        return bool(body["closed"])

    await eventually(state, bool, timeout=30)


async def test_a_backfilled_month_closes_once_complete_and_tells_each_miss_once(
    infra: Infra, topics: Topics, database: str
) -> None:
    async with AsyncExitStack() as exits:
        sink = await exits.enter_async_context(webhook_sink())
        notifier = notifier_app(
            NotifierSettings(
                topics=topics,
                notifier_group_id=unique("notifier"),
                notifier_webhook_url=sink.url,
                **db_settings(infra, database),
            ),
            clock=shifted_clock(offset_to(NOW)),  # as of the same day; its time passes
        )
        await exits.enter_async_context(running(notifier))
        s = await exits.enter_async_context(stack(infra, topics, database))
        await org(s)
        for chunk in october_adds():  # the backfill arrives; the clock stands still
            await s.stream(chunk)
            await asyncio.sleep(0.5)
            held = await s.held()
            assert any(h.startswith("contact_watermark") for h in held), held
        assert await s.breaches("TargetMissed") == []

        await consumed(s, 5)
        s.clock.advance(IDLE + timedelta(minutes=1))  # the partitions go quiet...
        await asyncio.sleep(1.0)
        held = await s.held()
        assert held and all(h.startswith("profile_unknown") for h in held), held  # ...lookups
        assert await s.breaches("TargetMissed") == []

        await s.stream(profiles())  # every lookup answered: complete
        await closed(s)
        missed = await s.breaches("TargetMissed")
        assert [(b["employee_id"], b["status"]) for b in missed] == [("e3", "firing")]
        held_notices = await s.breaches("CloseHeld")
        assert sorted(b["status"] for b in held_notices) == ["firing", "resolved"]
        await sink.wait_for(1, timeout=30)

        async def target_missed() -> list[str]:
            return [
                a["labels"]["employee_id"]
                for body in sink.received
                for a in body["alerts"]
                if a["labels"]["alertname"] == "TargetMissed"
            ]

        await eventually(target_missed, lambda told: told == ["e3"])


async def test_stale_wecom_data_holds_the_close_until_data_arrives_again(
    infra: Infra, topics: Topics, database: str
) -> None:
    async with stack(infra, topics, database, data_stale_working_hours=0.75) as s:
        await org(s)
        await s.stream(profiles())
        first, second, third = october_adds()
        await s.stream(first + second)
        await consumed(s, 4)
        s.clock.advance(timedelta(hours=1))  # WeCom goes quiet for a working hour
        await asyncio.sleep(1.0)
        assert await s.held() == ["data_stale"]
        assert await s.breaches("TargetMissed") == []
        await s.stream(third)  # data arrives again...
        await consumed(s, 5)
        s.clock.advance(IDLE + timedelta(minutes=1))  # ...and the partitions go quiet
        await closed(s)
        missed = await s.breaches("TargetMissed")
        assert [b["employee_id"] for b in missed] == ["e3"]


async def test_a_required_source_holds_the_month_until_its_watermark(
    infra: Infra, topics: Topics, database: str
) -> None:
    async with stack(infra, topics, database, close_required_sources=["crm"]) as s:
        await org(s)
        await s.stream(profiles())
        for chunk in october_adds():
            await s.stream(chunk)
        await consumed(s, 5)
        s.clock.advance(IDLE + timedelta(minutes=1))
        await asyncio.sleep(1.0)
        assert await s.held() == ["source_watermark:crm"]
        assert await s.breaches("TargetMissed") == []
        through = shanghai(2026, 11, 1, 0).isoformat()
        await s.stream([{"type": "source_watermark", "source": "crm", "complete_through": through}])
        await closed(s)
        assert [b["employee_id"] for b in await s.breaches("TargetMissed")] == ["e3"]


async def test_force_closes_a_held_month_and_says_so(
    infra: Infra, topics: Topics, database: str
) -> None:
    async with stack(infra, topics, database, close_required_sources=["crm"]) as s:
        await org(s)
        r = await s.scorer.post(f"/v1/periods/{OCTOBER}/close")
        assert r.status_code == 409 and "source_watermark:crm" in r.json()["held"]
        forced = await s.scorer.post(f"/v1/periods/{OCTOBER}/close", params={"force": "true"})
        assert forced.status_code == 200 and forced.json()["closed"] is True
        assert forced.json()["forced_past"] == r.json()["held"]
