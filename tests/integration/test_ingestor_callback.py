"""The WeCom callback endpoint on real Kafka, driven by the tests' own WeCom side
(tests/wecom_client.py): verification, every change type, retries, refusals."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from prometheus_client import REGISTRY
from pydantic import SecretStr

from services.ingestor.app import create_app
from services.ingestor.settings import IngestorSettings
from shared.schemas import contact_event_id
from shared.settings import Topics
from tests.apps import running
from tests.infra import Infra
from tests.kafka_helpers import read_keyed
from tests.wecom_client import WeComClient, random_aes_key

pytestmark = pytest.mark.integration

CORP_ID = "ww0123456789abcdef"
TOKEN = "QDG6eK0123456789"
DOC_EXAMPLE = (
    "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
    "<CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[change_external_contact]]></Event>"
    "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
    "<UserID><![CDATA[zhangsan]]></UserID>"
    "<ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mAAAA]]></ExternalUserID>"
    "<State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>"
)


def change_xml(change: str, user: str, external: str, create_time: int, extra: str = "") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        f"<ChangeType><![CDATA[{change}]]></ChangeType><UserID><![CDATA[{user}]]></UserID>"
        f"<ExternalUserID><![CDATA[{external}]]></ExternalUserID>{extra}</xml>"
    )


def settings_for(
    infra: Infra, topics: Topics, spool: Path, corp_id: str = CORP_ID, **extra: Any
) -> IngestorSettings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": infra.kafka_bootstrap,
        "topics": topics,
        "wecom_corp_id": corp_id,
        "wecom_callback_token": SecretStr(TOKEN),
        "wecom_callback_aes_key": SecretStr(extra.pop("aes_key")),
        "spool_dir": spool,
        "wecom_callback_max_body_bytes": 4096,
        **extra,
    }
    return IngestorSettings(**values)


@pytest.fixture
def aes_key() -> str:
    return random_aes_key()


@pytest.fixture
def wecom(aes_key: str) -> WeComClient:
    return WeComClient(TOKEN, aes_key, CORP_ID)


@pytest.fixture
async def ingestor(
    infra: Infra, topics: Topics, tmp_path: Path, aes_key: str
) -> AsyncIterator[AsyncClient]:
    app = create_app(settings_for(infra, topics, tmp_path / "spool", aes_key=aes_key))
    async with running(app) as client:
        yield client


async def post(client: AsyncClient, cb: Any) -> Any:
    return await client.post(
        "/wecom/callback", params=cb.params, content=cb.body, headers={"content-type": "text/xml"}
    )


async def test_url_verification_echoes_plaintext(ingestor: AsyncClient, wecom: WeComClient) -> None:
    check = wecom.url_verification()
    r = await ingestor.get(f"/wecom/callback?{check.query}")
    assert r.status_code == 200
    assert r.content == check.expected_answer.encode()
    assert r.headers["content-type"].startswith("text/plain")

    forged = dict(check.params, msg_signature="0" * 40)
    assert (await ingestor.get("/wecom/callback", params=forged)).status_code == 403


async def test_documentation_example_is_published_keyed_by_employee(
    infra: Infra, topics: Topics, tmp_path: Path, aes_key: str
) -> None:
    # The example's ToUserName is the literal "toUser": that is its corp here.
    app = create_app(settings_for(infra, topics, tmp_path, corp_id="toUser", aes_key=aes_key))
    wecom = WeComClient(TOKEN, aes_key, "toUser")
    async with running(app) as client:
        r = await post(client, wecom.callback(DOC_EXAMPLE))
        assert r.status_code == 200 and r.text == "success"
    [(key, event)] = await read_keyed(infra, topics.contact_events, 1)
    assert key == "zhangsan"
    assert event["change_type"] == "add_external_contact"
    assert event["external_userid"] == "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA"
    assert event["state"] == "teststate" and event["welcome_code"] == "WELCOMECODE"
    assert event["occurred_at"].startswith("2014-06-24")  # CreateTime kept, never judged
    assert event["event_id"] == contact_event_id(
        "toUser", "add_external_contact", "zhangsan", "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA", 1403610513
    )


async def test_every_change_type_normalized_and_unknown_kept_raw(
    infra: Infra, topics: Topics, ingestor: AsyncClient, wecom: WeComClient
) -> None:
    t = 1_760_000_000
    messages = [
        change_xml("add_external_contact", "e1", "wmA", t, "<State><![CDATA[]]></State>"),
        change_xml("add_half_external_contact", "e1", "wmB", t + 1),
        change_xml("edit_external_contact", "e2", "wmA", t + 2),
        change_xml(
            "del_external_contact",
            "e2",
            "wmC",
            t + 3,
            "<Source><![CDATA[DELETE_BY_TRANSFER]]></Source>",
        ),
        change_xml("del_follow_user", "e3", "wmD", t + 4),
        change_xml(
            "transfer_fail",
            "e3",
            "wmE",
            t + 5,
            "<FailReason><![CDATA[customer_refused]]></FailReason>",
        ),
        change_xml("brand_new_change", "e4", "wmF", t + 6),
        f"<xml><ToUserName>{CORP_ID}</ToUserName><CreateTime>{t}</CreateTime>"
        "<MsgType>event</MsgType><Event>change_external_chat</Event>"
        "<ChatId>wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA</ChatId><ChangeType>create</ChangeType></xml>",
    ]
    for message in messages:
        assert (await post(ingestor, wecom.callback(message))).status_code == 200
    contact = await read_keyed(infra, topics.contact_events, 6)
    # three employees, three partitions: order holds per employee, not across them
    assert sorted(e["change_type"] for _, e in contact) == sorted(
        [
            "add_external_contact",
            "add_half_external_contact",
            "edit_external_contact",
            "del_external_contact",
            "del_follow_user",
            "transfer_fail",
        ]
    )
    assert all(key == e["employee_id"] for key, e in contact)
    by_change = {e["change_type"]: e for _, e in contact}
    assert by_change["del_external_contact"]["source"] == "DELETE_BY_TRANSFER"
    assert by_change["transfer_fail"]["fail_reason"] == "customer_refused"
    raw = await read_keyed(infra, topics.raw_callbacks, 2)
    assert sorted(v["change_type"] for _, v in raw) == ["brand_new_change", "create"]
    chat = next(v for _, v in raw if v["event"] == "change_external_chat")
    assert chat["fields"]["ChatId"] == "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"


async def test_retries_of_one_callback_yield_one_event(
    infra: Infra, topics: Topics, ingestor: AsyncClient, wecom: WeComClient
) -> None:
    before = {o: sample("ingestor_wecom_callbacks_total", o) for o in ("stored_kafka", "duplicate")}
    published = sample("ingestor_wecom_publish_duration_seconds_count", destination="kafka")
    message = change_xml("add_external_contact", "empRetry", "wmRetry", 1_760_000_100)
    for _ in range(3):  # WeCom's retries: new nonce, timestamp and ciphertext, same event
        assert (await post(ingestor, wecom.callback(message))).status_code == 200
    events = await read_keyed(infra, topics.contact_events, 0, timeout_ms=3000)
    assert len(events) == 1
    # metrics: callbacks by outcome, the publish latency histogram
    assert sample("ingestor_wecom_callbacks_total", "stored_kafka") == before["stored_kafka"] + 1
    assert sample("ingestor_wecom_callbacks_total", "duplicate") == before["duplicate"] + 2
    assert (
        sample("ingestor_wecom_publish_duration_seconds_count", destination="kafka")
        == published + 1
    )
    text = (await ingestor.get("/metrics")).text
    assert "empRetry" not in text and "wmRetry" not in text  # no per-employee or contact labels


def sample(name: str, outcome: str | None = None, **labels: str) -> float:
    if outcome is not None:
        labels = {"method": "POST", "outcome": outcome}
    return REGISTRY.get_sample_value(name, labels) or 0.0


ENTITY_BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt>&lol2;</Encrypt></xml>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt>&e;</Encrypt></xml>"
)


async def test_refused_callbacks_publish_nothing(
    infra: Infra, topics: Topics, ingestor: AsyncClient, wecom: WeComClient, aes_key: str
) -> None:
    forged_before = sample("ingestor_wecom_crypto_failures_total", code="-40001")
    corp_before = sample("ingestor_wecom_crypto_failures_total", code="-40005")
    message = change_xml("add_external_contact", "e1", "wmX", 1_760_000_200)
    good = wecom.callback(message)

    forged = dict(good.params, msg_signature="f" * 40)
    r = await ingestor.post("/wecom/callback", params=forged, content=good.body)
    assert r.status_code == 403 and r.json()["errcode"] == -40001

    other_corp = WeComClient(TOKEN, aes_key, "wwSomeOtherCorp")
    r = await post(ingestor, other_corp.callback(message))
    assert r.status_code == 403 and r.json()["errcode"] == -40005

    stale = wecom.callback(message, timestamp=str(int(time.time()) - 3600))
    r = await post(ingestor, stale)
    assert r.status_code == 403 and "replay window" in r.json()["error"]

    huge = wecom.callback(message + " " * 8000)
    assert (await post(ingestor, huge)).status_code == 413

    async def undeclared_length() -> AsyncIterator[bytes]:  # chunked: the cap while reading
        for start in range(0, len(huge.body), 1000):
            yield huge.body[start : start + 1000]

    r = await ingestor.post("/wecom/callback", params=huge.params, content=undeclared_length())
    assert r.status_code == 413 and "content-length" not in r.request.headers

    for hostile in (ENTITY_BOMB, EXTERNAL_ENTITY, "<xml><Encrypt>", "not xml at all"):
        r = await ingestor.post("/wecom/callback", params=good.params, content=hostile.encode())
        assert r.status_code == 400, hostile

    bad_base64 = wecom.callback(message, encrypt="!!notbase64!!")
    assert (await post(ingestor, bad_base64)).status_code == 400

    assert await read_keyed(infra, topics.contact_events, 0, timeout_ms=2000) == []
    assert await read_keyed(infra, topics.raw_callbacks, 0, timeout_ms=1000) == []
    assert sample("ingestor_wecom_crypto_failures_total", code="-40001") == forged_before + 1
    assert sample("ingestor_wecom_crypto_failures_total", code="-40005") == corp_before + 1


async def test_without_wecom_configuration_callbacks_answer_503(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    settings = IngestorSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap, topics=topics, spool_dir=tmp_path
    )
    async with running(create_app(settings)) as client:
        r = await client.post("/wecom/callback", content=b"<xml/>")
        assert r.status_code == 503 and "WECOM_CALLBACK_TOKEN" in r.json()["error"]
        assert (await client.get("/wecom/callback")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200


def test_half_configuration_refuses_to_start(tmp_path: Path) -> None:
    settings = IngestorSettings(wecom_corp_id=CORP_ID, spool_dir=tmp_path)
    with pytest.raises(ValueError, match="WECOM_CALLBACK_TOKEN"):
        create_app(settings)
