"""One reconciliation runner among the ingestor replicas (services/ingestor/reconcile_lease.py),
on the real test broker:

- replicas holding the lease by turns never run at once, while replicas join and take the
  lease from the holder mid-run (its revocation waits until its run stopped at its next
  check) and holders leave the group mid-run (their run stops at its next check), the lease
  going to a remaining replica;
- two ingestor schedules, both due, with the lease: only the holder runs, and the other,
  taking the lease over, reads the day's run on the lease topic and runs only the next day."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.ingestor.reconcile import RunResult
from services.ingestor.reconcile_lease import LeaseLost, ReconcileLease
from services.ingestor.reconcile_schedule import ReconcileSchedule
from services.ingestor.reconcile_store import ReconcileStore
from shared.clock import ManualClock
from shared.settings import CommonSettings, Topics
from tests.apps import eventually
from tests.infra import Infra, unique

pytestmark = pytest.mark.integration
SESSION = 6.0  # seconds: the broker's least (group.min.session.timeout.ms)


def lease_of(infra: Infra, topics: Topics, group: str, member: str) -> ReconcileLease:
    spec = CommonSettings().topic_specs([topics.reconcile_lease])[0]
    return ReconcileLease(infra.kafka_bootstrap, spec, group, SESSION, member)


@dataclass
class Runs:
    """Every run's (member, start, end), and any moment two ran at once."""

    active: set[str] = field(default_factory=set)
    done: list[tuple[str, float, float]] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)


async def runner(member: str, lease: ReconcileLease, runs: Runs, stop: asyncio.Event) -> None:
    """A replica's loop: whenever it holds the lease, a run of ten steps, checking each."""
    while not stop.is_set():
        if not lease.held:
            await asyncio.sleep(0.05)
            continue
        try:
            async with lease.running():
                if runs.active:
                    runs.overlaps.append(f"{member} started while {runs.active} ran")
                runs.active.add(member)
                started = time.monotonic()
                try:
                    for _ in range(10):
                        await asyncio.sleep(0.05)
                        lease.check()
                finally:
                    runs.active.discard(member)
                    runs.done.append((member, started, time.monotonic()))
        except LeaseLost:
            pass


async def test_replicas_never_run_at_once_and_the_lease_moves(infra: Infra, topics: Topics) -> None:
    group = unique("lease")
    runs, stop = Runs(), asyncio.Event()
    leases: dict[str, ReconcileLease] = {}
    tasks: dict[str, asyncio.Task[None]] = {}
    held_at_once: list[int] = []

    async def start(member: str) -> None:
        leases[member] = lease_of(infra, topics, group, member)
        await leases[member].start()
        tasks[member] = asyncio.create_task(runner(member, leases[member], runs, stop))

    async def stop_member(member: str) -> None:
        """The replica's Kafka session ends first, its loop (mid-run, perhaps) only after."""
        await leases.pop(member).stop()
        await asyncio.sleep(0.2)
        tasks.pop(member).cancel()

    async def watch_held() -> None:
        while not stop.is_set():
            held_at_once.append(sum(1 for lease in leases.values() if lease.held))
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch_held())
    try:
        # member ids sort by name: the range assignor gives the partition to the first, so
        # each replica joining below sorts first and takes the lease from the one mid-run
        for member in ("x", "y", "z"):
            await start(member)
        await eventually(_held(leases), lambda h: len(h) == 1, timeout=30)
        for joining in ("w", "v", "u"):
            await asyncio.sleep(1.2)
            await start(joining)
            await eventually(_held(leases), [joining].__eq__, timeout=30)
        await asyncio.sleep(1.2)
        for _ in range(2):  # the holder leaves: another takes over
            [holder] = await eventually(_held(leases), lambda h: len(h) == 1, timeout=30)
            await stop_member(holder)
            await eventually(_held(leases), lambda h: len(h) == 1, timeout=30)
            await asyncio.sleep(1.2)
    finally:
        stop.set()
        await watcher
        for member in list(leases):
            await stop_member(member)
    assert runs.overlaps == []
    ordered = sorted(runs.done, key=lambda r: r[1])
    for (m1, _, end), (m2, start2, _) in itertools.pairwise(ordered):
        assert end <= start2, f"{m1}'s run ended after {m2}'s began"
    assert max(held_at_once) == 1
    # the lease moved at each join (to w, v, u) and each leave (u's, then v's)
    holders = [member for member, _, _ in ordered]
    moves = [b for a, b in itertools.pairwise(holders) if a != b]
    assert moves == ["w", "v", "u", "v", "w"], holders


