"""`kill -9` of the scorer process mid-batch under a steady feed, then a restart: the figures
must be identical to a clean run over the same input (offsets and state commit together)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
)
from tests.infra import Infra

pytestmark = pytest.mark.faults


async def test_kill9_mid_batch_gives_the_clean_figures(
    infra: Infra, database: str, load: Workload, reference: Figures, tmp_path: Path
) -> None:
    measure = Measure("scorer kill -9 mid-batch")
    topics = TopicSet.fresh()
    await create_topics(infra, [topics.contact_events, topics.bank_records])
    await produce_all(infra, topics.bank_records, load.employees)
    scorer = Scorer(infra, database, topics, tmp_path)
    service, _ = scorer.spawn()
    try:
        async with KafkaFeed(infra, topics.contact_events) as feed:
            feeder = Feeder(load.events, feed.send, rate=150).start()
            third = len(load.employees) + len(load.events) // 3
            await scorer.wait_applied(third)
            service.kill9()
            measure.mark("killed_at_s")
            assert await scorer.applied() < load.total, "killed too late"
            service.start()
            await feeder.done()
        figures = await scorer.figures()
        measure.mark("recovered_s")
    finally:
        scorer.stop_all()
    assert service.starts == 2
    assert figures == reference
    assert sum(v[0] for v in figures.values()) > 800  # the workload really went through
    measure.report(events_in=len(load.events), scored=sum(v[0] for v in figures.values()))
