"""The ingestor's one wiring point: settings → broker → routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from services.ingestor.api import events_endpoint
from services.ingestor.publisher import RecordPublisher
from services.ingestor.settings import IngestorSettings
from shared.http import ops_routes
from shared.kafka import ensure_topics, kafka_ready, make_broker


def create_app(settings: IngestorSettings) -> Starlette:
    broker = make_broker(settings.kafka_bootstrap_servers, "ingestor")
    publisher = RecordPublisher(broker, settings.topics)
    topics = settings.topics

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await broker.start()
        await ensure_topics(
            broker,
            [topics.contact_events, topics.bank_records, topics.raw_callbacks],
            settings.topic_partitions,
        )
        try:
            yield
        finally:
            await broker.stop()

    async def kafka() -> None:
        await kafka_ready(broker)

    routes = [
        Route("/v1/events", events_endpoint(settings, publisher), methods=["POST"]),
        *ops_routes({"kafka": kafka}),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
