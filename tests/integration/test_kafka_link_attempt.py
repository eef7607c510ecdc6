"""A Kafka that accepts connections and never answers (a broker restarting) holds one
connection attempt of the ingestor at most ATTEMPT_SECONDS: the attempt is given up, the link
stays unconnected (callbacks keep going to the spool) and the next attempt is made. Before,
an attempt could wait for ever, and the spool with it. A renewal of the producer and an
attempt at once leave the link connected."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from services.ingestor.delivery.kafka_link import KafkaLink
from services.ingestor.delivery.outgoing import Outgoing
from shared.kafka import make_broker
from shared.topics import TopicSpec
from tests.infra import Infra

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
        started = time.monotonic()  # the ingestor's first attempt, bounded shorter
        assert await asyncio.wait_for(link.connect(within=0.2), timeout=5) is False
        assert time.monotonic() - started < 2
        keeping = asyncio.create_task(link.keep_connecting())
        try:
            await asyncio.sleep(1.5)  # attempts go on, each given up in turn
            assert not keeping.done()
            assert not link.connected.is_set()
        finally:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)
            await link.close()


async def test_a_renewal_while_the_link_reconnects_leaves_it_connected(infra: Infra) -> None:
    """The spool's replayer renews the producer; stopping the broker takes a while (aiokafka
    flushes what it holds), and the connecting task, seeing the link down, makes its next
    attempt meanwhile. Before, the attempt ran during the stop and ended connected to a
    stopped broker (or found no producer and ended the connecting task): every later callback
    stayed in the spool."""
    topic = TopicSpec(f"link-{uuid.uuid4().hex[:8]}", 1, 1, 1, 3_600_000)
    broker = make_broker(infra.kafka_bootstrap, "ingestor")
    stop = broker.stop

    async def slow_stop(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0.5)  # a stop with batches still to flush
        await stop(*args, **kwargs)

    broker.stop = slow_stop  # type: ignore[method-assign]
    link = KafkaLink(broker, [topic], 0.05)
    keeping = asyncio.create_task(link.keep_connecting())
    try:
        for _ in range(3):
            await asyncio.wait_for(link.connected.wait(), timeout=30)
            await link.renew()
            await asyncio.wait_for(link.connected.wait(), timeout=30)
            assert not keeping.done()
            await asyncio.wait_for(link.send([Outgoing(topic.name, "k", b"{}")]), timeout=30)
            assert link.acked_ms > 0
    finally:
        keeping.cancel()
        await asyncio.gather(keeping, return_exceptions=True)
        await link.close()
