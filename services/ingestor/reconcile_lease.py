"""One reconciliation runner among the ingestor replicas: a Kafka lease.

The ingestor has no database, so the lease is Kafka's own group membership: every replica's
schedule joins the consumer group RECONCILE_LEASE_GROUP on the one-partition lease topic
(TOPIC_RECONCILE_LEASE, a table: compacted, shared/topics.py). Kafka assigns that partition to
exactly one member; that member is the runner. When the group changes (a replica starts,
stops, or misses its heartbeats for RECONCILE_LEASE_SESSION_SECONDS), the holder's
`on_partitions_revoked` runs *before* the group is rebalanced: it withdraws the lease and waits
until the run in flight has stopped at its next check (`check()`, between employee groups), and
only then does the partition go to someone else. A holder that is gone or hung past the session
timeout is evicted; if a hung holder wakes up, its next `check()` fails (its heartbeats failed:
the lease is no longer held) before it publishes anything more.

The lease topic also holds what every replica must know to run once a day, not once per
replica: the start of the last successful run (key `last-success`, a `LeaseRecord`; compaction
keeps the latest). The holder writes it (acks=all) before its run gives the lease up; a replica
assigned the partition reads the topic from its start to its end before it decides anything
(`ready`), so a replica that takes the lease over, or starts with empty state, knows the day's
run was done elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import IllegalStateError
from aiokafka.structs import ConsumerRecord
from pydantic import AwareDatetime, BaseModel, ValidationError

from shared.kafka import create_and_check
from shared.topics import TopicSpec

log = logging.getLogger(__name__)
LAST_SUCCESS_KEY = b"last-success"


class LeaseRecord(BaseModel):
    """The lease topic's one record (key `last-success`): the last successful reconciliation."""

    started_at: AwareDatetime  # by the clock the run read (the injected one in tests)
    member: str = ""  # who ran it (RECONCILE member id; empty for the ingestor's own)


class LeaseLost(RuntimeError):  # noqa: N818 - a state, not a programming error
    """The lease went to another replica: the run stops where it is (it repeats next time)."""


class ReconcileLease(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        bootstrap_servers: str,
        topic: TopicSpec,
        group: str,
        session_seconds: float = 10.0,
        member: str = "",
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._spec = topic
        self._topic = topic.name
        self._partition = TopicPartition(topic.name, 0)
        self._member = member
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            client_id=f"ingestor-reconcile-lease{'-' + member if member else ''}",
            enable_auto_commit=False,
            session_timeout_ms=int(session_seconds * 1000),
            heartbeat_interval_ms=max(int(session_seconds * 1000) // 5, 100),
            rebalance_timeout_ms=int(session_seconds * 6000),
            # a lease topic made a moment ago is seen soon (else: no assignment for minutes)
            metadata_max_age_ms=5000,
            # never committed: every assignment reads the topic from its start
            auto_offset_reset="earliest",
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=f"ingestor-reconcile-lease{'-' + member if member else ''}",
            acks="all",
            enable_idempotence=True,
        )
        self._last_success: datetime | None = None
        self._caught_up = False  # the topic read to its end since this assignment
        self._held = False
        self._running = asyncio.Lock()  # held while a run is in flight
        self._poller: asyncio.Task[None] | None = None

    @property
    def _who(self) -> dict[str, str]:
        return {"member": self._member, "lease": self._topic}

    @property
    def held(self) -> bool:
        return self._held

    @property
    def ready(self) -> bool:
        """Held, and the lease topic read to its end: `last_success` is what every run wrote."""
        return self._held and self._caught_up

    @property
    def last_success(self) -> datetime | None:
        """The start of the last successful run any replica recorded on the lease topic."""
        return self._last_success

    async def record_success(self, started_at: datetime) -> None:
        """Tell the other replicas (the next holder) of a successful run; called inside
        `running()`, so the lease is not given up before this record is acknowledged."""
        record = LeaseRecord(started_at=started_at, member=self._member)
        await self._producer.send_and_wait(
            self._topic, record.model_dump_json().encode(), key=LAST_SUCCESS_KEY, partition=0
        )
        self._learn(started_at)

    def _learn(self, started_at: datetime) -> None:
        if self._last_success is None or started_at > self._last_success:
            self._last_success = started_at

    def check(self) -> None:
        """Raise LeaseLost unless this replica still holds the lease."""
        if not self._held:
            raise LeaseLost(f"the reconciliation lease ({self._topic}) went to another replica")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Around a run: a revocation waits for it to end (the run calls `check()`)."""
        async with self._running:
            self.check()
            yield

    async def start(self) -> None:
        """Make the lease topic if missing (one partition: one holder), then join the group."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await admin.start()
        try:
            await create_and_check(admin, [self._spec], refuse_mismatch=False)
            for _ in range(100):  # until its partition has a leader: joining earlier assigns none
                described = await admin.describe_topics([self._topic])
                if any(p["leader"] >= 0 for t in described for p in t["partitions"]):
                    break
                await asyncio.sleep(0.1)
        finally:
            await admin.close()
        await self._producer.start()
        await self._consumer.start()
        self._consumer.subscribe([self._topic], listener=self)
        self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        self._held = False
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        # leaving the group hands the lease to another replica at once
        await self._consumer.stop()
        await self._producer.stop()

    async def _poll(self) -> None:
        """Polling keeps the membership alive and, while this replica holds the partition,
        reads the runs recorded there; once read to the end, the lease is `ready`."""
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        self._fold(record)
                if self._held and not self._caught_up:
                    await self._catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._held = False
                log.exception("reconciliation lease: polling failed; the lease is withdrawn")
                await asyncio.sleep(1.0)

    async def _catch_up(self) -> None:
        # the end first: whatever was written before it has been read once the position
        # reaches it (only a holder writes, and the last one wrote before it gave the lease up)
        try:
            ends = await self._consumer.end_offsets([self._partition])
            position = await self._consumer.position(self._partition)
        except IllegalStateError:  # revoked meanwhile
            return
        if self._held and position >= ends[self._partition]:
            self._caught_up = True
            log.info(
                "reconciliation lease: the runs recorded on the lease topic are read",
                extra={**self._who, "last_success": str(self._last_success)},
            )

    def _fold(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key != LAST_SUCCESS_KEY or record.value is None:
            return
        try:
            self._learn(LeaseRecord.model_validate_json(record.value).started_at)
        except ValidationError:
            log.warning("reconciliation lease: an unreadable record skipped", extra=self._who)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._caught_up = False
        if not self._held:
            return
        self._held = False
        async with self._running:  # the run in flight stops at its next check
            pass
        log.info("reconciliation lease released", extra=self._who)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # partition 0 only: should the topic have been made with more, still one holder
        self._caught_up = False  # read from its start again (no offset is ever committed)
        self._held = self._partition in assigned
        if self._held:
            log.info(
                "reconciliation lease taken: this replica runs it", extra={"member": self._member}
            )
