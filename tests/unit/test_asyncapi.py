"""The Kafka contract: docs/asyncapi/<service>.json is what each service serves at
`GET /asyncapi.json` with the default settings (`python -m tools.asyncapi` writes it), names
the topics of the settings' defaults, and its schemas are the records the code writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import SkipValidation

from services.ingestor.wecom.events import WeComEvent
from services.ingestor.wecom.records import raw_callback
from shared.dead_letters import parse_dead_letter
from shared.schemas import DeadLetterRecord, RawCallback, TopicRecord, dead_letter_value
from shared.settings import Topics
from tools import asyncapi

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "asyncapi"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return asyncapi.generated()


def checked_in(service: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((DOCS / f"{service}.json").read_text(encoding="utf-8"))
    return found


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, topic) of every operation."""
    channels = doc["channels"]
    found = set()
    for operation in doc["operations"].values():
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        found.add((operation["action"], channels[channel]["address"]))
    return found


def payload_schemas(doc: dict[str, Any], topic: str, action: str) -> set[str]:
    """The schema names the messages of one topic's operations of one action refer to (a
    union's members for a union)."""
    names = set()
    schemas = doc["components"]["schemas"]
    for operation in doc["operations"].values():
        channel = doc["channels"][operation["channel"]["$ref"].removeprefix("#/channels/")]
        if operation["action"] != action or channel["address"] != topic:
            continue
        for ref in channel["messages"].values():
            message = doc["components"]["messages"][ref["$ref"].split("/")[-1]]
            schema = schemas[message["payload"]["$ref"].split("/")[-1]]
            members = schema.get("oneOf") or [message["payload"]]
            names |= {m["$ref"].split("/")[-1] for m in members}
    return names


def test_checked_in_documents_are_what_the_services_serve(generated: dict[str, str]) -> None:
    on_disk = sorted(p.name for p in DOCS.glob("*.json"))
    assert on_disk == sorted(generated), "run `python -m tools.asyncapi`"
    for name, text in generated.items():
        assert (DOCS / name).read_text(encoding="utf-8") == text, (
            f"docs/asyncapi/{name} differs from the code: run `python -m tools.asyncapi`"
        )


def test_documents_name_the_default_topics() -> None:
    t = Topics.model_construct()  # the defaults, whatever the environment says
    expected = {
        "ingestor": {
            ("send", t.contact_events),
            ("send", t.bank_records),
            ("send", t.raw_callbacks),
            ("receive", t.contact_events),  # lookups and reconciliation's fold
            ("receive", t.reconcile_lease),  # the replicas' lease group
            ("send", t.reconcile_lease),  # the holder's last successful run
        },
        "scorer": {
            ("receive", t.contact_events),
            ("receive", t.bank_records),
            ("send", t.breaches),
            ("send", t.bank_records),  # targets set through its API (services/scorer/review)
            ("send", Topics.dlq(t.contact_events)),
            ("send", Topics.dlq(t.bank_records)),
        },
        "notifier": {("receive", t.breaches), ("send", Topics.dlq(t.breaches))},
    }
    for service, wanted in expected.items():
        assert operations(checked_in(service)) == wanted, service


def test_every_topic_of_the_settings_is_in_a_document() -> None:
    named = {topic for s in asyncapi.SERVICES for _, topic in operations(checked_in(s))}
    topics = Topics.model_construct()
    for field in Topics.model_fields:
        assert getattr(topics, field) in named, field


def test_every_consumed_topic_has_its_dead_letter_topic() -> None:
    for service in ("scorer", "notifier"):
        ops = operations(checked_in(service))
        for action, topic in ops:
            if action == "receive":
                assert ("send", Topics.dlq(topic)) in ops, (service, topic)


