"""The scorer's Kafka → PostgreSQL path, effectively once.

Each batch: one transaction locks the batch's partition offsets, drops records already applied
(a rebalance can deliver them again), decodes the rest (a record that cannot be decoded goes to
the dead-letter topic with the error, and the batch goes on), applies every kind of record in
bulk, marks the scores to recompute, and moves the offsets — all or nothing. A crash anywhere
rolls the whole batch back; the restart seeks to the stored offsets and applies it again."""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from services.scorer import chats, progress, repository, state, tally
from services.scorer.domain.quota import gross_add_increments
from services.scorer.scoring import Scorer
from shared.clock import Clock, system_clock
from shared.governance import Governance
from shared.kafka import lock_offsets, store_offsets, unseen
from shared.metrics import LATENCY_BUCKETS
from shared.schemas import (
    ContactEvent,
    ContactProfileRecord,
    CustomerLinkRecord,
    EmployeeRecord,
    IngestRecord,
    MessageRecord,
    SourceWatermarkRecord,
    StaffAccountRecord,
    TargetRecord,
    parse_topic_record,
)
from shared.sealed import KeyRing

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
PHASE_SECONDS = Histogram(
    "scorer_batch_phase_seconds",
    "Time of each phase of a batch's transaction: take the partitions' offsets (lock), decode, "
    "store the records, judge the touched relations (tally), write the quota columns of rows "
    "the refresh does not (sync), "
    "mark rows and store the offsets, commit",
    ["phase"],
    buckets=LATENCY_BUCKETS,
)
RECORDS = Counter(
    "scorer_records_total",
    "Records consumed by outcome: applied, duplicate, dead_letter; erased (about a contact on "
    "the erasure list) and expired (about a time whose contact data was purged) are dropped",
    ["outcome"],
)
for _outcome in ("applied", "duplicate", "dead_letter", "erased", "expired"):
    RECORDS.labels(_outcome)  # exported at 0 from the start
ODD_TIMES = Counter(
    "scorer_events_odd_time_total",
    "Events kept but flagged: event time far in the future or before the retention horizon",
    ["kind"],
)

DeadLetter = Callable[[Any, str], Awaitable[None]]
# Failures caused by a record's content (PostgreSQL refusing a value or a constraint, our own
# code meeting a shape it cannot handle), as opposed to the database being unavailable.
# A bug of ours (a TypeError on every record of a kind) is not isolated record by record: it
# stops the partition, loudly, until fixed, instead of dead-lettering the whole stream.
POISON_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)
CAUGHT_UP_AFTER = 1.0
"""Seconds without a batch after a full one that tell a backlog was applied (a batch waits
SCORER_BATCH_TIMEOUT_MS, 200 ms by default, to fill): the refresh, held while the consumer
catches up, goes on (the last batch of a backlog is full, and no batch follows it)."""
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
    staff_accounts: list[StaffAccountRecord] = field(default_factory=list)
    source_watermarks: list[SourceWatermarkRecord] = field(default_factory=list)
    # per (topic, partition) of contact events: the latest event time consumed
    progress: dict[tuple[str, int], datetime] = field(default_factory=dict)
    # records dropped, not stored: `erased` (the contact is on the erasure list), `expired`
    # (about a time before the purge horizon: a replay must not bring purged data back)
    dropped: Tally[str] = field(default_factory=Tally)

    def add(self, record: IngestRecord) -> None:
        bucket: dict[type, list[Any]] = {
            ContactEvent: self.events,
            EmployeeRecord: self.employees,
            TargetRecord: self.targets,
            CustomerLinkRecord: self.links,
            ContactProfileRecord: self.profiles,
            MessageRecord: self.messages,
            StaffAccountRecord: self.staff_accounts,
            SourceWatermarkRecord: self.source_watermarks,
        }
        bucket[type(record)].append(record)


def decode(raw: Any) -> IngestRecord:
    return parse_topic_record(orjson.loads(raw.value))


CONTACT_TIME = {
    ContactEvent: "occurred_at",
    MessageRecord: "sent_at",
    ContactProfileRecord: "occurred_at",
    CustomerLinkRecord: "occurred_at",
}
"""The contact-level records, and the time each is about (the retention purge's horizon)."""


