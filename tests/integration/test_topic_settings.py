"""Topic settings against the real test broker (shared/kafka.py `ensure_topics`): missing topics
are created from their specs and then match them; an existing topic that differs is named, one
log line per topic, and refused in a production profile (TopicMismatchError); a service in the
development profile starts anyway, saying so."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from services.notifier.app import create_app
from shared.kafka import TopicMismatchError, ensure_topics, make_broker, topic_states
from shared.settings import CommonSettings, Topics
from shared.topics import DAY_MS, TopicPolicy, TopicRole
from tests.apps import running
from tests.infra import Infra
from tests.integration.test_notifier_delivery import make_settings

pytestmark = pytest.mark.integration
POLICY = TopicPolicy(
    partitions=2, replication_factor=1, min_insync_replicas=1, retention_days=7,
    source_retention_days=-1,
)  # fmt: skip


@asynccontextmanager
async def connected(infra: Infra) -> AsyncIterator[KafkaBroker]:
    broker = make_broker(infra.kafka_bootstrap, "topic-settings-test")
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.stop()


async def create_plain(infra: Infra, name: str, partitions: int) -> None:
    """A topic made the way a cluster's defaults make it (no topic-level settings)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def test_missing_topics_are_created_as_specified(infra: Infra, topics: Topics) -> None:
    specs = [
        POLICY.spec(topics.contact_events, TopicRole.SOURCE),
        POLICY.spec(topics.breaches, TopicRole.DERIVED),
        POLICY.spec(topics.breaches + ".lease", TopicRole.TABLE),
    ]
    async with connected(infra) as broker:
        await ensure_topics(broker, specs, refuse_mismatch=True)
        states = await topic_states(broker.config.admin_client, [s.name for s in specs])
        await ensure_topics(broker, specs, refuse_mismatch=True)  # again: nothing differs
    source, derived, table = (states[s.name] for s in specs)
    assert (source.partitions, source.replication_factor) == (2, 1)
    assert source.configs["retention.ms"] == "-1"
    assert derived.configs["retention.ms"] == str(7 * DAY_MS)
    assert derived.configs["cleanup.policy"] == "delete"
    assert (table.partitions, table.configs["cleanup.policy"]) == (1, "compact")
    assert all(s.configs["min.insync.replicas"] == "1" for s in (source, derived, table))


async def test_a_differing_topic_is_named_and_refused_in_production(
    infra: Infra, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    await create_plain(infra, topics.contact_events, partitions=1)
    specs = [POLICY.spec(topics.contact_events, TopicRole.SOURCE)]
    async with connected(infra) as broker:
        with pytest.raises(TopicMismatchError) as refused:
            await ensure_topics(broker, specs, refuse_mismatch=True)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="shared.kafka"):
            await ensure_topics(broker, specs, refuse_mismatch=False)  # development: goes on
    message = str(refused.value)
    assert f"{topics.contact_events}: 1 partitions, wanted 2" in message
    assert "retention.ms=604800000, wanted -1" in message  # the broker's 7-day default
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"Kafka topic differs from its settings: {topics.contact_events}:")


async def test_a_service_in_development_starts_on_a_differing_topic_and_says_so(
    infra: Infra, topics: Topics, database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await create_plain(infra, topics.breaches, partitions=3)
    settings = make_settings(infra, topics, database, tmp_path, {})
    assert CommonSettings().wq_profile.value == "development"
    with caplog.at_level(logging.ERROR, logger="shared.kafka"):
        async with running(create_app(settings)) as client:
            assert (await client.get("/readyz")).status_code == 200
    lines = [r.getMessage() for r in caplog.records if "differs" in r.getMessage()]
    assert lines == [
        f"Kafka topic differs from its settings: {topics.breaches}: retention.ms=604800000, "
        f"wanted {30 * DAY_MS}"
    ]
