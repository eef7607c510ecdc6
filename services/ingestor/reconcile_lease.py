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
the lease is no longer held) before it publishes anything more."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import create_and_check
from shared.topics import TopicSpec

log = logging.getLogger(__name__)


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
        )
        self._held = False
        self._running = asyncio.Lock()  # held while a run is in flight
        self._poller: asyncio.Task[None] | None = None

    @property
    def _who(self) -> dict[str, str]:
        return {"member": self._member, "lease": self._topic}

    @property
    def held(self) -> bool:
        return self._held

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

    async def _poll(self) -> None:
        """Polling keeps the membership alive (and the lease topic holds no records to read)."""
        while True:
            try:
                await self._consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._held = False
                log.exception("reconciliation lease: polling failed; the lease is withdrawn")
                await asyncio.sleep(1.0)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if not self._held:
            return
        self._held = False
        async with self._running:  # the run in flight stops at its next check
            pass
        log.info("reconciliation lease released", extra=self._who)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # partition 0 only: should the topic have been made with more, still one holder
        self._held = self._partition in assigned
        if self._held:
            log.info(
                "reconciliation lease taken: this replica runs it", extra={"member": self._member}
            )
