"""What every fault test shares: the workload (one month of one bank's adds and deletes), a
steady feeder, the scorer as a real process (started, killed, restarted), and its final
per-employee figures — which a fault run must give exactly as a clean run of the same input."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.scorer.settings import ScorerSettings
from services.scorer.verify import scorer_of, verify_all
from tests import factories as f
from tests.apps import bearer, eventually, issue_token
from tests.infra import Infra, stack_dir, unique
from tests.processes import Service
from tests.standins.webhook_sink import free_port

EMPLOYEES = 30
PERIOD = "2026-09"
Figures = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class Workload:
    employees: list[dict[str, Any]]
    """The bank records loaded first: the employees, then every added contact's profile."""
    events: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return len(self.employees) + len(self.events)


def workload(events: int = 1200, seed: int = 7) -> Workload:
    """Adds and deletes of 30 managers over September; 15 % deletes, every fact distinct."""
    rng = random.Random(seed)
    employees = [f.employee(f"m{i:02d}", team_id=f"t{i % 4}") for i in range(EMPLOYEES)]
    out: list[dict[str, Any]] = []
    for n in range(events):
        who = f"m{rng.randrange(EMPLOYEES):02d}"
        contact = f"wm{rng.randrange(events * 3 // 4):04d}"
        day = f"{PERIOD}-{rng.randrange(1, 29):02d}"
        record = f.add(who, contact, f.at(day, hour=rng.randrange(9, 18)))
        if rng.random() < 0.15:
            record["ChangeType"] = rng.choice(["del_follow_user", "del_external_contact"])
        record["CreateTime"] += n % 60
        out.append(record)
    # the contacts' profiles with the org records: an add is valid only once its profile is known
    return Workload([*employees, *f.profiles_for(out)], out)


@dataclass(frozen=True)
class TopicSet:
    """One run's topics, as the services' environment names them."""

    contact_events: str
    bank_records: str
    breaches: str
    raw_callbacks: str

    @classmethod
    def fresh(cls) -> TopicSet:
        s = unique("f")
        return cls(
            f"wecom.contact-events.{s}", f"bank.records.{s}", f"scoring.breaches.{s}", f"raw.{s}"
        )

    def env(self) -> dict[str, str]:
        return {
            "TOPIC_CONTACT_EVENTS": self.contact_events,
            "TOPIC_BANK_RECORDS": self.bank_records,
            "TOPIC_BREACHES": self.breaches,
            "TOPIC_RAW_CALLBACKS": self.raw_callbacks,
        }

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}.dlq"


async def create_topics(
    infra: Infra, names: Sequence[str], partitions: int = 3, replicas: int = 1
) -> None:
    """`replicas` copies of each partition; with three, two must be in sync (the production
    profile's topics, shared/topics.py)."""
    configs = {"min.insync.replicas": "2"} if replicas >= 3 else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    name=n,
                    num_partitions=partitions,
                    replication_factor=replicas,
                    topic_configs=configs,
                )
                for n in names
            ]
        )
    finally:
        await admin.close()


async def records_on(infra: Infra, topics: Sequence[str]) -> int:
    """How many records the topics hold (sum of their end offsets): what a consumer of them
    has applied once its stored offsets add up to this."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in topics for p in await producer.partitions_for(t)]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()
        await producer.stop()


def key_of(record: dict[str, Any]) -> str:
    return str(record.get("UserID") or record.get("employee_id") or "k")


async def produce_all(infra: Infra, topic: str, records: Sequence[dict[str, Any] | bytes]) -> None:
    """All at once, keyed by employee (so they spread over the partitions, in order each)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        pending = []
        for r in records:
            value, key = (r, "poison") if isinstance(r, bytes) else (orjson.dumps(r), key_of(r))
            pending.append(await producer.send(topic, value, key=key.encode()))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


