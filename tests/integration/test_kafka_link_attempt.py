"""A Kafka that accepts connections and never answers (a broker restarting) holds one
connection attempt of the ingestor at most ATTEMPT_SECONDS: the attempt is given up, the link
stays unconnected (callbacks keep going to the spool) and the next attempt is made. Before,
an attempt could wait for ever, and the spool with it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from services.ingestor.delivery.kafka_link import KafkaLink
from shared.kafka import make_broker

pytestmark = pytest.mark.integration


@asynccontextmanager
async def silent_kafka() -> AsyncIterator[str]:
    """A TCP server on a free port that takes every connection and says nothing."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()


async def test_an_unanswered_attempt_is_given_up_and_tried_again() -> None:
    async with silent_kafka() as bootstrap:
        link = KafkaLink(make_broker(bootstrap, "ingestor"), [], 0.1, attempt_seconds=0.5)
        started = time.monotonic()
        # the client's own request timeout is 10 s: only the attempt's limit ends it sooner
        assert await asyncio.wait_for(link.connect(), timeout=5) is False
        assert time.monotonic() - started < 3
        assert not link.connected.is_set()
        keeping = asyncio.create_task(link.keep_connecting())
        try:
            await asyncio.sleep(1.5)  # attempts go on, each given up in turn
            assert not keeping.done()
            assert not link.connected.is_set()
        finally:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)
            await link.close()
