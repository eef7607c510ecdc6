"""The notifier's one wiring point: settings → pool, broker, intake, delivery → routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import orjson
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from starlette.applications import Starlette

from services.notifier.api import alert_routes
from services.notifier.delivery import Delivery
from services.notifier.intake import BreachIntake
from services.notifier.settings import NotifierSettings
from shared.db import apply_migrations, create_pool
from shared.http import ops_routes
from shared.kafka import (
    StoredOffsetsListener,
    ensure_topics,
    kafka_ready,
    load_offsets,
    make_broker,
)


class _State:
    pool: asyncpg.Pool | None = None

    def get_pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("the database pool is not open yet")
        return self.pool


def create_app(settings: NotifierSettings) -> Starlette:
    state = _State()
    topic = settings.topics.breaches
    broker = make_broker(settings.kafka_bootstrap_servers, "notifier")

    async def dead_letter(raw: Any, reason: str) -> None:
        await broker.publish(
            orjson.dumps(
                {
                    "error": reason,
                    "topic": raw.topic,
                    "partition": raw.partition,
                    "offset": raw.offset,
                    "value": raw.value.decode("utf-8", "replace") if raw.value else None,
                }
            ),
            settings.topics.dlq(raw.topic),
            key=raw.key,
        )

    intake = BreachIntake(
        state.get_pool, settings.notifier_group_id, settings.notifier_webhook_url, dead_letter
    )

    async def load(tps: Any) -> dict[tuple[str, int], int]:
        return await load_offsets(state.get_pool(), settings.notifier_group_id, tps)

    subscriber = broker.subscriber(
        topic,
        group_id=settings.notifier_group_id,
        batch=True,
        max_records=1000,
        batch_timeout_ms=200,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        listener=StoredOffsetsListener(lambda: subscriber.consumer, load),
    )

    @subscriber
    async def on_batch(_: Any, message: KafkaMessage) -> None:
        raw = message.raw_message
        await intake.handle(raw if isinstance(raw, tuple) else (raw,))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await apply_migrations(settings.migration_dsn)
        state.pool = await create_pool(
            settings.database_url.get_secret_value(), settings.db_pool_size
        )
        await broker.connect()
        await ensure_topics(broker, [topic, settings.topics.dlq(topic)], settings.topic_partitions)
        await broker.start()
        async with httpx.AsyncClient(timeout=settings.delivery_timeout_seconds) as http:
            delivery = Delivery(
                state.get_pool, http, settings.delivery_max_attempts, settings.notifier_external_url
            )
            worker = asyncio.create_task(delivery.run_forever(settings.delivery_interval_seconds))
            try:
                yield
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
                await broker.stop()
                await state.pool.close()

    async def kafka() -> None:
        await kafka_ready(broker)

    async def postgres() -> None:
        await state.get_pool().fetchval("SELECT 1")

    return Starlette(
        routes=[*alert_routes(state.get_pool), *ops_routes({"kafka": kafka, "postgres": postgres})],
        lifespan=lifespan,
    )