@dataclass
class Feeder:
    """A steady load: `send` called for each item at `rate` items per second, in order, in the
    background. `sent` counts what was sent so far; `done` ends with the feed."""

    items: Sequence[Any]
    send: Callable[[Any], Awaitable[None]]
    rate: float = 100.0
    sent: int = 0
    task: asyncio.Task[None] | None = None

    def start(self) -> Feeder:
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for n, item in enumerate(self.items):
            delay = began + n / self.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.send(item)
            self.sent += 1

    async def reached(self, count: int) -> None:
        async def sent() -> int:
            if self.task is not None and self.task.done():
                self.task.result()  # a feeder that failed fails the test
            return self.sent

        await eventually(sent, lambda n: n >= count, timeout=120)

    async def done(self) -> None:
        assert self.task is not None
        await asyncio.wait_for(self.task, 300)


class KafkaFeed:
    """A producer that sends one record at a time and waits for its acknowledgement."""

    def __init__(self, infra: Infra, topic: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True
        )
        self._topic = topic

    async def __aenter__(self) -> KafkaFeed:
        await self._producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._producer.stop()

    async def send(self, record: dict[str, Any] | bytes) -> None:
        value, key = (
            (record, "poison")
            if isinstance(record, bytes)
            else (orjson.dumps(record), key_of(record))
        )
        await self._producer.send_and_wait(self._topic, value, key=key.encode())


@dataclass
class Scorer:
    """A scorer process on a database and a topic set, with the probes the tests wait on."""

    infra: Infra
    database: str
    topics: TopicSet
    tmp: Path
    group: str = field(default_factory=lambda: unique("scorer"))
    instances: list[tuple[Service, int]] = field(default_factory=list)

    def spawn(self) -> tuple[Service, int]:
        port = free_port()
        env = {
            **os.environ,
            **self.topics.env(),
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka_bootstrap,
            "DATABASE_URL": self.infra.app_dsn(self.database),
            "DATABASE_MIGRATION_URL": self.infra.owner_dsn(self.database),
            "SCORER_GROUP_ID": self.group,
            "SCORER_PORT": str(port),
            "SCORER_BATCH_MAX_RECORDS": "97",
            "CLOSE_PERIOD_KINDS": "[]",
        }
        log = self.tmp / f"{self.group}.{len(self.instances)}.log"
        instance = (Service("services.scorer", env, log).start(), port)
        self.instances.append(instance)
        return instance

    def stop_all(self) -> None:
        for service, _ in self.instances:
            service.stop()

    async def _fetch(self, sql: str, *args: Any) -> int:
        conn = await asyncpg.connect(self.infra.owner_dsn(self.database))
        try:
            return int(await conn.fetchval(sql, *args))
        finally:
            await conn.close()

    async def applied(self) -> int:
        """Records consumed and committed with the data (the sum of the stored offsets)."""
        try:
            return await self._fetch(
                "SELECT COALESCE(sum(next_offset), 0) FROM consumer_offset "
                "WHERE consumer_group = $1",
                self.group,
            )
        except (OSError, asyncpg.PostgresError):  # the database may be restarting
            return -1

    async def wait_applied(self, count: int, timeout: float = 180) -> None:
        await eventually(self.applied, lambda n: n >= count, timeout)

    async def figures(self) -> Figures:
        """Once everything on the topics is applied and every score recomputed: the API's
        figures. (The topics may hold more records than the input: a publisher's retry may
        repeat one, under the same event_id.)"""
        on_topics = await records_on(
            self.infra, [self.topics.contact_events, self.topics.bank_records]
        )
        await self.wait_applied(on_topics)
        dirty = "SELECT count(*) FROM score_dirty"
        await eventually(lambda: self._fetch(dirty), lambda n: n == 0, 120)
        service, port = next((s, p) for s, p in self.instances if s.proc and s.proc.poll() is None)
        await service.ready(port)
        token = await issue_token(self.infra.app_dsn(self.database))
        async with httpx.AsyncClient(timeout=30, headers=bearer(token)) as http:

            async def read() -> Figures:
                body = await http.get(f"http://127.0.0.1:{port}/v1/scores?period={PERIOD}")
                return {
                    e["employee_id"]: (
                        e["gross_adds"],
                        e["first_adds"],
                        e["valid_adds"],
                        e["pending_adds"],
                        e["removed_adds"],
                        e["new_to_bank"],
                    )
                    for e in body.json()["employees"]
                }

            figures = await eventually(read, lambda r: len(r) == EMPLOYEES, 60)
        await self.verify()
        return figures

    async def verify(self) -> None:
        """The verifier finds no difference between the kept quota figures of any period and
        a recount from the stored relations (services.scorer.verify)."""
        settings = ScorerSettings(database_url=self.infra.app_dsn(self.database))
        conn = await asyncpg.connect(self.infra.owner_dsn(self.database))
        try:
            differences = await verify_all(conn, scorer_of(settings))
        finally:
            await conn.close()
        assert differences == [], [str(d) for d in differences[:20]]


