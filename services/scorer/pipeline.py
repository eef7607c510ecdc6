"""The scorer's Kafka → PostgreSQL path, effectively once.

Each batch: one transaction locks the batch's partition offsets, drops records already applied
(a rebalance can deliver them again), decodes the rest (a record that cannot be decoded goes to
the dead-letter topic with the error, and the batch goes on), applies every kind of record in
bulk, marks the scores to recompute, and moves the offsets — all or nothing. A crash anywhere
rolls the whole batch back; the restart seeks to the stored offsets and applies it again."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from services.scorer import repository, state
from shared.clock import Clock, system_clock
from shared.kafka import lock_offsets, store_offsets, unseen
from shared.metrics import LATENCY_BUCKETS
from shared.schemas import (
    ContactEvent,
    ContactProfileRecord,
    CustomerLinkRecord,
    EmployeeRecord,
    IngestRecord,
    MessageRecord,
    TargetRecord,
    parse_topic_record,
)

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
EVENT_TO_STATE = Histogram(
    "scorer_event_to_state_seconds",
    "From the Kafka record's timestamp to its batch being committed",
    buckets=LATENCY_BUCKETS,
)
RECORDS = Counter("scorer_records_total", "Records consumed by outcome", ["outcome"])
ODD_TIMES = Counter(
    "scorer_events_odd_time_total",
    "Events kept but flagged: event time far in the future or before the retention horizon",
    ["kind"],
)

DeadLetter = Callable[[Any, str], Awaitable[None]]
FUTURE_SLACK = timedelta(hours=1)
PAST_HORIZON = timedelta(days=400)


@dataclass
class Decoded:
    events: list[ContactEvent] = field(default_factory=list)
    employees: list[EmployeeRecord] = field(default_factory=list)
    targets: list[TargetRecord] = field(default_factory=list)
    links: list[CustomerLinkRecord] = field(default_factory=list)
    profiles: list[ContactProfileRecord] = field(default_factory=list)
    messages: list[MessageRecord] = field(default_factory=list)

    def add(self, record: IngestRecord) -> None:
        bucket: dict[type, list[Any]] = {
            ContactEvent: self.events,
            EmployeeRecord: self.employees,
            TargetRecord: self.targets,
            CustomerLinkRecord: self.links,
            ContactProfileRecord: self.profiles,
            MessageRecord: self.messages,
        }
        bucket[type(record)].append(record)


def decode(raw: Any) -> IngestRecord:
    return parse_topic_record(orjson.loads(raw.value))


def flag_odd_time(event: ContactEvent, now: datetime) -> None:
    if event.occurred_at > now + FUTURE_SLACK:
        ODD_TIMES.labels("future").inc()
        log.warning("event from the future kept", extra={"event_id": event.event_id})
    elif event.occurred_at < now - PAST_HORIZON:
        ODD_TIMES.labels("past").inc()


class ScoringPipeline:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        group: str,
        tz: ZoneInfo,
        dead_letter: DeadLetter,
        full_batch: int | None = None,
        *,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._pool = pool
        self._group = group
        self._tz = tz
        self._dead_letter = dead_letter
        self._full_batch = full_batch
        self._catching_up = False

    def catching_up(self) -> bool:
        """The last batch was at least half full: a backlog is waiting in Kafka (steady traffic
        fills a batch only to what arrived within the batch timeout)."""
        return self._catching_up

    async def handle(self, records: Sequence[Any]) -> None:
        """Apply one consumed batch (aiokafka ConsumerRecords)."""
        self._catching_up = self._full_batch is not None and 2 * len(records) >= self._full_batch
        if not records:
            return
        BATCH_SIZE.observe(len(records))
        started = time.perf_counter()
        now = self._clock()
        dirty: state.Dirty = set()
        async with self._pool().acquire() as conn, conn.transaction():
            stored = await lock_offsets(conn, self._group, records)
            fresh = unseen(records, stored)
            decoded = await self._decode_all(fresh, now)
            new_events = await state.apply_contact_events(
                conn, decoded.events, self._tz, dirty, now
            )
            new_messages = await state.apply_messages(conn, decoded.messages, self._tz, dirty)
            await state.apply_contact_facts(conn, decoded.links, decoded.profiles, self._tz, dirty)
            await state.apply_org(conn, decoded.employees, decoded.targets, self._tz, dirty, now)
            await repository.mark_dirty(conn, dirty)
            await store_offsets(conn, self._group, records)
        TX_SECONDS.observe(time.perf_counter() - started)
        duplicates = len(decoded.events) - len(new_events) + len(decoded.messages) - new_messages
        RECORDS.labels("applied").inc(len(fresh) - duplicates)
        RECORDS.labels("duplicate").inc(duplicates + len(records) - len(fresh))
        # transport latency against Kafka's own timestamps: the machine's clock, not the
        # business clock (which tests may shift to another day)
        now_ms = system_clock().timestamp() * 1000
        for r in fresh:
            EVENT_TO_STATE.observe(max(0.0, (now_ms - r.timestamp) / 1000))

    async def _decode_all(self, records: Sequence[Any], now: datetime) -> Decoded:
        out = Decoded()
        for raw in records:
            try:
                record = decode(raw)
            except (ValueError, ValidationError) as exc:
                RECORDS.labels("dead_letter").inc()
                await self._dead_letter(raw, f"{type(exc).__name__}: {exc}")
                continue
            if isinstance(record, ContactEvent):
                flag_odd_time(record, now)
            out.add(record)
        return out
