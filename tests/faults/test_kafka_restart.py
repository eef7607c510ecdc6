"""The Kafka broker stopped and restarted while WeCom callbacks stream into the ingestor's HTTP
edge (issue #4's "Kafka stopped mid-stream then restarted"). Every callback is answered 200
(Kafka, or the fsynced spool while the broker is away); once the broker is back the spool
drains in order; each event is on the topic under its one event_id and counted exactly once:
the scorer's figures are those of a clean run of the same input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apps import eventually
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
    stack_action,
)
from tests.infra import Infra
from tests.integration.test_ingestor_callback import TOKEN, change_xml
from tests.kafka_helpers import read_topic
from tests.wecom_client import WeComClient, random_aes_key

pytestmark = pytest.mark.faults
CORP_ID = "ww-test-corp"  # the corp of tests/factories.py, so the input equals the workload's


def callback_xml(event: dict[str, Any]) -> str:
    state = f"<State><![CDATA[{event['State']}]]></State>"
    return change_xml(
        event["ChangeType"], event["UserID"], event["ExternalUserID"], event["CreateTime"], state
    ).replace("ww0123456789abcdef", CORP_ID)


def metric(text: str, name: str) -> float:
    found = [ln for ln in text.splitlines() if ln.startswith(name)]
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in found)


async def test_broker_restart_during_ingestion_loses_and_doubles_nothing(
    infra: Infra, database: str, load: Workload, reference: Figures, tmp_path: Path
) -> None:
    assert infra.local is not None
    measure = Measure("Kafka broker stopped and restarted during callback ingestion")
    topics = TopicSet.fresh()
    await create_topics(infra, [topics.contact_events, topics.bank_records, topics.raw_callbacks])
    await produce_all(infra, topics.bank_records, load.employees)
    key = random_aes_key()
    wecom = WeComClient(TOKEN, key, CORP_ID)
    ingestor, port = callback_ingestor(infra.kafka_bootstrap, topics, tmp_path, CORP_ID, TOKEN, key)
    scorer = Scorer(infra, database, topics, tmp_path)
    scorer.spawn()
    statuses: list[int] = []
    retried: list[int] = []
    base = f"http://127.0.0.1:{port}"
    try:
        await ingestor.ready(port)
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:

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
            await feeder.reached(len(load.events) // 4)
            measure.mark("broker_stopped_s")
            await stack_action(infra, "kafka.sh", "down")
            await feeder.reached(len(load.events) // 2)
            await stack_action(infra, "kafka.sh", "up")
            measure.mark("broker_back_s")
            await feeder.done()

            async def depth() -> float:
                return metric((await http.get("/metrics")).text, "ingestor_spool_depth")

            await eventually(depth, lambda d: d == 0, timeout=300)
            spooled = metric((await http.get("/metrics")).text, "ingestor_spool_appended_total")
        figures = await scorer.figures()
        measure.mark("recovered_s")
    finally:
        scorer.stop_all()
        ingestor.stop()
    assert statuses == [200] * len(load.events)  # every callback acknowledged, none refused
    assert spooled > 0, "the broker stop never reached the spool"
    on_topic = await read_topic(infra, topics.contact_events, len(load.events))
    ids = [e["event_id"] for e in on_topic]
    assert len(set(ids)) == len(load.events)  # nothing lost
    assert figures == reference  # nothing lost nor counted twice
    measure.report(
        events_in=len(load.events),
        spooled=int(spooled),
        on_topic=len(ids),
        topic_duplicates=len(ids) - len(set(ids)),
        resent_without_answer=len(retried),
        scored=sum(v[0] for v in figures.values()),
    )
