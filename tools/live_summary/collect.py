"""The live summary's I/O: the services' metrics and APIs over HTTP, Kafka's end offsets, and
the offsets the consumers stored with their data (PostgreSQL, read-only role). Whatever cannot
be read becomes a None and a line saying why; the summary goes on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.clock import Clock
from shared.settings import Topics
from tools.live_summary.metrics import counter_total
from tools.live_summary.view import Snapshot


@dataclass(frozen=True)
class Sources:
    ingestor: str = "http://127.0.0.1:8080"
    scorer: str = "http://127.0.0.1:8081"
    notifier: str = "http://127.0.0.1:8082"
    kafka: str | None = "localhost:9092"
    database_url: str | None = None  # the read-only role's DSN; None: lag not shown
    topics: Topics = field(default_factory=Topics)
    scorer_group: str = "scorer"
    notifier_group: str = "notifier"

    def consumed(self) -> dict[str, tuple[str, ...]]:
        """Consumer group → the topics it consumes."""
        return {
            self.scorer_group: (self.topics.contact_events, self.topics.bank_records),
            self.notifier_group: (self.topics.breaches,),
        }


class LagReader:
    """Records in Kafka not yet applied: per partition, Kafka's end offset minus the next offset
    the consumer group stored in PostgreSQL with the data (the services commit there, not to
    Kafka)."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.admin: AIOKafkaAdminClient | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.pool: asyncpg.Pool | None = None

    async def _connect(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer, asyncpg.Pool]:
        if self.admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.sources.kafka, request_timeout_ms=5000
            )
            try:
                await admin.start()
            except BaseException:
                await admin.close()
                raise
            self.admin = admin
        if self.consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.sources.kafka, request_timeout_ms=5000
            )
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self.consumer = consumer
        if self.pool is None:
            self.pool = await asyncpg.create_pool(
                self.sources.database_url, min_size=1, max_size=1, timeout=5
            )
        return self.admin, self.consumer, self.pool

    async def read(self) -> dict[str, int]:
        admin, consumer, pool = await self._connect()
        consumed = self.sources.consumed()
        wanted = {t for ts in consumed.values() for t in ts}
        # All topics' metadata: asking for named ones could create them (auto-create is on).
        partitions = [
            TopicPartition(t["topic"], p["partition"])
            for t in await admin.describe_topics()
            if t["topic"] in wanted and t["error_code"] == 0
            for p in t["partitions"]
        ]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        starts = await consumer.beginning_offsets(partitions) if partitions else {}
        rows = await pool.fetch(
            "SELECT consumer_group, topic, partition, next_offset FROM consumer_offset "
            "WHERE consumer_group = ANY($1::text[])",
            list(consumed),
        )
        stored = {(r["consumer_group"], r["topic"], r["partition"]): r["next_offset"] for r in rows}
        lag: dict[str, int] = {}
        for group, topics in consumed.items():
            lag[group] = sum(
                max(0, ends[tp] - stored.get((group, tp.topic, tp.partition), starts[tp]))
                for tp in partitions
                if tp.topic in topics
            )
        return lag

    async def close(self) -> None:
        if self.admin is not None:
            await self.admin.close()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.pool is not None:
            await self.pool.close()


async def _get(client: httpx.AsyncClient, url: str, **params: str) -> httpx.Response:
    response = await client.get(url, params=params)
    response.raise_for_status()
    return response


async def collect(
    client: httpx.AsyncClient,
    sources: Sources,
    period: str,
    lag: LagReader | None,
    clock: Clock,
) -> Snapshot:
    """One reading of everything, the sources read concurrently."""
    calls: dict[str, Any] = {
        "ingestor metrics": _get(client, f"{sources.ingestor}/metrics"),
        "scorer metrics": _get(client, f"{sources.scorer}/metrics"),
        "notifier metrics": _get(client, f"{sources.notifier}/metrics"),
        "scores": _get(client, f"{sources.scorer}/v1/scores", period=period),
        "alerts": _get(client, f"{sources.notifier}/v1/alerts"),
    }
    if lag is not None:
        calls["consumer lag"] = asyncio.wait_for(lag.read(), timeout=10)
    results = await asyncio.gather(*calls.values(), return_exceptions=True)
    got: dict[str, Any] = {}
    problems = []
    for name, result in zip(calls, results, strict=True):
        if isinstance(result, BaseException):
            problems.append(f"{name}: {type(result).__name__}: {result}".rstrip(": "))
        else:
            got[name] = result

    def counter(source: str, sample: str, **labels: str) -> float | None:
        """None when the service did not answer; 0 when it answered without the sample (a
        labelled counter appears only once something was counted)."""
        response = got.get(source)
        if response is None:
            return None
        return counter_total(response.text, sample, **labels) or 0.0

    return Snapshot(
        at=clock(),
        period=period,
        ingested=counter("ingestor metrics", "ingestor_records_published_total"),
        scored=counter("scorer metrics", "scorer_records_total", outcome="applied"),
        notices_sent=counter("notifier metrics", "notifier_notices_total", outcome="sent"),
        lag=got.get("consumer lag"),
        employees=got["scores"].json()["employees"] if "scores" in got else None,
        alerts=got["alerts"].json()["alerts"] if "alerts" in got else None,
        problems=tuple(problems),
    )
