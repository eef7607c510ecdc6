"""`KAFKA_BROKERS=3` (deploy/local/kafka.sh): a three-node KRaft cluster from the same jars, on
ports of its own (five above `$WQ_STACK_BASE_PORT`, each node 100 further), in
`$WQ_STACK_DIR/cluster`. A notifier in `WQ_PROFILE=production` with three copies, two in sync,
creates its topics that way and starts; given a topic with one copy, it refuses to start."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.notifier.app import create_app
from shared.kafka import TopicMismatchError, make_broker, topic_states
from shared.settings import Topics
from shared.topics import Profile
from tests.apps import running
from tests.infra import ROOT, Infra, LocalStack, unique
from tests.integration.test_notifier_delivery import make_settings

pytestmark = pytest.mark.integration
PORT_OFFSET = 5  # node n on base+5+100·(n-1), its controller on base+6+100·(n-1)


def kafka_script(stack: LocalStack, action: str) -> None:
    env = {**stack.env(), "KAFKA_BROKERS": "3"}
    done = subprocess.run(
        ["bash", str(ROOT / "deploy/local/kafka.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
async def cluster(infra: Infra) -> AsyncIterator[str]:
    if infra.local is None:
        pytest.skip("the three-node cluster runs from the local stack's jars (tests/infra.py)")
    home = infra.local
    stack = LocalStack(home.dir / "cluster", home.base_port + PORT_OFFSET)
    await asyncio.to_thread(kafka_script, stack, "up")
    try:
        port = stack.ports()["kafka"]
        yield ",".join(f"localhost:{port + 100 * n}" for n in range(3))
    finally:
        await asyncio.to_thread(kafka_script, stack, "down")
        shutil.rmtree(stack.dir, ignore_errors=True)


async def test_production_topics_are_made_on_three_nodes_and_checked(
    infra: Infra, cluster: str, database: str, tmp_path: Path
) -> None:
    suffix = unique("t")
    topics = Topics(breaches=f"scoring.breaches.{suffix}")
    settings = make_settings(
        infra,
        topics,
        database,
        tmp_path,
        {},
        kafka_bootstrap_servers=cluster,
        wq_profile=Profile.PRODUCTION,
        topic_replication_factor=3,
        topic_min_insync_replicas=2,
    )
    async with running(create_app(settings)) as client:
        assert (await client.get("/readyz")).status_code == 200
    broker = make_broker(cluster, "cluster-test")
    await broker.connect()
    try:
        names = [topics.breaches, topics.dlq(topics.breaches)]
        states = await topic_states(broker.config.admin_client, names)
    finally:
        await broker.stop()
    assert {s.replication_factor for s in states.values()} == {3}
    assert {s.configs["min.insync.replicas"] for s in states.values()} == {"2"}

    # a topic someone made with one copy: production refuses to start on it
    other = Topics(breaches=f"scoring.breaches.{unique('t')}")
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(other.breaches, 3, 1)])
    finally:
        await admin.close()
    refused = settings.model_copy(update={"topics": other})
    with pytest.raises(TopicMismatchError, match="replication factor 1, wanted 3"):
        async with running(create_app(refused)):
            pass
