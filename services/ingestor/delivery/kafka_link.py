"""The producer side of Kafka, as the callback path needs it: may be down at start.

FastStream's broker cannot publish before a successful `start()`, and `start()` fails at once
when no broker answers. The ingestor must still start (callbacks go to the spool, /v1/events
answers 503), so the connection is made by a background task that retries until Kafka is
reachable, then creates the topics.

Callbacks are sent through the broker's aiokafka producer itself (the same producer: `acks=all`,
idempotent, linger): FastStream's `publish` builds a command, a correlation id and a middleware
chain for every record, which cost the callback path more CPU than the produce did."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from services.ingestor.delivery.outgoing import Outgoing
from shared.kafka import TopicMismatchError, ensure_topics
from shared.topics import TopicSpec

log = logging.getLogger(__name__)
HEADERS = [("content-type", b"application/json")]
ATTEMPT_SECONDS = 30.0
"""One connection attempt (start the producer, create and check the topics) is given up after
this long and tried again: a broker that accepts connections but does not answer yet (one
restarting) once held an attempt, and with it every callback in the spool, for good."""


class KafkaLink:
    def __init__(
        self,
        broker: KafkaBroker,
        topics: Sequence[TopicSpec],
        retry_seconds: float,
        refuse_mismatch: bool = False,
        attempt_seconds: float = ATTEMPT_SECONDS,
    ) -> None:
        self.broker = broker
        self._attempt = attempt_seconds
        self._topics = list(topics)
        self._refuse_mismatch = refuse_mismatch
        self._retry = retry_seconds
        self.connected = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        # Starting and stopping the broker never overlap: a `renew` (the spool's replayer)
        # stopping it while `keep_connecting` started it again left a broker without a
        # producer, and the connecting task died of it with every callback in the spool.
        self._switching = asyncio.Lock()
        # The newest record timestamp (ms, the producer's CreateTime: this host's clock as the
        # records carry it) Kafka has acknowledged; the lookups record it with their answers.
        self.acked_ms = -1

    async def connect(self, within: float | None = None) -> bool:
        """One attempt, given up after `within` seconds (`attempt_seconds` by default): start
        the producer, create missing topics and check the others (TopicMismatchError, in a
        production profile, is no reason to try again: it is raised). Never while the broker
        is being stopped (`renew`). An attempt given up stops what it started; so bound it
        with `within`, not by cancelling it from outside."""
        async with self._switching:
            try:
                async with asyncio.timeout(self._attempt if within is None else within):
                    await self.broker.start()
                    await ensure_topics(self.broker, self._topics, self._refuse_mismatch)
            except TopicMismatchError:
                log.critical("Kafka topics differ from their settings: not publishing")
                await self._stop()
                raise
            except Exception as exc:  # any failure means: not yet; the next attempt decides
                reason = "no answer in time" if isinstance(exc, TimeoutError) else exc
                log.warning("Kafka not reachable yet (%s); callbacks go to the spool", reason)
                await self._stop()
                return False
            self._producer = started_producer(self.broker)  # a programming error: raised
            self.connected.set()
        log.info("connected to Kafka")
        return True

    async def keep_connecting(self) -> None:
        """Forever: connect whenever not connected (at start, and after `renew`); while
        connected, aiokafka itself reconnects as brokers come and go. A failure nobody
        foresaw is logged and the next attempt made: this task ending would leave every
        callback in the spool for good. Topics that differ from their settings (in a
        production profile) end it, as they should."""
        while True:
            try:
                if not self.connected.is_set() and await self.connect():
                    continue
            except TopicMismatchError:
                raise
            except Exception:
                log.exception("connecting to Kafka failed unexpectedly; trying again")
                async with self._switching:
                    await self._stop()
            await asyncio.sleep(self._retry)

    async def renew(self) -> None:
        """Drop the producer so that `keep_connecting` starts a fresh one (a new producer id).
        After a broker lost its producer state (an unclean restart), an idempotent producer's
        sequence numbers no longer match (OutOfOrderSequenceNumber) and aiokafka never
        recovers by itself; the spool holds the records meanwhile."""
        async with self._switching:  # after an attempt under way, which it then undoes
            self.connected.clear()
            self._producer = None
            log.warning("renewing the Kafka producer after repeated failures")
            await self._stop()

    async def _stop(self) -> None:
        """Stop the broker's producer, however it fails (not cut short: a broker stopped
        halfway would hand the next attempt its closed producer)."""
        with contextlib.suppress(Exception):
            await self.broker.stop()

    async def send(self, items: Sequence[Outgoing]) -> None:
        """Publish in order and wait for every acknowledgement (`acks=all`)."""
        producer = self._producer
        if producer is None or not self.connected.is_set():
            raise ConnectionError("Kafka is not connected")
        pending = [
            await producer.send(item.topic, item.value, key=item.key.encode(), headers=HEADERS)
            for item in items
        ]
        for meta in await asyncio.gather(*pending):
            self.acked_ms = max(self.acked_ms, meta.timestamp)

    async def close(self) -> None:
        async with self._switching:
            await self._stop()


def started_producer(broker: KafkaBroker) -> AIOKafkaProducer:
    """The aiokafka producer a started FastStream 0.7 broker publishes with (pinned in
    pyproject.toml; a FastStream that keeps it elsewhere fails here, at connect, loudly)."""
    state = getattr(broker.config.producer, "_producer", None)
    producer = getattr(state, "producer", None)
    if not isinstance(producer, AIOKafkaProducer):
        log.critical("no aiokafka producer in the started FastStream broker")
        raise TypeError("this FastStream keeps its aiokafka producer elsewhere: see kafka_link.py")
    return producer
