"""What the scorer does because time passes, on real Kafka and PostgreSQL: periods closed at
their configured deadline once (a restarted schedule neither re-closes nor skips), PaceBehind
at the configured working-day checkpoints, DataStale counted in working hours only.

The scorer app consumes the records (its own schedule is configured to do nothing here); the
test drives a second `Schedule`, as a restarted process would run it, with chosen clocks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from faststream.kafka import KafkaBroker
from pydantic import SecretStr

from services.ingestor.reconciliation import removal_event
from services.scorer.app import create_app
from services.scorer.closing import PeriodCloser
from services.scorer.schedule import Schedule
from services.scorer.scoring import Scorer
from services.scorer.settings import ScorerSettings
from shared.calendar import BusinessCalendar, PeriodKind
from shared.clock import ManualClock
from shared.db import create_pool
from shared.kafka import make_broker
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.infra import Infra, unique
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@dataclass
class Stack:
    client: httpx.AsyncClient
    pool: asyncpg.Pool
    broker: KafkaBroker
    settings: ScorerSettings

    def schedule(self, checkpoints: tuple[int, ...] = (2, 10)) -> Schedule:
        """A fresh Schedule, as a restarted scorer builds it: all it knows is in PostgreSQL."""
        # every step below is given its moment (`now`); the clock only backs that up
        clock = ManualClock(local("2026-10-15T12:00"))
        scorer = Scorer(
            self.settings.rules(),
            BusinessCalendar(tz=SHANGHAI),
            clock=clock,
            inputs_group=self.settings.scorer_group_id,
        )
        closer = PeriodCloser(scorer, self.broker, self.settings.topics.breaches)
        return Schedule(
            lambda: self.pool,
            scorer,
            closer,
            frozenset({PeriodKind.MONTH, PeriodKind.QUARTER}),
            timedelta(hours=192),
            checkpoints,
            4.0,
        )


@pytest.fixture
async def stack(infra: Infra, topics: Topics, database: str) -> AsyncIterator[Stack]:
    settings = ScorerSettings(
        topics=topics,
        scorer_group_id=unique("scorer"),
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        database_url=SecretStr(infra.app_dsn(database)),
        database_migration_url=SecretStr(infra.owner_dsn(database)),
        close_period_kinds=[],
        pace_checkpoints=[],
        schedule_interval_seconds=3600,
    )
    broker = make_broker(infra.kafka_bootstrap, "test-schedule")
    async with running(create_app(settings)) as client:
        pool = await create_pool(infra.app_dsn(database), 2)
        await broker.start()
        try:
            yield Stack(client, pool, broker, settings)
        finally:
            await broker.stop()
            await pool.close()


async def month_scores(stack: Stack, check: Any) -> dict[str, dict[str, Any]]:
    async def probe() -> dict[str, dict[str, Any]]:
        body = (await stack.client.get("/v1/scores", params={"period": "2026-09"})).json()
        return {e["employee_id"]: e for e in body["employees"]}

    return await eventually(probe, check, timeout=30)


async def breaches(infra: Infra, topics: Topics, alertname: str, expect: int) -> list[Any]:
    found = await read_topic(infra, topics.breaches, expect=0, timeout_ms=3000)
    return [b for b in found if b["alertname"] == alertname]


async def test_periods_close_at_the_deadline_once_across_restarts(
    infra: Infra, topics: Topics, stack: Stack
) -> None:
    await produce(
        infra,
        topics.bank_records,
        [
            f.employee("e1"),
            f.employee("e2"),
            f.target("employee", "e1", "2026-09", 3),
            f.target("employee", "e2", "2026-09", 1),
            f.profile("wm-1"),
            f.profile("wm-2"),
        ],
    )
    await produce(
        infra,
        topics.contact_events,
        [f.add("e1", "wm-1", f.at("2026-09-07")), f.add("e2", "wm-2", f.at("2026-09-08"))],
    )
    await month_scores(stack, lambda s: s.get("e2", {}).get("valid_adds") == 1)

    deadline = local("2026-10-01T00:00") + timedelta(hours=192)
    async with stack.pool.acquire() as conn:
        await stack.schedule().close_due(conn, deadline - timedelta(minutes=1))
        assert await conn.fetch("SELECT * FROM period_close") == []
        # the schedule was down at the deadline: the first run after it closes, once
        await stack.schedule().close_due(conn, deadline + timedelta(days=3))
        closed = {r["period"]: r for r in await conn.fetch("SELECT * FROM period_close")}
        assert sorted(closed) == ["2026-09", "2026-Q3"]  # weeks and days are not configured
        assert {r["closed_by"] for r in closed.values()} == {"schedule"}
        audited = (
            "SELECT actor, role, action, target, after FROM audit_log"
            " WHERE action LIKE 'period.%' ORDER BY target"
        )
        rows = await conn.fetch(audited)
        assert [(r["actor"], r["role"], r["action"], r["target"]) for r in rows] == [
            ("schedule", "admin", "period.close", "2026-09"),
            ("schedule", "admin", "period.close", "2026-Q3"),
        ]  # each in the close's own transaction, with what it decided
        assert all(r["after"]["closed"] for r in rows)  # the pool decodes jsonb
        # restarted later: nothing is closed again
        await stack.schedule().close_due(conn, deadline + timedelta(days=40))
        again = {
            r["period"]: r["closed_at"] for r in await conn.fetch("SELECT * FROM period_close")
        }
        assert again == {p: r["closed_at"] for p, r in closed.items()}
        assert len(await conn.fetch(audited)) == 2
        outcomes = await conn.fetch(
            "SELECT employee_id, status, revision FROM period_outcome WHERE period = '2026-09'"
        )
        assert sorted(tuple(r) for r in outcomes) == [("e1", "missed", 0), ("e2", "met", 0)]
    month = await month_scores(stack, lambda s: s["e1"]["status"] == "missed")
    assert month["e2"]["status"] == "met"
    missed = await breaches(infra, topics, "TargetMissed", 1)
    assert [(b["employee_id"], b["period"], b["status"]) for b in missed] == [
        ("e1", "2026-09", "firing")
    ]


async def test_pace_behind_at_the_configured_working_day_checkpoints(
    infra: Infra, topics: Topics, stack: Stack
) -> None:
    await produce(
        infra,
        topics.bank_records,
        [
            f.employee("e1"),
            f.employee("e2"),
            f.target("employee", "e1", "2026-09", 50),
            f.target("employee", "e2", "2026-09", 2),
            *(f.profile(f"wm-{i}") for i in range(1, 5)),
        ],
    )
    await produce(
        infra,
        topics.contact_events,
        [
            f.add("e1", "wm-1", f.at("2026-09-01")),
            f.add("e1", "wm-2", f.at("2026-09-02")),
            f.add("e2", "wm-3", f.at("2026-09-01")),
            f.add("e2", "wm-4", f.at("2026-09-02")),
        ],
    )
    await month_scores(stack, lambda s: s.get("e2", {}).get("valid_adds") == 2)
    # September 2026: the 2nd working day is 09-02, the 10th is 09-14 (weekends skipped)
    async with stack.pool.acquire() as conn:
        await stack.schedule().pace_checkpoints(conn, local("2026-09-02T17:59"))
        assert await conn.fetch("SELECT * FROM scheduler_mark WHERE mark LIKE 'pace:%'") == []
        await stack.schedule().pace_checkpoints(conn, local("2026-09-03T09:00"))
        await stack.schedule().pace_checkpoints(conn, local("2026-09-07T09:00"))  # restarted
        await stack.schedule().pace_checkpoints(conn, local("2026-09-14T18:01"))
        marks = await conn.fetch("SELECT mark FROM scheduler_mark WHERE mark LIKE 'pace:%'")
        assert sorted(r["mark"] for r in marks) == ["pace:2026-09:10", "pace:2026-09:2"]
    behind = await breaches(infra, topics, "PaceBehind", 2)
    # e2 has met its target; e1's 2 adds against 50 are behind the pace due at each checkpoint
    assert sorted((b["employee_id"], b["values"]["checkpoint_working_day"]) for b in behind) == [
        ("e1", 2),
        ("e1", 10),
    ]
    assert len({b["event_id"] for b in behind}) == 2
    at_2 = next(b for b in behind if b["values"]["checkpoint_working_day"] == 2)
    assert at_2["values"]["pace"] == pytest.approx(2 / (50 * 2 / 22), abs=1e-3)
    assert {b["status"] for b in behind} == {"firing"}

    # e1's target is lowered: no longer behind, the PaceBehind clears with one resolved notice
    await produce(infra, topics.bank_records, [f.target("employee", "e1", "2026-09", 2)])
    await month_scores(stack, lambda s: s["e1"]["target"] == 2)
    async with stack.pool.acquire() as conn:
        for _ in range(2):  # the next run sends nothing again
            await stack.schedule().pace_checkpoints(conn, local("2026-09-15T09:00"))
    cleared = [
        b for b in await breaches(infra, topics, "PaceBehind", 3) if b["status"] == "resolved"
    ]
    assert [(b["employee_id"], b["period"]) for b in cleared] == [("e1", "2026-09")]


async def test_data_stale_counts_working_hours_not_nights_or_holidays(
    infra: Infra, topics: Topics, stack: Stack
) -> None:
    await produce(infra, topics.contact_events, [f.add("e1", "wm-1", f.at("2026-09-30"))])

    async def watermark() -> Any:
        return await stack.pool.fetchval(
            "SELECT last_received_at FROM ingest_watermark WHERE source = 'contact_events'"
        )

    await eventually(watermark, lambda v: v is not None)

    async def last_received(at: datetime) -> None:
        await stack.pool.execute(
            "UPDATE ingest_watermark SET last_received_at = $1 WHERE source = 'contact_events'",
            at,
        )

    # the last event came in at 17:30 before the National Day week (10-01..10-07 holidays)
    await last_received(local("2026-09-30T17:30"))
    async with stack.pool.acquire() as conn:
        await stack.schedule().data_freshness(conn, local("2026-10-07T20:00"))  # 0.5 h
        assert await conn.fetch("SELECT * FROM scheduler_mark") == []
        await stack.schedule().data_freshness(conn, local("2026-10-08T13:30"))  # 4.5 h
        await stack.schedule().data_freshness(conn, local("2026-10-08T13:40"))  # restarted
        # data again at 14:00; the episode resolves
        await last_received(local("2026-10-08T14:00"))
        await stack.schedule().data_freshness(conn, local("2026-10-08T14:05"))
        # a quiet night is not stale: 17:50 → 08:59 next day is 10 working minutes
        await last_received(local("2026-10-08T17:50"))
        await stack.schedule().data_freshness(conn, local("2026-10-09T08:59"))
    # the nightly reconciliation's corrections are not WeCom's live stream
    correction = removal_event("ww-test-corp", ("e1", "wm-1"), 0, local("2026-10-09T02:30"))
    await produce(infra, topics.contact_events, [correction.to_json()], key="e1")

    async def removals() -> Any:
        return await stack.pool.fetchval("SELECT count(*) FROM contact_removal")

    await eventually(removals, lambda n: n == 1)
    assert await watermark() == local("2026-10-08T17:50")
    stale = await breaches(infra, topics, "DataStale", 2)
    assert [
        (b["status"], datetime.fromisoformat(b["values"]["last_received_at"])) for b in stale
    ] == [
        ("firing", local("2026-09-30T17:30")),
        ("resolved", local("2026-10-08T14:00")),
    ]
    assert stale[0]["values"]["working_hours"] == pytest.approx(4.5, abs=0.6)


async def test_an_anomaly_flag_clears_once_and_can_be_raised_again(
    infra: Infra, topics: Topics, stack: Stack
) -> None:
    clock = ManualClock(local("2026-09-20T10:00"))
    scorer = Scorer(
        stack.settings.rules(),
        BusinessCalendar(tz=SHANGHAI),
        clock=clock,
        inputs_group=stack.settings.scorer_group_id,
    )
    closer = PeriodCloser(scorer, stack.broker, stack.settings.topics.breaches)

    def row(score: float) -> dict[str, Any]:
        return {
            "employee_id": "e1",
            "period": "2026-09",
            "flagged": score >= 40,
            "anomaly_score": score,
            "reasons": [{"code": "QUICK_DELETE", "contribution": score, "evidence": {}}],
            "supervisor_id": "s1",
            "team_id": "t1",
            "branch_id": "b1",
        }

    async with stack.pool.acquire() as conn:
        for score in (55.0, 60.0, 10.0, 5.0, 70.0):  # flagged, still, cleared, still, again
            async with conn.transaction():
                await closer.flag_anomalies(conn, [row(score)])
    sent = await breaches(infra, topics, "AnomalyFlagged", 3)
    assert [(b["status"], b["values"]["anomaly_score"]) for b in sent] == [
        ("firing", 55.0),
        ("resolved", 10.0),
        ("firing", 70.0),
    ]
    assert len({b["event_id"] for b in sent}) == 3  # the second flag is a new alert
