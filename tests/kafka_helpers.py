"""Producing to and reading from the real test broker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tests.infra import Infra, unique


async def delete_topics_named(infra: Infra, marker: str) -> None:
    """Delete the topics whose names contain `marker` (a test's or a benchmark run's unique
    suffix, dead-letter topics included), so that a long-lived local broker does not pile up
    thousands of partitions over many runs and slow down. Best effort: a run that stopped the
    broker leaves its (uniquely named) topics behind."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    try:
        await admin.start()
        ours = [t for t in await admin.list_topics() if marker in t]
        if ours:
            await admin.delete_topics(ours)
    except KafkaError:
        pass
    finally:
        await admin.close()


async def produce(infra: Infra, topic: str, records: Sequence[Any], key: str = "k") -> None:
    """Publish records (dicts as JSON, bytes as they are) in order to one partition."""
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        pending = []
        for r in records:
            value = r if isinstance(r, bytes) else orjson.dumps(r)
            pending.append(await producer.send(topic, value, key=key.encode()))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def read_keyed(
    infra: Infra, topic: str, expect: int, timeout_ms: int = 5000
) -> list[tuple[str, Any]]:
    """(key, value) of everything on a topic from the start; stops early once `expect`
    records are read (with expect=0 it reads for the whole timeout)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=unique("reader"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        out: list[tuple[str, Any]] = []
        for _ in range(10):
            batch = await consumer.getmany(timeout_ms=timeout_ms // 10)
            out.extend(
                ((r.key or b"").decode(), orjson.loads(r.value))
                for rs in batch.values()
                for r in rs
            )
            if expect > 0 and len(out) >= expect:
                break
        return out
    finally:
        await consumer.stop()


async def read_topic(infra: Infra, topic: str, expect: int, timeout_ms: int = 5000) -> list[Any]:
    """The values of everything on a topic from the start."""
    return [value for _, value in await read_keyed(infra, topic, expect, timeout_ms)]
