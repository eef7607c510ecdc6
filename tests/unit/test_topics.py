"""Kafka topic settings in one place (shared/topics.py, CommonSettings): each topic's spec from
its role, the comparison with what a cluster has, and the production profile's refusals."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from shared.settings import CommonSettings, Topics
from shared.topics import DAY_MS, TopicPolicy, TopicRole, TopicState, differences
from tests.infra import ROOT

POLICY = TopicPolicy(
    partitions=6, replication_factor=3, min_insync_replicas=2, retention_days=30,
    source_retention_days=-1,
)  # fmt: skip


def test_each_role_has_its_retention_and_cleanup() -> None:
    source = POLICY.spec("s", TopicRole.SOURCE)
    derived = POLICY.spec("d", TopicRole.DERIVED)
    table = POLICY.spec("t", TopicRole.TABLE)
    assert source.configs() == {
        "min.insync.replicas": "2", "cleanup.policy": "delete", "retention.ms": "-1",
    }  # fmt: skip
    assert derived.configs()["retention.ms"] == str(30 * DAY_MS)
    assert table.configs() == {"min.insync.replicas": "2", "cleanup.policy": "compact"}
    assert (source.partitions, table.partitions) == (6, 1)
    assert {s.replication_factor for s in (source, derived, table)} == {3}


def test_the_contract_topics_and_their_dead_letters_have_roles() -> None:
    topics = Topics()
    settings = CommonSettings()
    specs = {
        s.name: s
        for s in settings.topic_specs(
            [topics.contact_events, topics.bank_records, topics.breaches, topics.raw_callbacks,
             topics.dlq(topics.contact_events)]
        )
    }  # fmt: skip
    kept = {n for n, s in specs.items() if s.retention_ms == -1}
    assert kept == {topics.contact_events, topics.bank_records}
    assert specs[topics.breaches].retention_ms == 30 * DAY_MS
    assert not any(s.compacted for s in specs.values())


def test_differences_are_named_and_more_partitions_are_fine() -> None:
    spec = POLICY.spec("wecom.contact-events.v1", TopicRole.SOURCE)
    same = TopicState(spec.name, 6, 3, spec.configs())
    assert differences(spec, same) == []
    assert differences(spec, TopicState(spec.name, 12, 3, spec.configs())) == []
    drifted = TopicState(
        spec.name, 3, 1,
        {"min.insync.replicas": "1", "cleanup.policy": "delete", "retention.ms": "604800000"},
    )  # fmt: skip
    assert differences(spec, drifted) == [
        "3 partitions, wanted 6",
        "replication factor 1, wanted 3",
        "min.insync.replicas=1, wanted 2",
        "retention.ms=604800000, wanted -1",
    ]


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({}, "TOPIC_REPLICATION_FACTOR of at least 3, not 1"),
        ({"topic_replication_factor": 3}, "TOPIC_MIN_INSYNC_REPLICAS of at least 2"),
        ({"topic_replication_factor": 2, "topic_min_insync_replicas": 2}, "at least 3"),
        ({"topic_replication_factor": 3, "topic_min_insync_replicas": 3}, "below"),
    ],
)
def test_production_refuses_topics_that_a_broker_loss_would_break(
    values: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ValidationError, match=needle):
        CommonSettings.model_validate({"wq_profile": "production", **values})


def test_production_runs_on_three_copies_two_in_sync() -> None:
    settings = CommonSettings(
        wq_profile="production", topic_replication_factor=3, topic_min_insync_replicas=2
    )
    assert settings.topic_policy().replication_factor == 3


def test_any_profile_refuses_impossible_settings() -> None:
    with pytest.raises(ValidationError, match="exceeds"):
        CommonSettings(topic_min_insync_replicas=2)
    with pytest.raises(ValidationError, match="retention of 0 days"):
        CommonSettings(topic_retention_days=0)


def test_a_service_refuses_to_start_in_production_on_replication_factor_1() -> None:
    """The process itself: WQ_PROFILE=production and the default replication factor (1)."""
    env = {"PATH": "/usr/bin:/bin", "WQ_PROFILE": "production", "NOTIFIER_PORT": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "services.notifier"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "TOPIC_REPLICATION_FACTOR of at least 3, not 1" in done.stderr
