"""One broker of a three-node Kafka cluster (deploy/local/kafka.sh with KAFKA_BROKERS=3)
killed (-9) while WeCom callbacks stream into the ingestor: topics with three copies, two in
sync, go on with the two left (the leader of the partitions it led moves), so every callback is
answered 200, each event is on the topic under its one event_id, and the scorer's figures are
those of a clean run of the same input. The dead node stays down until the end."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.faults.harness import (
    Feeder,
    Figures,
    Measure,
    Scorer,
    TopicSet,
    Workload,
    callback_ingestor,
    create_topics,
    produce_all,
)
from tests.faults.test_kafka_restart import CORP_ID, callback_xml
from tests.infra import ROOT, Infra, LocalStack
from tests.integration.test_ingestor_callback import TOKEN
from tests.kafka_helpers import read_topic
from tools.wecom.client import WeComClient, random_aes_key

pytestmark = pytest.mark.faults
PORT_OFFSET = 7  # above the faults stack's base: node n on base+7+100·(n-1), controller +1
NODES = 3


def kafka_script(stack: LocalStack, action: str) -> None:
    env = {**stack.env(), "KAFKA_BROKERS": str(NODES)}
    done = subprocess.run(
        ["bash", str(ROOT / "deploy/local/kafka.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
async def cluster(infra: Infra) -> AsyncIterator[tuple[LocalStack, Infra]]:
    """The three-node cluster, and the tier's infra (its PostgreSQL) with it as the Kafka."""
    assert infra.local is not None
    home = infra.local
    stack = LocalStack(home.dir / "cluster", home.base_port + PORT_OFFSET)
    await asyncio.to_thread(kafka_script, stack, "up")
    try:
        port = stack.ports()["kafka"]
        bootstrap = ",".join(f"localhost:{port + 100 * n}" for n in range(NODES))
        yield stack, replace(infra, kafka_bootstrap=bootstrap, local=None)
    finally:
        await asyncio.to_thread(kafka_script, stack, "down")
        shutil.rmtree(stack.dir, ignore_errors=True)


async def leader_of(infra: Infra, topic: str) -> int:
    """The node that leads the topic's partition 0."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    first = next(p for p in described["partitions"] if p["partition"] == 0)
    return int(first["leader"])


def kill9(stack: LocalStack, node: int) -> None:
    name = "kafka" if node == 1 else f"kafka-{node}"
    pid = int((stack.dir / "pids" / f"{name}.pid").read_text())
    os.kill(pid, signal.SIGKILL)


async def test_a_broker_killed_during_ingestion_loses_nothing(
    cluster: tuple[LocalStack, Infra],
    infra: Infra,
    database: str,
    load: Workload,
    reference: Figures,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack, on_cluster = cluster
    # every process started here makes its own topics with three copies, two in sync
    monkeypatch.setenv("TOPIC_REPLICATION_FACTOR", str(NODES))
    monkeypatch.setenv("TOPIC_MIN_INSYNC_REPLICAS", "2")
    measure = Measure("one Kafka broker of three killed (-9) during callback ingestion")
    topics = TopicSet.fresh()
    names = [topics.contact_events, topics.bank_records, topics.raw_callbacks]
    await create_topics(on_cluster, names, replicas=NODES)
    await produce_all(on_cluster, topics.bank_records, load.employees)
    key = random_aes_key()
    wecom = WeComClient(TOKEN, key, CORP_ID)
    ingestor, port = callback_ingestor(
        on_cluster.kafka_bootstrap, topics, tmp_path, CORP_ID, TOKEN, key
    )
    scorer = Scorer(on_cluster, database, topics, tmp_path)
    scorer.spawn()
    statuses: list[int] = []
    retried: list[int] = []
    try:
        await ingestor.ready(port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

            async def post(event: dict[str, Any]) -> None:
                """As WeCom does: a delivery that got no answer is sent again."""
                cb = wecom.callback(callback_xml(event))
                for attempt in range(3):
                    try:
                        answer = await http.post(
                            "/wecom/callback", params=cb.params, content=cb.body
                        )
                    except httpx.TransportError:
                        retried.append(attempt)
                        continue
                    statuses.append(answer.status_code)
                    return
                statuses.append(0)

            feeder = Feeder(load.events, post, rate=100).start()
            await feeder.reached(len(load.events) // 3)
            victim = await leader_of(on_cluster, topics.contact_events)
            kill9(stack, victim)
            measure.mark("broker_killed_s")
            await feeder.done()
            measure.mark("fed_s")
        figures = await scorer.figures()
        measure.mark("scored_s")
    finally:
        scorer.stop_all()
        ingestor.stop()
    assert statuses == [200] * len(load.events)  # every callback acknowledged, none refused
    on_topic = await read_topic(on_cluster, topics.contact_events, len(load.events))
    ids = [e["event_id"] for e in on_topic]
    assert len(set(ids)) == len(load.events)  # nothing lost
    assert figures == reference  # nothing lost nor counted twice
    measure.report(
        events_in=len(load.events),
        killed_node=victim,
        on_topic=len(ids),
        topic_duplicates=len(ids) - len(set(ids)),
        resent_without_answer=len(retried),
        scored=sum(v[0] for v in figures.values()),
    )