def test_payloads_are_the_record_schemas() -> None:
    t = Topics.model_construct()
    ingestor, scorer, notifier = (checked_in(s) for s in ("ingestor", "scorer", "notifier"))
    bank = {
        "EmployeeRecord",
        "TargetRecord",
        "CustomerLinkRecord",
        "MessageRecord",
        "ContactProfileRecord",
        "StaffAccountRecord",
        "SourceWatermarkRecord",
    }
    assert payload_schemas(ingestor, t.contact_events, "send") == {"ContactEvent"}
    assert payload_schemas(ingestor, t.contact_events, "receive") == {"ContactEvent"}
    assert payload_schemas(ingestor, t.bank_records, "send") == bank
    assert payload_schemas(ingestor, t.raw_callbacks, "send") == {"RawCallback"}
    assert payload_schemas(scorer, t.contact_events, "receive") == {"ContactEvent", *bank}
    assert payload_schemas(scorer, t.breaches, "send") == {"BreachEvent"}
    assert payload_schemas(notifier, t.breaches, "receive") == {"BreachEvent"}
    for doc, topic in (
        (scorer, t.contact_events),
        (scorer, t.bank_records),
        (notifier, t.breaches),
    ):
        assert payload_schemas(doc, Topics.dlq(topic), "send") == {"DeadLetterRecord"}


def test_the_raw_callback_record_fits_its_schema() -> None:
    event = WeComEvent(
        corp_id="ww1",
        create_time=1_760_000_000,
        msg_type="event",
        event="change_external_chat",
        change_type="create",
        user_id=None,
        external_user_id=None,
        state=None,
        welcome_code=None,
        source=None,
        fail_reason=None,
        raw={"ToUserName": "ww1", "MsgType": "event", "Event": "change_external_chat"},
    )
    body = orjson.loads(raw_callback(event, "not a contact change this product scores"))
    record = RawCallback.model_validate(body)
    assert record.model_dump(mode="json").keys() == body.keys()
    assert record.occurred_at == datetime.fromtimestamp(1_760_000_000, tz=UTC)


def test_a_dead_letter_fits_its_schema_and_is_replayable() -> None:
    raw = SimpleNamespace(topic="bank.records.v1", partition=2, offset=41, value=b'{"a": 1}')
    value = dead_letter_value(raw, "could not be applied: ValueError")
    assert DeadLetterRecord.model_validate_json(value).topic == "bank.records.v1"
    letter = parse_dead_letter(7, b"k", value)
    assert (letter.source_topic, letter.source_offset, letter.value) == (
        "bank.records.v1",
        41,
        b'{"a": 1}',
    )
    empty = SimpleNamespace(topic="t", partition=0, offset=0, value=None)
    assert DeadLetterRecord.model_validate_json(dead_letter_value(empty, "x")).value is None


async def test_a_documented_batch_handler_still_gets_its_undecoded_batch() -> None:
    """The apps type their batch handler's body as one message (SkipValidation) for the
    document: FastStream must still call it with whatever the decoder gives, unvalidated."""
    broker = KafkaBroker()
    seen: list[Any] = []

    async def undecoded(_: Any) -> None:
        return None

    @broker.subscriber("t.v1", batch=True, decoder=undecoded)
    async def on_batch(record: SkipValidation[TopicRecord], message: KafkaMessage) -> None:
        seen.append(record)

    @broker.subscriber("u.v1", batch=True)
    async def on_json(record: SkipValidation[TopicRecord], message: KafkaMessage) -> None:
        seen.append(record)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(b"not json", b"\xff", topic="t.v1")
        await test_broker.publish_batch({"not": "a record"}, topic="u.v1")
    assert len(seen) == 2
    assert seen[1] == [{"not": "a record"}]


async def test_a_service_serves_the_topics_it_is_configured_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.notifier.app import create_app
    from services.notifier.settings import NotifierSettings

    monkeypatch.setenv("TOPIC_BREACHES", "bank7.breaches.v1")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-a:9092")
    doc = json.loads(await asyncapi.served(create_app(NotifierSettings())))
    assert operations(doc) == {("receive", "bank7.breaches.v1"), ("send", "bank7.breaches.v1.dlq")}
    assert [server["host"] for server in doc["servers"].values()] == ["kafka-a:9092"]
