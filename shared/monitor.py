"""Gauges whose values live outside the process — Kafka's end offsets, rows in PostgreSQL —
refreshed by a background loop every few seconds, so a scrape never waits on Kafka or the
database and a slow probe never blocks `/metrics`.

Consumer lag is measured against the offsets stored with the data (shared/kafka.py), which
are the true progress of an effectively-once consumer; the broker's committed offsets are not
used. Each instance reports the partitions assigned to it: sum over instances in PromQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from aiokafka import TopicPartition
from prometheus_client import Gauge

from shared.kafka import load_offsets

log = logging.getLogger(__name__)

CONSUMER_LAG = Gauge(
    "kafka_consumer_lag_records",
    "Records in Kafka not yet applied: end offsets minus the offsets stored with the data, "
    "over this instance's assigned partitions",
    ["consumer_group", "topic"],
)

Probe = Callable[[], Awaitable[None]]


def lag_by_topic(
    ends: dict[TopicPartition, int],
    starts: dict[TopicPartition, int],
    stored: dict[tuple[str, int], int],
) -> dict[str, int]:
    """Records behind per topic; a partition without a stored offset is behind from its start."""
    lag: dict[str, int] = {}
    for tp, end in ends.items():
        done = stored.get((tp.topic, tp.partition), starts.get(tp, 0))
        lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - done)
    return lag


class ConsumerLagProbe:
    """Sets `kafka_consumer_lag_records` for one consumer group of this process."""

    def __init__(
        self, consumer: Callable[[], Any], pool: Callable[[], asyncpg.Pool], group: str
    ) -> None:
        self._consumer = consumer
        self._pool = pool
        self._group = group
        self._topics: set[str] = set()

    async def __call__(self) -> None:
        consumer = self._consumer()
        assigned = sorted(consumer.assignment() if consumer is not None else ())
        lag: dict[str, int] = {}
        if assigned:
            ends = await consumer.end_offsets(assigned)
            starts = await consumer.beginning_offsets(assigned)
            stored = await load_offsets(self._pool(), self._group, {tp.topic for tp in assigned})
            lag = lag_by_topic(ends, starts, stored)
        for topic, records in lag.items():
            CONSUMER_LAG.labels(self._group, topic).set(records)
        for gone in self._topics - lag.keys():  # partitions moved to another instance
            CONSUMER_LAG.remove(self._group, gone)
        self._topics = set(lag)


async def watch(probes: Sequence[Probe], interval: float) -> None:
    """Run every probe, then sleep; a failing probe is logged and tried again next round."""
    while True:
        for probe in probes:
            try:
                await probe()
            except Exception as exc:  # a metric must never take the service down
                log.warning("metrics probe %s failed: %s", type(probe).__name__, exc)
        await asyncio.sleep(interval)
