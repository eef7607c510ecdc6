"""Publishing accepted records to Kafka: the only I/O of the bank-record path.

All of a request's records are sent at once (the producer batches them) and the answer waits
for every acknowledgement (`acks=all`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Histogram

from shared.metrics import LATENCY_BUCKETS
from shared.schemas import BankRecord, ContactEvent, IngestRecord
from shared.settings import Topics

RECORDS_PUBLISHED = Counter(
    "ingestor_records_published_total", "Records acknowledged by Kafka", ["topic", "type"]
)
PUBLISH_SECONDS = Histogram(
    "ingestor_publish_duration_seconds",
    "Time from send to Kafka acknowledgement for one request's records",
    buckets=LATENCY_BUCKETS,
)


class RecordPublisher:
    def __init__(self, broker: KafkaBroker, topics: Topics) -> None:
        self._broker = broker
        self._topics = topics

    def route(self, record: IngestRecord) -> tuple[str, bytes]:
        """Topic and key: contact events by employee, bank records by entity."""
        if isinstance(record, ContactEvent):
            return self._topics.contact_events, record.employee_id.encode()
        assert isinstance(record, BankRecord)
        return self._topics.bank_records, record.entity_key().encode()

    async def publish(self, records: Sequence[IngestRecord]) -> None:
        started = time.perf_counter()
        futures = []
        for record in records:
            topic, key = self.route(record)
            futures.append(
                await self._broker.publish(
                    record.to_json(),
                    topic,
                    key=key,
                    headers={"content-type": "application/json"},
                    no_confirm=True,
                )
            )
        await asyncio.gather(*futures)
        PUBLISH_SECONDS.observe(time.perf_counter() - started)
        for record in records:
            RECORDS_PUBLISHED.labels(self.route(record)[0], type(record).__name__).inc()