def _held(leases: dict[str, ReconcileLease]) -> Callable[[], Awaitable[list[str]]]:
    async def probe() -> list[str]:
        return [m for m, lease in leases.items() if lease.held]

    return probe


@dataclass
class CountingRun:
    runs: int = 0

    async def run(
        self, employees: Sequence[str] | None = None, check: Callable[[], None] = lambda: None
    ) -> RunResult:
        self.runs += 1
        check()
        return RunResult(0, 0, 0, 0)


async def test_only_the_lease_holder_of_two_due_schedules_runs_once_a_day(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    """Both due (their own state records no run): the holder runs, and records the run on the
    lease topic; the other, taking the lease over when the holder stops, reads it there and
    does not run that day again, only the next."""
    group = unique("lease")
    clock = ManualClock(datetime(2026, 11, 30, 3, tzinfo=UTC))
    replicas: list[tuple[CountingRun, ReconcileSchedule]] = []
    for name in ("one", "two"):
        run = CountingRun()
        schedule = ReconcileSchedule(
            run,
            ReconcileStore(tmp_path / name),
            (clock() - timedelta(minutes=5)).time(),  # due: nothing recorded since the slot
            ZoneInfo("UTC"),
            timedelta(minutes=30),
            clock,
            check_seconds=0.1,
            lease=lease_of(infra, topics, group, name),
        )
        replicas.append((run, schedule))
    tasks = [asyncio.create_task(s.run_forever()) for _, s in replicas]
    try:
        counts = await eventually(_runs(replicas), lambda n: sum(n) == 1, timeout=30)
        holder = counts.index(1)
        # whoever holds the lease now has decided (on a loaded machine a rebalance may already
        # have moved it to the other, which then read the holder's run on the lease topic)
        await eventually(_any_decided([s for _, s in replicas], clock), bool)
        tasks[holder].cancel()  # its ingestor stops: the other takes over
        other = replicas[1 - holder][1]
        await eventually(_decided(other, clock), bool, timeout=30)
        assert [r.runs for r, _ in replicas][1 - holder] == 0  # the day's run was done
        clock.advance(timedelta(days=1))
        counts = await eventually(_runs(replicas), lambda n: n[1 - holder] == 1, timeout=30)
        assert counts[holder] == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, schedule in replicas:
            schedule.close()


def _decided(schedule: ReconcileSchedule, clock: ManualClock) -> Callable[[], Awaitable[bool]]:
    """Whether the schedule, holding the lease, has decided at the clock's present instant."""

    async def probe() -> bool:
        lease = schedule.lease
        return lease is not None and lease.held and schedule.last_check == clock()

    return probe


def _any_decided(
    schedules: list[ReconcileSchedule], clock: ManualClock
) -> Callable[[], Awaitable[bool]]:
    """Whether one of the schedules, holding the lease, has decided at the clock's present."""
    probes = [_decided(s, clock) for s in schedules]

    async def probe() -> bool:
        return any([await p() for p in probes])

    return probe


def _runs(
    replicas: list[tuple[CountingRun, ReconcileSchedule]],
) -> Callable[[], Awaitable[list[int]]]:
    async def probe() -> list[int]:
        return [r.runs for r, _ in replicas]

    return probe