def dropped(record: IngestRecord, governance: Governance) -> str | None:
    """Why a record is not stored (None: it is): its contact was erased, or the contact data of
    its time was purged. Both are counted, never dead-lettered: nothing is wrong with them."""
    if governance.erased(getattr(record, "external_userid", None)) or governance.erased(
        getattr(record, "unionid", None)
    ):
        return "erased"
    at = CONTACT_TIME.get(type(record))
    if at is not None and governance.expired(getattr(record, at)):
        return "expired"
    return None


def flag_odd_time(event: ContactEvent, now: datetime) -> bool:
    """Count an event from the future (a sender's clock, a bug); True for one."""
    if event.occurred_at > now + FUTURE_SLACK:
        ODD_TIMES.labels("future").inc()
        log.warning("event from the future kept", extra={"event_id": event.event_id})
        return True
    if event.occurred_at < now - PAST_HORIZON:
        ODD_TIMES.labels("past").inc()
    return False


def _observe(phase: str, since: float) -> float:
    now = time.perf_counter()
    PHASE_SECONDS.labels(phase).observe(now - since)
    return now


class ScoringPipeline:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        group: str,
        scorer: Scorer,
        dead_letter: DeadLetter,
        full_batch: int | None = None,
        governance: Governance | None = None,
        robot_keys: KeyRing | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scorer = scorer
        # the erasure list and the purge horizon, read again in every batch's transaction
        self.governance = governance or Governance(None)
        self._robot_keys = robot_keys
        self._clock: Clock = scorer.clock
        self._pool = pool
        self._group = group
        self._tz = scorer.calendar.tz
        self._dead_letter = dead_letter
        self._undecodable: set[tuple[str, int, int]] = set()  # this batch's, dead-lettered
        self._full_batch = full_batch
        self._catching_up = False
        self._monotonic = monotonic
        self._done_at: float | None = 0.0  # when the last batch was applied; None: applying

    async def assigned(self, topic: str, partitions: Sequence[int]) -> None:
        """Partitions of the contact-event topic just assigned (closing waits for them)."""
        async with self._pool().acquire() as conn:
            await progress.record_assignment(conn, topic, partitions, self._clock())

    def catching_up(self) -> bool:
        """The last batch was at least half full and the next one is due: a backlog is waiting
        in Kafka (steady traffic fills a batch only to what arrived within the batch timeout).
        No batch for CAUGHT_UP_AFTER seconds after it: the backlog was applied."""
        done = self._done_at
        return self._catching_up and (done is None or self._monotonic() - done < CAUGHT_UP_AFTER)

    async def handle(self, records: Sequence[Any]) -> None:
        """Apply one consumed batch (aiokafka ConsumerRecords)."""
        self._catching_up = self._full_batch is not None and 2 * len(records) >= self._full_batch
        if not records:
            return
        BATCH_SIZE.observe(len(records))
        self._undecodable.clear()
        self._done_at = None
        try:
            await self._apply_isolating(records)
        finally:
            self._done_at = self._monotonic()
        # transport latency against Kafka's own timestamps: the machine's clock, not the
        # business clock (which tests may shift to another day)
        now_ms = system_clock().timestamp() * 1000
        for r in records:
            EVENT_TO_STATE.observe(max(0.0, (now_ms - r.timestamp) / 1000))

    async def _apply_isolating(self, records: Sequence[Any]) -> None:
        """Apply the records in one transaction; when the data itself makes that fail (a
        record PostgreSQL refuses, one our code cannot handle), apply each half on its own, in
        order, down to the one record that fails: it goes alone to the dead-letter topic with
        the error and its offset is stored, so the rest of the batch and of the partition
        proceed. A failure of the database itself (connection lost, a deadlock) is not the
        data's: it propagates, and the whole batch is tried again."""
        try:
            await self._apply(records)
        except POISON_ERRORS as exc:
            if len(records) > 1:
                middle = len(records) // 2
                await self._apply_isolating(records[:middle])
                await self._apply_isolating(records[middle:])
                return
            await self._isolate(records[0], exc)

    async def _isolate(self, raw: Any, exc: BaseException) -> None:
        reason = f"could not be applied: {type(exc).__name__}: {exc}"
        log.error(
            "record dead-lettered",
            extra={
                "topic": raw.topic,
                "partition": raw.partition,
                "offset": raw.offset,
                "error": reason,
            },
        )
        await self._dead_letter(raw, reason)
        async with self._pool().acquire() as conn, conn.transaction():
            await lock_offsets(conn, self._group, [raw])
            await store_offsets(conn, self._group, [raw])
        RECORDS.labels("dead_letter").inc()

    async def _apply(self, records: Sequence[Any]) -> None:
        started = time.perf_counter()
        now = self._clock()
        dirty: state.Dirty = set()
        judge: state.Judge = set()
        async with self._pool().acquire() as conn, conn.transaction():
            stored = await lock_offsets(conn, self._group, records)
            await self.governance.refresh(conn)  # an erasure or a purge: before or after
            phase = _observe("lock", started)
            fresh = unseen(records, stored)
            decoded = await self._decode_all(fresh, now)
            phase = _observe("decode", phase)
            await state.hold_contacts(
                conn, decoded.events, decoded.staff_accounts, decoded.profiles
            )
            new_events = await state.apply_contact_events(
                conn, decoded.events, self._tz, dirty, now, judge
            )
            new_messages = await state.apply_messages(
                conn, decoded.messages, self._tz, dirty, judge
            )
            await state.apply_contact_facts(
                conn, decoded.links, decoded.profiles, self._tz, dirty, judge
            )
            reorged = await state.apply_org(
                conn,
                decoded.employees,
                decoded.targets,
                self._tz,
                dirty,
                now,
                judge,
                self._robot_keys,
            )
            await state.apply_staff_accounts(conn, decoded.staff_accounts, self._tz, dirty, judge)
            await progress.record_sources(conn, decoded.source_watermarks)
            await progress.record_partitions(conn, decoded.progress, now)
            # the quota counters, current when this commits (tally.py); the employees held in
            # one go, in order, before any of their figures is read
            phase = _observe("store", phase)
            grossed = gross_add_increments(new_events, self._tz)
            chatted = {m.employee_id for m in new_messages}
            held = {k[0] for k in (*judge, *grossed, *reorged)} | chatted
            await tally.hold(conn, held)
            phase = _observe("hold", phase)
            chat_changes, replies = await chats.settle(
                conn, (chats.message_of(m) for m in new_messages), self._tz
            )
            settled = await tally.settle(conn, self._scorer, judge, now, held)
            changes = tally.with_gross(settled, grossed)
            moved = await tally.count(conn, tally.merged(changes, chat_changes))
            moved |= tally.keys_of(await chats.medians(conn, replies))
            phase = _observe("tally", phase)
            # the read API computes an open period's quota figures from the counters: the
            # rows' copies of the keys marked dirty are written by the refresh (scoring.
            # store_open); the rest, and every row whose org or target changed, here
            await tally.sync_scores(conn, self._scorer, (moved - dirty) | reorged, now)
            phase = _observe("sync", phase)
            await repository.mark_dirty(conn, dirty)
            await store_offsets(conn, self._group, records)
            phase = _observe("offsets", phase)
        _observe("commit", phase)
        TX_SECONDS.observe(time.perf_counter() - started)
        duplicates = (
            len(decoded.events) - len(new_events) + len(decoded.messages) - len(new_messages)
        )
        dropped = sum(decoded.dropped.values())
        RECORDS.labels("applied").inc(len(fresh) - duplicates - dropped)
        RECORDS.labels("duplicate").inc(duplicates + len(records) - len(fresh))
        for outcome, n in decoded.dropped.items():
            RECORDS.labels(outcome).inc(n)

    async def _decode_all(self, records: Sequence[Any], now: datetime) -> Decoded:
        out = Decoded()
        for raw in records:
            try:
                record = decode(raw)
            except (ValueError, ValidationError) as exc:
                spot = (raw.topic, raw.partition, raw.offset)
                if spot not in self._undecodable:  # once, however often the batch is split
                    self._undecodable.add(spot)
                    RECORDS.labels("dead_letter").inc()
                    await self._dead_letter(raw, f"{type(exc).__name__}: {exc}")
                continue
            why = dropped(record, self.governance)
            if why is not None:
                out.dropped[why] += 1
                continue
            if isinstance(record, ContactEvent):
                if flag_odd_time(record, now):
                    out.add(record)  # kept, but it says nothing of how far the stream is
                    continue
                where = (raw.topic, raw.partition)
                latest = out.progress.get(where)
                if latest is None or record.occurred_at > latest:
                    out.progress[where] = record.occurred_at
            out.add(record)
        return out
