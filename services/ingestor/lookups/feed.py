"""The contact-event topic → the lookup ledger: an own consumer group, offsets in the ledger.

Every add and edit (from callbacks, from `contact_event` records on /v1/events, from the
reconciliation) reaches this topic, spooled ones included once Kafka has them, so this is the
one place lookups are asked for: nothing in the callback path can drop one. The consumer
commits nothing to Kafka; on assignment it seeks each partition to the offset stored with the
ledger's rows (a partition it has never folded starts at LOOKUP_START_FROM). It retries
forever while Kafka is away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from pydantic import ValidationError

from services.ingestor.lookups.ledger import Folded, LookupLedger, Want
from shared.clock import Clock
from shared.kafka import StoredOffsetsListener
from shared.schemas import ChangeType, ContactEvent

log = logging.getLogger(__name__)
# Deletes and failed handovers change no profile; adds and edits may bring a new follower.
WANTED_CHANGES = frozenset({ChangeType.ADD, ChangeType.ADD_HALF, ChangeType.EDIT})


def want_of(value: bytes | None) -> Want | None:
    """What one record on the topic asks of the lookups: pure. Anything that is not a
    contact event (the scorer dead-letters those) asks nothing."""
    try:
        event = ContactEvent.model_validate(orjson.loads(value or b""))
    except (ValueError, ValidationError):
        return None
    if event.change_type not in WANTED_CHANGES:
        return None
    walked = event.origin == "reconciliation"  # the walk published this follower's profile
    return Want(event.external_userid, event.employee_id, walked)


def folded(records: Iterable[ConsumerRecord[bytes, bytes]]) -> list[Folded]:
    return [Folded(r.partition, r.offset, want_of(r.value)) for r in records]


class LookupFeed:
    def __init__(
        self,
        ledger: LookupLedger,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        start_from: str,
        clock: Clock,
        retry_seconds: float = 2.0,
    ) -> None:
        self._ledger = ledger
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._group = group_id
        self._start_from = start_from
        self._clock = clock
        self._retry = retry_seconds
        self._consumer: AIOKafkaConsumer | None = None

    async def run_forever(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lookup feed: Kafka consumer failed; starting again")
            await asyncio.sleep(self._retry)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._group,
            client_id="ingestor-lookups",
            enable_auto_commit=False,
            auto_offset_reset=self._start_from,
            max_poll_records=2000,
        )
        listener = StoredOffsetsListener(lambda: self._consumer, self._stored)
        await consumer.start()
        self._consumer = consumer
        try:
            consumer.subscribe([self._topic], listener=listener)
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                records = [r for rs in batch.values() for r in rs]
                if records:
                    await asyncio.to_thread(self._fold, records)
        finally:
            self._consumer = None
            await consumer.stop()

    def _fold(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Parsed and written off the event loop: callbacks keep their pace."""
        self._ledger.fold(self._topic, folded(records), self._clock().timestamp())

    async def _stored(self, topics: Iterable[str]) -> dict[tuple[str, int], int]:
        offsets = await asyncio.to_thread(self._ledger.offsets, self._topic)
        return {(self._topic, p): o for p, o in offsets.items()}
