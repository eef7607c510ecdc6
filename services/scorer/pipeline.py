"""The scorer's Kafka → PostgreSQL path, effectively once.

Each batch: decode every record (a record that cannot be decoded goes to the dead-letter topic
with the error, and the batch goes on); then one transaction locks the batch's partition offsets,
drops records already applied, stores new events by event_id, adds the pre-aggregated counts,
and moves the offsets — all or nothing. A crash anywhere rolls the whole batch back; the
restart seeks to the stored offsets and applies it again, exactly once."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from services.scorer import repository
from services.scorer.domain.quota import gross_add_increments
from shared.kafka import lock_offsets, store_offsets, unseen
from shared.metrics import LATENCY_BUCKETS
from shared.schemas import ContactEvent, EmployeeRecord, IngestRecord, TargetRecord, parse_record

log = logging.getLogger(__name__)

BATCH_SIZE = Histogram(
    "scorer_batch_records",
    "Records per consumed batch",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
)
TX_SECONDS = Histogram(
    "scorer_batch_transaction_seconds",
    "Time to apply one batch in PostgreSQL",
    buckets=LATENCY_BUCKETS,
)
EVENT_TO_SCORE = Histogram(
    "scorer_event_to_score_seconds",
    "From the Kafka record's timestamp to its batch being committed",
    buckets=LATENCY_BUCKETS,
)
RECORDS = Counter("scorer_records_total", "Records consumed by outcome", ["outcome"])

DeadLetter = Callable[[Any, str], Awaitable[None]]


@dataclass
class Decoded:
    events: list[ContactEvent] = field(default_factory=list)
    employees: list[EmployeeRecord] = field(default_factory=list)
    targets: list[TargetRecord] = field(default_factory=list)
    other: list[IngestRecord] = field(default_factory=list)


def decode(raw: Any) -> IngestRecord:
    data = orjson.loads(raw.value)
    return parse_record(data)


class ScoringPipeline:
    def __init__(
        self, pool: Callable[[], asyncpg.Pool], group: str, tz: ZoneInfo, dead_letter: DeadLetter
    ) -> None:
        self._pool = pool
        self._group = group
        self._tz = tz
        self._dead_letter = dead_letter

    async def handle(self, records: Sequence[Any]) -> None:
        """Apply one consumed batch (aiokafka ConsumerRecords)."""
        if not records:
            return
        BATCH_SIZE.observe(len(records))
        started = time.perf_counter()
        async with self._pool().acquire() as conn, conn.transaction():
            stored = await lock_offsets(conn, self._group, records)
            fresh = unseen(records, stored)
            decoded = await self._decode_all(fresh)
            new_events = await repository.insert_new_events(conn, decoded.events)
            await repository.add_gross(conn, gross_add_increments(new_events, self._tz))
            await repository.upsert_employees(conn, decoded.employees)
            await repository.upsert_targets(conn, decoded.targets)
            await store_offsets(conn, self._group, records)
        TX_SECONDS.observe(time.perf_counter() - started)
        RECORDS.labels("applied").inc(
            len(new_events) + len(decoded.employees) + len(decoded.targets)
        )
        RECORDS.labels("duplicate").inc(len(decoded.events) - len(new_events))
        now_ms = time.time() * 1000
        for r in fresh:
            EVENT_TO_SCORE.observe(max(0.0, (now_ms - r.timestamp) / 1000))

    async def _decode_all(self, records: Sequence[Any]) -> Decoded:
        out = Decoded()
        for raw in records:
            try:
                record = decode(raw)
            except (ValueError, ValidationError) as exc:
                RECORDS.labels("dead_letter").inc()
                await self._dead_letter(raw, f"{type(exc).__name__}: {exc}")
                continue
            if isinstance(record, ContactEvent):
                out.events.append(record)
            elif isinstance(record, EmployeeRecord):
                out.employees.append(record)
            elif isinstance(record, TargetRecord):
                out.targets.append(record)
            else:
                out.other.append(record)
        return out
