"""Faults around a running scorer under a steady feed, each ending with the scorer's figures
compared with a clean run of the same input (tests/faults/conftest.py `reference`):
PostgreSQL restarted mid-stream, a second instance joining and leaving the consumer group,
and poison records on both consumed topics (dead-lettered with the error, the rest applied)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.apps import eventually
from tests.faults.harness import (
    Feeder,
    Figures,
    KafkaFeed,
    Measure,
    Scorer,
    TopicSet,
    Workload,
    create_topics,
    produce_all,
    stack_action,
)
from tests.infra import Infra
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.faults


async def started_scorer(
    infra: Infra, database: str, load: Workload, tmp: Path
) -> tuple[Scorer, TopicSet]:
    topics = TopicSet.fresh()
    await create_topics(infra, [topics.contact_events, topics.bank_records])
    await produce_all(infra, topics.bank_records, load.employees)
    scorer = Scorer(infra, database, topics, tmp)
    scorer.spawn()
    return scorer, topics


def scored(figures: Figures) -> int:
    return sum(v[0] for v in figures.values())


async def test_postgres_restart_during_scoring(
    infra: Infra, database: str, load: Workload, reference: Figures, tmp_path: Path
) -> None:
    assert infra.local is not None
    measure = Measure("PostgreSQL restarted during scoring")
    scorer, topics = await started_scorer(infra, database, load, tmp_path)
    try:
        async with KafkaFeed(infra, topics.contact_events) as feed:
            feeder = Feeder(load.events, feed.send, rate=150).start()
            await scorer.wait_applied(len(load.employees) + len(load.events) // 4)
            await stack_action(infra, "postgres.sh", "down")
            measure.mark("db_stopped_s")
            await feeder.reached(len(load.events) * 2 // 3)  # the feed goes on meanwhile
            await stack_action(infra, "postgres.sh", "up")
            measure.mark("db_back_s")
            await feeder.done()
        figures = await scorer.figures()
        measure.mark("recovered_s")
        restarts = [s.starts for s, _ in scorer.instances]
    finally:
        scorer.stop_all()
    assert restarts == [1]  # the same process rode the outage out
    assert figures == reference
    measure.report(events_in=len(load.events), scored=scored(figures))


async def test_rebalance_with_a_second_instance_joining_and_leaving(
    infra: Infra, database: str, load: Workload, reference: Figures, tmp_path: Path
) -> None:
    measure = Measure("consumer-group rebalance: a second scorer joins, then leaves")
    scorer, topics = await started_scorer(infra, database, load, tmp_path)
    try:
        async with KafkaFeed(infra, topics.contact_events) as feed:
            feeder = Feeder(load.events, feed.send, rate=120).start()
            await feeder.reached(len(load.events) // 5)
            second, _ = scorer.spawn()
            measure.mark("joined_s")

            async def took_partitions() -> bool:
                second.alive()
                return "partitions assigned" in second.log.read_text(errors="replace")

            await eventually(took_partitions, lambda ok: ok, timeout=90)
            await feeder.reached(len(load.events) * 3 // 4)
            second.stop()  # leaves the group: its partitions go back to the first
            measure.mark("left_s")
            await feeder.done()
        figures = await scorer.figures()
        measure.mark("recovered_s")
    finally:
        scorer.stop_all()
    assert figures == reference
    measure.report(events_in=len(load.events), scored=scored(figures))


POISON = [
    b"{not json",
    b"\xff\xfe binary",
    b'{"type": "contact_event"}',
    b'{"type": "no_such_record", "x": 1}',
    b"[]",
    # valid but for a CreateTime beyond any calendar (once crashed the batch: a poison pill)
    b'{"type": "contact_event", "ToUserName": "ww-test-corp", "ChangeType": "add_external_contact",'
    b' "UserID": "m01", "ExternalUserID": "wmX", "CreateTime": 100000000000000000, "State": ""}',
]


async def test_poison_records_on_every_scorer_topic_are_dead_lettered(
    infra: Infra, database: str, load: Workload, reference: Figures, tmp_path: Path
) -> None:
    measure = Measure("poison records in the contact-event and bank-record topics")
    topics = TopicSet.fresh()
    await create_topics(infra, [topics.contact_events, topics.bank_records])
    await produce_all(infra, topics.bank_records, [*load.employees[:10], *POISON])
    await produce_all(infra, topics.bank_records, load.employees[10:])
    every = len(load.events) // len(POISON)
    mixed: list[dict[str, object] | bytes] = []
    for n, event in enumerate(load.events):
        if n % every == every // 2:
            mixed.append(POISON[n // every])
        mixed.append(event)
    scorer = Scorer(infra, database, topics, tmp_path)
    scorer.spawn()
    try:
        async with KafkaFeed(infra, topics.contact_events) as feed:
            await Feeder(mixed, feed.send, rate=150).start().done()
        figures = await scorer.figures()
        measure.mark("recovered_s")
    finally:
        scorer.stop_all()
    assert figures == reference  # every valid record applied
    for topic in (topics.contact_events, topics.bank_records):
        dead = await read_topic(infra, TopicSet.dlq(topic), expect=len(POISON))
        assert sorted(d["value"] for d in dead) == sorted(
            p.decode("utf-8", "replace") for p in POISON
        )
        assert all(d["error"] and d["topic"] == topic for d in dead)  # each with its error
    measure.report(
        events_in=len(load.events), poison=2 * len(POISON), dead_lettered=2 * len(POISON)
    )
