"""The lookups as the ingestor runs them: ledger, feed, workers and gauges, started and
stopped with the app (on only with WECOM_CORP_SECRET, like all use of the WeCom API)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.ingestor.delivery.durable import DurablePublisher
from services.ingestor.enrichment.breaker import CircuitBreaker
from services.ingestor.enrichment.wecom_api import WeComApi
from services.ingestor.lookups.feed import LookupFeed
from services.ingestor.lookups.ledger import LookupLedger, ledger_path
from services.ingestor.lookups.pacing import CallbackLoad, Pace
from services.ingestor.lookups.recovery import recover_published
from services.ingestor.lookups.worker import LookupWorkers
from services.ingestor.settings import IngestorSettings
from shared.clock import Clock


@dataclass
class Lookups:
    ledger: LookupLedger
    feed: LookupFeed
    workers: LookupWorkers
    api: WeComApi
    recover: Callable[[], Awaitable[int]]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self.feed.run_forever()),
            asyncio.create_task(self._dispatch()),
            asyncio.create_task(self.workers.record_forever()),
            asyncio.create_task(self.workers.gauges_forever()),
        ]

    async def _dispatch(self) -> None:
        """Answers published before the last stop are read back first (recovery.py), so
        that none of them is asked of WeCom again."""
        await self.recover()
        await self.workers.dispatch_forever()

    async def stop(self) -> None:
        """Stops where it is: lookups in flight are not recorded and are looked up again by
        the next start (the ledger still has them due); verdicts already in hand are
        recorded first."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.workers.flush()
        await self.api.close()
        self.ledger.close()


def make_lookups(
    settings: IngestorSettings,
    publisher: DurablePublisher,
    clock: Clock,
    callbacks: CallbackLoad | None = None,
) -> Lookups | None:
    if not settings.enrichment_enabled or settings.wecom_corp_secret is None:
        return None
    api = WeComApi(
        settings.wecom_api_base,
        settings.wecom_corp_id or "",
        settings.wecom_corp_secret.get_secret_value(),
        timeout=settings.wecom_api_timeout_seconds,
        rate_limit_retries=0,  # a 45009 goes to the pace at once, which halves the rate
    )
    topic = settings.topics.contact_events
    ledger = LookupLedger(ledger_path(settings.lookup_state_dir, topic))
    feed = LookupFeed(
        ledger,
        settings.kafka_bootstrap_servers,
        topic,
        settings.lookup_group_id,
        settings.lookup_start_from,
        clock,
        settings.kafka_connect_retry_seconds,
    )
    breaker = CircuitBreaker(
        settings.wecom_breaker_failures, settings.wecom_breaker_reset_seconds, time.monotonic
    )
    pace = Pace(
        settings.wecom_lookup_rate_per_second,
        recovery_seconds=settings.wecom_lookup_recovery_seconds,
        now=time.monotonic(),
    )
    workers = LookupWorkers(
        ledger,
        api,
        publisher,
        breaker,
        pace,
        profile_topic=settings.topics.bank_records,
        concurrency=settings.wecom_lookup_concurrency,
        retry_base=settings.wecom_lookup_retry_base_seconds,
        retry_cap=settings.wecom_lookup_retry_cap_seconds,
        clock=clock,
        callbacks=callbacks,
    )
    return Lookups(
        ledger,
        feed,
        workers,
        api,
        lambda: recover_published(
            ledger, settings.kafka_bootstrap_servers, settings.topics.bank_records, clock
        ),
    )
