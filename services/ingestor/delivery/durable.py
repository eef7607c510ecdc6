"""Durable acceptance: a record is stored when Kafka acknowledged it or the spool fsynced it.

WeCom waits 5 s for an answer, so Kafka gets `kafka_publish_timeout_seconds` (2 s by default)
and the spool takes what it did not acknowledge in time. A record Kafka did receive after the
timeout is then also replayed from the spool: a duplicate with the same event_id, which the
scorer ignores. While the spool holds anything, new records join its tail rather than
overtaking it, so one employee's add and delete stay in order."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Literal

from services.ingestor.delivery.kafka_link import KafkaLink
from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.delivery.spool import Spool
from services.ingestor.metrics import PUBLISH_SECONDS, SPOOL_REPLAYED

log = logging.getLogger(__name__)
Destination = Literal["kafka", "spool"]
RENEW_AFTER_FAILURES = 3  # consecutive failed replays (each up to its timeout) with Kafka "up"


class DurablePublisher:
    def __init__(self, kafka: KafkaLink, spool: Spool, timeout_seconds: float) -> None:
        self.kafka = kafka
        self.spool = spool
        self._timeout = timeout_seconds

    async def store(self, items: Sequence[Outgoing]) -> Destination:
        """Where the records now are; raises SpoolError when neither could store them."""
        started = time.perf_counter()
        if self.spool.depth == 0 and self.kafka.connected.is_set():
            try:
                async with asyncio.timeout(self._timeout):  # no task per callback (wait_for's)
                    await self.kafka.send(items)
            except Exception as exc:  # timeout or broker error: the spool takes over
                log.warning("Kafka did not acknowledge (%s); spooling", type(exc).__name__)
            else:
                PUBLISH_SECONDS.labels("kafka").observe(time.perf_counter() - started)
                return "kafka"
        await asyncio.to_thread(self.spool.append, items)
        PUBLISH_SECONDS.labels("spool").observe(time.perf_counter() - started)
        return "spool"


class SpoolReplayer:
    """Background task: oldest spooled records to Kafka, in order, then cut from the spool."""

    def __init__(
        self, kafka: KafkaLink, spool: Spool, interval: float, batch: int, timeout: float
    ) -> None:
        self._kafka = kafka
        self._spool = spool
        self._interval = interval
        self._batch = batch
        self._timeout = timeout

    async def run(self) -> None:
        failures = 0
        while True:
            if self._spool.depth and self._kafka.connected.is_set():
                try:
                    replayed = await self.replay_once()
                except Exception:
                    failures += 1
                    log.warning("spool replay failed; retrying", exc_info=True)
                    if failures >= RENEW_AFTER_FAILURES:  # a producer that will not recover
                        failures = 0
                        await self._kafka.renew()
                else:
                    failures = 0
                    if replayed:
                        continue  # more may wait: no pause while draining
            await asyncio.sleep(self._interval)

    async def replay_once(self) -> int:
        """Publish one batch; returns how many records Kafka acknowledged."""
        items, consumed = await asyncio.to_thread(self._spool.oldest, self._batch)
        if consumed == 0:
            return 0
        if items:
            await asyncio.wait_for(self._kafka.send(items), self._timeout)
        await asyncio.to_thread(self._spool.cut, consumed)
        SPOOL_REPLAYED.inc(len(items))
        log.info("replayed %d spooled records; %d left", len(items), self._spool.depth)
        return len(items)
