"""The thin slice on real Kafka and PostgreSQL: bank records in through the ingestor, counted by
the scorer, a period closed, and the notifier's Alertmanager webhook out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from services.ingestor.app import create_app as ingestor_app
from services.ingestor.settings import IngestorSettings
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.scorer.app import create_app as scorer_app
from services.scorer.settings import ScorerSettings
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.infra import Infra, unique
from tests.kafka_helpers import read_topic
from tests.standins.webhook_sink import webhook_sink

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = pytest.mark.integration


def ingestor_settings(infra: Infra, topics: Topics) -> IngestorSettings:
    return IngestorSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        topics=topics,
        ingest_api_tokens=SecretStr(TOKEN),
        ingest_max_body_bytes=64 * 1024,
    )


def db_settings(infra: Infra, database: str) -> dict[str, Any]:
    return {
        "kafka_bootstrap_servers": infra.kafka_bootstrap,
        "database_url": SecretStr(infra.app_dsn(database)),
        "database_migration_url": SecretStr(infra.owner_dsn(database)),
    }


async def test_bad_requests_publish_nothing(infra: Infra, topics: Topics) -> None:
    async with running(ingestor_app(ingestor_settings(infra, topics))) as client:
        assert (await client.post("/v1/events", json=[f.employee("e1")])).status_code == 401
        wrong = {"Authorization": "Bearer wrong-token-0123456789"}
        assert (
            await client.post("/v1/events", json=[f.employee("e1")], headers=wrong)
        ).status_code == 401

        r = await client.post("/v1/events", content=b"[{not json", headers=AUTH)
        assert r.status_code == 400 and "malformed JSON" in r.text

        mixed = [
            f.employee("e1"),
            {"type": "bogus"},
            {**f.target("team", "t1", "2026-10", 5), "value": "many"},
            {**f.employee("e2"), "branch_id": None},
            f.add("e1", "wo-1", f.at("2026-10-12")),
            {**f.employee("e3"), "schema_version": 2},  # a sender ahead of us: refused
            {**f.add("e1", "wo-2", f.at("2026-10-12")), "schema_version": 0},
        ]
        r = await client.post("/v1/events", json=mixed, headers=AUTH)
        assert r.status_code == 422
        errors = r.json()["errors"]
        assert [e["index"] for e in errors] == [1, 2, 3, 5, 6]
        assert "unknown type 'bogus'" in errors[0]["error"]
        assert errors[1]["error"].startswith("value:")
        assert "branch_id" in errors[2]["error"]
        assert "unsupported schema_version 2 (supported: 1)" in errors[3]["error"]
        assert "unsupported schema_version 0 (supported: 1)" in errors[4]["error"]

        big = [f.employee(f"e{i}", name="x" * 150) for i in range(400)]
        assert (await client.post("/v1/events", json=big, headers=AUTH)).status_code == 413

        chat = {
            "type": "message",
            "message_id": "m1",
            "employee_id": "e1",
            "external_userid": "wo-1",
            "direction": "from_customer",
            "kind": "one_to_one",
            "sent_at": "2026-10-12T10:00:00+08:00",
            "content": "hello",
        }
        r = await client.post("/v1/events", json=[chat], headers=AUTH)
        assert r.status_code == 422 and "metadata only" in r.text

    assert await read_topic(infra, topics.bank_records, 0) == []
    assert await read_topic(infra, topics.contact_events, 0) == []


async def test_records_flow_to_scores_close_and_webhook(
    infra: Infra, topics: Topics, database: str
) -> None:
    adds = [f.add("e1", f"wo-{i}", f.at("2026-10-12")) for i in range(3)]
    adds += [f.add("e2", f"wo-{i}", f.at(f"2026-10-{13 + i}", hour=10 + i % 6)) for i in range(12)]
    records = [
        f.employee("e1"),
        f.employee("e2"),
        f.employee("e3", team_id="t2"),
        f.target("team", "t1", "2026-10", 10),
        f.target("employee", "e2", "2026-10", 12),
        f.target("branch", "b1", "2026-10", 99),
        *adds,
        *f.profiles_for(adds),  # an add is valid only once its contact's profile is known
    ]
    ndjson = b"\n".join(orjson.dumps(r) for r in records)
    scorer_cfg = ScorerSettings(
        topics=topics, scorer_group_id=unique("scorer"), **db_settings(infra, database)
    )
    notifier_cfg = NotifierSettings(
        topics=topics, notifier_group_id=unique("notifier"), **db_settings(infra, database)
    )
    async with webhook_sink() as sink:
        notifier_cfg = notifier_cfg.model_copy(update={"notifier_webhook_url": sink.url})
        async with (
            running(ingestor_app(ingestor_settings(infra, topics))) as ingestor,
            running(scorer_app(scorer_cfg)) as scorer,
            running(notifier_app(notifier_cfg)) as notifier,
        ):
            headers = {**AUTH, "Content-Type": "application/x-ndjson"}
            r = await ingestor.post("/v1/events", content=ndjson, headers=headers)
            assert r.status_code == 200, r.text
            assert r.json() == {"accepted": len(records)}
            # The same batch again (a bank system's retry) must count nothing twice.
            assert (
                await ingestor.post("/v1/events", content=ndjson, headers=headers)
            ).status_code == 200

            async def month() -> dict[str, Any]:
                body: dict[str, Any] = (await scorer.get("/v1/scores?period=2026-10")).json()
                return body

            body = await eventually(
                month,
                lambda b: sum(e["gross_adds"] for e in b["employees"]) == 15,
            )
            by_id = {e["employee_id"]: e for e in body["employees"]}
            assert by_id["e1"]["gross_adds"] == 3 and by_id["e1"]["target"] == 10
            assert by_id["e2"]["gross_adds"] == 12 and by_id["e2"]["target"] == 12
            assert by_id["e3"]["target"] == 99  # branch target: no team or employee target
            week = (await scorer.get("/v1/scores", params={"period": "2026-W42"})).json()
            assert {e["employee_id"]: e["gross_adds"] for e in week["employees"]} == {
                "e1": 3,
                "e2": 6,
                "e3": 0,
            }
            team = (
                await scorer.get("/v1/scores", params={"period": "2026-10", "team_id": "t2"})
            ).json()
            assert [e["employee_id"] for e in team["employees"]] == ["e3"]
            assert (await scorer.get("/v1/scores", params={"period": "2026-13"})).status_code == 400

            closed = (await scorer.post("/v1/periods/2026-10/close?force=true")).json()
            assert closed["target_missed"] == 2  # e1 (3 < 10) and e3 (0 < 99)
            again = (await scorer.post("/v1/periods/2026-10/close?force=true")).json()
            assert again["target_missed"] == 2

            def missed_hooks_now() -> list[dict[str, Any]]:
                return [
                    h for h in sink.received if h["commonLabels"]["alertname"] == "TargetMissed"
                ]

            def notified() -> list[str]:  # each hook may group several alerts
                return sorted(
                    a["labels"]["employee_id"] for h in missed_hooks_now() for a in h["alerts"]
                )

            async def received() -> list[str]:
                return notified()

            await eventually(received, lambda e: len(e) >= 2)
            assert notified() == ["e1", "e3"], sink.received  # each once, whatever the grouping
            hooks = missed_hooks_now()
            hook = hooks[0]
            assert hook["version"] == "4" and hook["status"] == "firing"
            assert hook["commonLabels"]["alertname"] == "TargetMissed"
            assert hook["commonLabels"]["period"] == "2026-10"
            assert {"receiver", "groupKey", "groupLabels", "alerts"} <= hook.keys()
            assert hook["alerts"][0]["fingerprint"]
            assert all(h.get("idempotency-key") for h in sink.headers)

            alerts = (await notifier.get("/v1/alerts")).json()["alerts"]
            missed = [a for a in alerts if a["alertname"] == "TargetMissed"]
            assert len(missed) == 2  # closing twice recorded each breach once
            final = (await scorer.get("/v1/scores", params={"period": "2026-10"})).json()
            assert {e["employee_id"]: e["status"] for e in final["employees"]} == {
                "e1": "missed",
                "e2": "met",
                "e3": "missed",
            }
            for path in ("/healthz", "/readyz", "/metrics"):
                for client in (ingestor, scorer, notifier):
                    assert (await client.get(path)).status_code == 200
        # after a pause nothing more arrives: one notice per alert and recipient
        assert notified() == ["e1", "e3"]