async def clean_figures(infra: Infra, database: str, load: Workload, tmp: Path) -> Figures:
    """The reference: the same input, pre-loaded on topics of its own, one scorer, no fault."""
    topics = TopicSet.fresh()
    await create_topics(infra, [topics.contact_events, topics.bank_records])
    await produce_all(infra, topics.bank_records, load.employees)
    await produce_all(infra, topics.contact_events, load.events)
    scorer = Scorer(infra, database, topics, tmp)
    scorer.spawn()
    try:
        return await scorer.figures()
    finally:
        scorer.stop_all()


async def stack_action(infra: Infra, script: str, action: str) -> None:
    """Stop or start the tier's own Kafka or PostgreSQL without blocking the event loop (the
    feed goes on meanwhile). A start that outlives the script's wait on a loaded machine is
    asked once more: a process still starting is then left to finish, and the tests' own
    waits (spool drained, everything applied) decide."""
    assert infra.local is not None
    try:
        await asyncio.to_thread(infra.local.script, script, action)
    except RuntimeError:
        if action != "up":
            raise
        await asyncio.to_thread(infra.local.script, script, action)


@dataclass
class Measure:
    """Figures for RELIABILITY.md, printed (pytest -s shows them) and returned."""

    fault: str
    began: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.began, 1)

    def report(self, **figures: Any) -> dict[str, Any]:
        """Printed (`make test-faults` shows it) and appended to
        `$WQ_STACK_DIR/fault-results.ndjson`, where RELIABILITY.md's figures come from."""
        row = {"fault": self.fault, **figures, **self.marks}
        line = orjson.dumps(row).decode()
        print(f"\nFAULT-RESULT {line}")
        stack_dir().mkdir(parents=True, exist_ok=True)
        with (stack_dir() / "fault-results.ndjson").open("a") as out:
            out.write(line + "\n")
        return row


def callback_ingestor(
    kafka_bootstrap: str, topics: TopicSet, tmp: Path, corp_id: str, token: str, key: str
) -> tuple[Service, int]:
    """An ingestor process taking WeCom callbacks on a free port (no lookups, no /v1/events),
    retrying Kafka quickly and spooling under `tmp`; started, not yet ready."""
    port = free_port()
    env = {
        **os.environ,
        **topics.env(),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "WECOM_CORP_ID": corp_id,
        "WECOM_CALLBACK_TOKEN": token,
        "WECOM_CALLBACK_AES_KEY": key,
        "SPOOL_DIR": str(tmp / "spool"),
        "INGESTOR_PORT": str(port),
        "KAFKA_CONNECT_RETRY_SECONDS": "0.5",
    }
    for name in ("WECOM_CORP_SECRET", "INGEST_API_TOKENS"):
        env.pop(name, None)
    return Service("services.ingestor", env, tmp / "ingestor.log").start(), port
