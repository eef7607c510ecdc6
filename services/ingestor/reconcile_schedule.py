"""The daily reconciliation inside the ingestor, at RECONCILE_DAILY_AT (business time zone).

Runs are recorded in the reconciliation's store (reconcile_store.py), so the schedule survives
restarts: an ingestor that was down at the slot runs once when it comes back (a day is never
skipped), and one that restarts after the day's successful run does not run it again. A
failed run is retried every RECONCILE_RETRY_MINUTES until one succeeds. Every replica may run
the schedule: only the holder of the reconciliation lease (reconcile_lease.py) runs it, and a
run stops between employee groups once the lease has gone elsewhere. The holder also records
each successful run on the lease topic, and decides only once it has read what is recorded
there: a replica that takes the lease over (or starts with empty state) does not run the day's
reconciliation again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from services.ingestor.metrics import RECONCILE_LAST_SUCCESS, RECONCILE_RUNS
from services.ingestor.reconcile import RunResult
from services.ingestor.reconcile_lease import LeaseLost, ReconcileLease
from services.ingestor.reconcile_store import ReconcileStore, RunRecord
from shared.clock import Clock

log = logging.getLogger(__name__)


class Run(Protocol):
    """What the schedule runs (reconcile.py's Reconciler)."""

    async def run(
        self, employees: Sequence[str] | None = None, check: Callable[[], None] = ...
    ) -> RunResult: ...


def last_slot(now: datetime, daily_at: time, tz: ZoneInfo) -> datetime:
    """The most recent moment (≤ now) the daily run was due."""
    local = now.astimezone(tz)
    slot = datetime.combine(local.date(), daily_at, tzinfo=tz)
    if slot > local:
        slot = datetime.combine(local.date() - timedelta(days=1), daily_at, tzinfo=tz)
    return slot


def due(
    now: datetime,
    daily_at: time,
    tz: ZoneInfo,
    last_success: RunRecord | None,
    last_attempt: RunRecord | None,
    retry: timedelta,
) -> bool:
    slot = last_slot(now, daily_at, tz)
    if last_success is not None and last_success.started_at >= slot:
        return False
    if last_attempt is None or last_attempt.started_at < slot:
        return True
    return now - last_attempt.started_at >= retry


class ReconcileSchedule:
    def __init__(
        self,
        reconciler: Run,
        store: ReconcileStore,
        daily_at: time,
        tz: ZoneInfo,
        retry: timedelta,
        clock: Clock,
        check_seconds: float = 60.0,
        lease: ReconcileLease | None = None,
    ) -> None:
        self.lease = lease
        self._reconciler = reconciler
        self._store = store
        self._daily_at = daily_at
        self._tz = tz
        self._retry = retry
        self._clock = clock
        self._check = check_seconds
        self.last_check: datetime | None = None  # the clock's instant at the last decision

    async def run_if_due(self) -> bool:
        """Run the reconciliation if the clock says it is due and this replica holds the lease
        (when it has one); returns whether it ran."""
        if self.lease is not None and not self.lease.ready:
            return False
        now = self._clock()
        success = await asyncio.to_thread(self._store.last_run, "succeeded")
        attempt = await asyncio.to_thread(self._store.last_run)
        shared = self.lease.last_success if self.lease is not None else None
        if shared is not None and (success is None or shared > success.started_at):
            success = RunRecord(shared, None, "succeeded", 0, 0)  # run by another replica
        if success is not None:
            RECONCILE_LAST_SUCCESS.set(success.started_at.timestamp())
        self.last_check = now
        if not due(now, self._daily_at, self._tz, success, attempt, self._retry):
            return False
        try:
            if self.lease is None:
                result = await self._reconciler.run()
            else:
                async with self.lease.running():
                    result = await self._reconciler.run(check=self.lease.check)
                    await self._share(now)
        except LeaseLost:
            log.warning("reconciliation stopped: the lease went to another replica")
            return True
        except Exception:
            RECONCILE_RUNS.labels("failed").inc()
            log.exception("scheduled reconciliation failed; retried later")
            return True
        RECONCILE_RUNS.labels("succeeded").inc()
        RECONCILE_LAST_SUCCESS.set(now.timestamp())
        log.info("scheduled reconciliation done", extra=result.__dict__)
        return True

    async def _share(self, started_at: datetime) -> None:
        """The run on the lease topic, for the next holder. Not recorded there (Kafka away),
        the next holder may run the day again: the same corrections, the same event ids."""
        assert self.lease is not None
        try:
            await self.lease.record_success(started_at)
        except Exception:
            log.warning(
                "the reconciliation's run could not be recorded on the lease topic", exc_info=True
            )

    def close(self) -> None:
        self._store.close()

    async def run_forever(self) -> None:
        if self.lease is not None:
            await self.lease.start()
        try:
            while True:
                try:
                    await self.run_if_due()
                except Exception:
                    log.exception("reconciliation schedule check failed")
                # without the lease, look again soon: a lease taken over runs what is due
                waiting = self.lease is not None and not self.lease.ready
                await asyncio.sleep(min(self._check, 1.0) if waiting else self._check)
        finally:
            if self.lease is not None:
                await self.lease.stop()
