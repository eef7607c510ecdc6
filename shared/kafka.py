"""Kafka wiring shared by the services: one broker factory (durable producer settings,
Prometheus middleware) and offsets kept in PostgreSQL.

Effectively-once: a consumer applies a batch and records the batch's next offsets in the same
PostgreSQL transaction (`lock_offsets` / `store_offsets`); on partition assignment it seeks to
the stored offsets (`StoredOffsetsListener`). Records below the stored offset, which a
rebalance can deliver again, are dropped inside the transaction before they touch any state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import OutOfOrderSequenceNumber
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY

from shared.db import Connection
from shared.topics import TopicSpec, TopicState, mismatches

log = logging.getLogger(__name__)


def make_broker(bootstrap_servers: str, service: str) -> KafkaBroker:
    """Producer: `acks=all` and idempotence, so an acknowledged publish is durable and a
    producer retry never writes twice. `bootstrap_servers` is comma-separated (FastStream takes
    one string as one address)."""
    return KafkaBroker(
        [s.strip() for s in bootstrap_servers.split(",") if s.strip()],
        client_id=service,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        request_timeout_ms=10_000,
        middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name=service)],
        logger=logging.getLogger(f"{service}.kafka"),
    )


async def publish_all(
    broker: KafkaBroker, records: Sequence[tuple[bytes, str, bytes | None]]
) -> None:
    """Publish (value, topic, key) records on a publish-only broker and wait for every
    acknowledgement. A broker that lost its producer state (an unclean restart) refuses this
    producer's sequence numbers for good (OutOfOrderSequenceNumber) and aiokafka does not recover
    by itself: the producer is renewed (a new producer id) and the error raised, so the caller's
    transaction fails and is tried again on the new producer."""
    try:
        futures = [
            await broker.publish(value, topic, key=key, no_confirm=True)
            for value, topic, key in records
        ]
        await asyncio.gather(*futures)
    except OutOfOrderSequenceNumber:
        log.warning("renewing a Kafka producer after OutOfOrderSequenceNumber")
        with contextlib.suppress(Exception):
            await broker.stop()
        await broker.start()
        raise


class RecordLike(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


@dataclass(frozen=True)
class PartitionOffset:
    topic: str
    partition: int
    next_offset: int


def next_offsets(records: Iterable[RecordLike]) -> list[PartitionOffset]:
    """The offset after the last record of each partition in a batch."""
    highest: dict[tuple[str, int], int] = {}
    for r in records:
        key = (r.topic, r.partition)
        highest[key] = max(highest.get(key, -1), r.offset)
    return [PartitionOffset(t, p, o + 1) for (t, p), o in sorted(highest.items())]


async def lock_offsets(
    conn: Connection, group: str, records: Sequence[RecordLike]
) -> dict[tuple[str, int], int]:
    """Lock the batch's partitions' offset rows for this transaction and return their stored
    next offsets. Two instances of a group never apply the same partition at once."""
    parts = sorted({(r.topic, r.partition) for r in records})
    topics = [t for t, _ in parts]
    partitions = [p for _, p in parts]
    await conn.execute(
        """INSERT INTO consumer_offset (consumer_group, topic, partition, next_offset)
           SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS x(t, p)
           ON CONFLICT DO NOTHING""",
        group,
        topics,
        partitions,
    )
    rows = await conn.fetch(
        """SELECT topic, partition, next_offset FROM consumer_offset
           WHERE consumer_group = $1
             AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))
           ORDER BY topic, partition
           FOR UPDATE""",
        group,
        topics,
        partitions,
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


def unseen(records: Sequence[Any], stored: dict[tuple[str, int], int]) -> list[Any]:
    """The records at or after the stored offset of their partition."""
    return [r for r in records if r.offset >= stored.get((r.topic, r.partition), 0)]


async def store_offsets(conn: Connection, group: str, records: Sequence[RecordLike]) -> None:
    offsets = next_offsets(records)
    await conn.execute(
        """UPDATE consumer_offset c
              SET next_offset = GREATEST(c.next_offset, x.o), updated_at = now()
             FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o)
            WHERE c.consumer_group = $1 AND c.topic = x.t AND c.partition = x.p""",
        group,
        [o.topic for o in offsets],
        [o.partition for o in offsets],
        [o.next_offset for o in offsets],
    )


async def load_offsets(
    pool: asyncpg.Pool, group: str, topics: Iterable[str]
) -> dict[tuple[str, int], int]:
    rows = await pool.fetch(
        "SELECT topic, partition, next_offset FROM consumer_offset "
        "WHERE consumer_group = $1 AND topic = ANY($2::text[])",
        group,
        list(topics),
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


class Seekable(Protocol):
    def seek(self, partition: TopicPartition, offset: int) -> None: ...


class StoredOffsetsListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, seek each partition to the offset stored with the data."""

    def __init__(
        self,
        consumer: Callable[[], Seekable | None],
        load: Callable[[Iterable[str]], Awaitable[dict[tuple[str, int], int]]],
        assigned: Callable[[set[TopicPartition]], Awaitable[None]] | None = None,
    ) -> None:
        self._consumer = consumer
        self._load = load
        self._assigned = assigned

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer()
        if consumer is not None and assigned:
            stored = await self._load({tp.topic for tp in assigned})
            for tp in assigned:
                offset = stored.get((tp.topic, tp.partition))
                if offset is not None:
                    consumer.seek(tp, offset)
        if self._assigned is not None:  # an empty assignment too: the group has answered
            await self._assigned(assigned)
        if not assigned:
            return
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)},
        )


