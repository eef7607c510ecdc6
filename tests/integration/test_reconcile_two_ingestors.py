"""Two ingestor replicas (two apps, lifespans and all, on the real test broker, each with its
own reconciliation state, as two hosts have) walk the WeCom API stand-in once a day between
them, over three days that cross a year's end, by the injected clock (`ManualClock`, shared):

- day 1: one replica starts after the slot and walks; the second starts after that walk, with
  empty state of its own: whichever of them the lease goes to, no second walk (the day's run
  is on the lease topic);
- day 2: the holder walks, then stops; the other takes the lease over that same day and does
  not walk again; the stopped replica starts again, also that day, and does not walk either;
- day 3: whichever holds the lease walks.

After each clock move and each change of the group (waited for until Kafka says the group is
stable with its members), the test waits until the holder's schedule has decided at the new
time before going on. Counted three ways: the stand-in's `batch/get_by_user` calls, the
completion markers the runs publish (each says the run's start by the injected clock), and
the runs recorded in each replica's own state."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.ingestor.app import Runtime, create_app
from services.ingestor.reconcile_schedule import ReconcileSchedule
from shared.clock import ManualClock
from shared.settings import Topics
from tests.apps import eventually, running
from tests.clocks import SHANGHAI, shanghai
from tests.infra import Infra, unique
from tests.integration.test_ingestor_enrichment import CORP_ID, SECRET
from tests.integration.test_ingestor_reconcile import markers, populate, settings
from tests.standins.wecom_api import WeComApiStandIn, wecom_api

pytestmark = pytest.mark.integration
SLOT = time(2, 30)  # RECONCILE_DAILY_AT, Asia/Shanghai
DAYS = [date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 1)]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return shanghai(day.year, day.month, day.day, hour, minute)


@dataclass
class Replica:
    name: str
    config: Any
    clock: ManualClock
    schedule: ReconcileSchedule | None = None
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    @property
    def holds(self) -> bool:
        return (
            self.schedule is not None
            and self.schedule.lease is not None
            and (self.schedule.lease.held)
        )

    def succeeded(self) -> list[datetime]:
        """The successful runs in this replica's own state (its reconcile store)."""
        db = sqlite3.connect(self.config.reconcile_state_dir / "reconcile.sqlite3")
        try:
            rows = db.execute("SELECT started_at FROM run WHERE outcome = 'succeeded' ORDER BY id")
            return [datetime.fromisoformat(r[0]) for r in rows]
        finally:
            db.close()


@asynccontextmanager
async def replicas(
    infra: Infra, topics: Topics, tmp: Path, api: WeComApiStandIn, clock: ManualClock
) -> AsyncIterator[dict[str, Replica]]:
    group = unique("lease")
    found: dict[str, Replica] = {}
    for name in ("one", "two"):
        config = settings(infra, topics, tmp / name, api, "state").model_copy(
            update={
                "reconcile_daily_at": SLOT,
                "reconcile_lease_group": group,
                "reconcile_lease_session_seconds": 6.0,
            }
        )
        assert config.tz == SHANGHAI
        found[name] = Replica(name, config, clock)
    try:
        yield found
    finally:
        for replica in found.values():
            await replica.stack.aclose()


async def start(replica: Replica) -> None:
    app = create_app(replica.config, clock=replica.clock)
    await replica.stack.enter_async_context(running(app))
    runtime: Runtime = app.state.runtime
    replica.schedule = runtime.schedule


async def stop(replica: Replica) -> None:
    await replica.stack.aclose()
    replica.stack = AsyncExitStack()
    replica.schedule = None


def probe(read: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def value() -> Any:
        return read()

    return value


async def holder(group: dict[str, Replica]) -> Replica:
    """The one replica holding the lease, once exactly one does."""
    held = await eventually(
        probe(lambda: [r.name for r in group.values() if r.holds]),
        lambda names: len(names) == 1,
        timeout=60,
    )
    return group[held[0]]


async def stable(infra: Infra, group: str, members: int) -> None:
    """Until Kafka says the lease group is stable with `members` members (a replica that
    started has joined, one that stopped has left, and the partition is assigned)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:

        async def state() -> tuple[str, int]:
            [described] = (await admin.describe_consumer_groups([group]))[0].to_object()["groups"]
            return described["state"], len(described["members"])

        await eventually(state, ("Stable", members).__eq__, timeout=60)
    finally:
        await admin.close()


async def decided(group: dict[str, Replica], clock: ManualClock) -> Replica:
    """Until the replica holding the lease has decided at the clock's present instant (its
    schedule looked at its state and the lease topic's, and ran or did not); that replica."""

    def current() -> list[str]:
        return [
            r.name
            for r in group.values()
            if r.holds and r.schedule is not None and r.schedule.last_check == clock()
        ]

    names = await eventually(probe(current), lambda n: len(n) == 1, timeout=60)
    return group[names[0]]


async def test_two_ingestors_walk_once_a_day(infra: Infra, topics: Topics, tmp_path: Path) -> None:
    clock = ManualClock(at(DAYS[0], 2, 31))
    async with (
        wecom_api(CORP_ID, SECRET) as api,
        replicas(infra, topics, tmp_path, api, clock) as group,
    ):
        walks = probe(lambda: api.count("batch/get_by_user"))
        lease = group["one"].config.reconcile_lease_group
        populate(api, 7)
        # day 1: one replica starts after the slot and walks; the second joins after the walk
        await start(group["one"])
        await eventually(walks, lambda n: n == 1, timeout=60)
        await eventually(probe(lambda: len(group["one"].succeeded())), lambda n: n == 1)
        await start(group["two"])
        await stable(infra, lease, 2)
        await decided(group, clock)
        for hour in (9, 18, 23):
            clock.set(at(DAYS[0], hour, 59))
            await decided(group, clock)
        assert await walks() == 1

        # day 2: the holder walks, then stops; the other takes over and does not walk again
        second = await holder(group)
        before = len(second.succeeded())
        clock.set(at(DAYS[1], 2, 31))
        await eventually(walks, lambda n: n == 2, timeout=60)
        await eventually(probe(lambda: len(second.succeeded())), lambda n: n == before + 1)
        clock.set(at(DAYS[1], 10, 0))
        await stop(second)
        await stable(infra, lease, 1)
        other = await decided(group, clock)
        assert other is not second
        # back again the same day, with its own state: whoever holds the lease, no walk
        clock.set(at(DAYS[1], 14, 0))
        await start(second)
        await stable(infra, lease, 2)
        await decided(group, clock)
        for hour in (15, 23):
            clock.set(at(DAYS[1], hour, 59))
            await decided(group, clock)
        assert await walks() == 2

        # day 3, across the year's end: one walk, by whichever holds the lease
        clock.set(at(DAYS[2], 2, 31))
        await eventually(walks, lambda n: n == 3, timeout=60)
        clock.set(at(DAYS[2], 12, 0))
        await decided(group, clock)
        assert await walks() == 3

    # the runs' completion markers: one per day, each at the day's run by the injected clock
    through = [datetime.fromisoformat(m["complete_through"]) for m in await markers(infra, topics)]
    assert [t.astimezone(SHANGHAI).date() for t in through] == DAYS
    assert through == [at(day, 2, 31) for day in DAYS]
    # and in the replicas' own state: three runs between them, none twice the same day
    runs = sorted(t for r in group.values() for t in r.succeeded())
    assert runs == through