class TopicMismatchError(RuntimeError):
    """Existing topics differ from their settings (shared/topics.py) in a production profile."""


async def ensure_topics(
    broker: KafkaBroker, specs: Sequence[TopicSpec], refuse_mismatch: bool = False
) -> None:
    """Create missing topics from their specs, then compare every one with its spec: each
    difference is logged, one line per topic; with `refuse_mismatch` (WQ_PROFILE=production)
    they raise TopicMismatchError, and the service does not start."""
    await create_and_check(broker.config.admin_client, specs, refuse_mismatch)


async def create_and_check(admin: Any, specs: Sequence[TopicSpec], refuse_mismatch: bool) -> None:
    """`ensure_topics` with an aiokafka admin client of the caller's."""
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    existing = set(await admin.list_topics())
    wanted = [
        NewTopic(
            name=s.name,
            num_partitions=s.partitions,
            replication_factor=s.replication_factor,
            topic_configs=s.configs(),
        )
        for s in specs
        if s.name not in existing
    ]
    if wanted:
        # another service may create the same topic at the same moment
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(wanted)
    await check_topics(admin, specs, refuse_mismatch)


TOPIC_SETTLE_SECONDS = 10.0
"""How long a topic's settings may take to show on every broker after it was made (a broker
that has not heard of a new topic yet describes it without its configs)."""


async def check_topics(
    admin: Any,
    specs: Sequence[TopicSpec],
    refuse_mismatch: bool,
    settle: float = TOPIC_SETTLE_SECONDS,
) -> None:
    """Log (and in production refuse) every setting that differs. A topic that is not
    described yet, or described without its configs (a broker that has not heard of it yet),
    is asked about again for up to `settle` seconds first."""
    deadline = asyncio.get_running_loop().time() + settle
    while True:
        states = await topic_states(admin, [s.name for s in specs])
        unknown = [s.name for s in specs if s.name not in states or not states[s.name].configs]
        if not unknown or asyncio.get_running_loop().time() >= deadline:
            break
        await asyncio.sleep(0.5)
    problems = mismatches(specs, states)
    for line in problems:
        log.error("Kafka topic differs from its settings: %s", line, extra={"topic": line})
    if problems and refuse_mismatch:
        raise TopicMismatchError(
            "Kafka topics differ from their settings (WQ_PROFILE=production refuses to start): "
            + " | ".join(problems)
        )
    if not problems:
        log.info("Kafka topics match their settings", extra={"topics": [s.name for s in specs]})


async def topic_states(admin: Any, names: Sequence[str]) -> dict[str, TopicState]:
    """Partitions, replication factor and topic configs of the named topics that exist."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    described = {
        t["topic"]: t for t in await admin.describe_topics(list(names)) if t["error_code"] == 0
    }
    if not described:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in sorted(described)]
    configs: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            entries = resource["config_entries"]
            # aiokafka names the key `config_names` in some protocol versions
            configs[resource["resource_name"]] = {
                str(e.get("config_name", e.get("config_names"))): str(e["config_value"])
                for e in entries
            }
    return {
        name: TopicState(
            name=name,
            partitions=len(t["partitions"]),
            replication_factor=min((len(p["replicas"]) for p in t["partitions"]), default=0),
            configs=configs.get(name, {}),
        )
        for name, t in described.items()
    }


async def kafka_ready(broker: KafkaBroker) -> None:
    if not await broker.ping(timeout=2.0):
        raise ConnectionError("Kafka is not reachable")
