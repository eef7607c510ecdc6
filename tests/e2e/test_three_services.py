"""End to end: the three services as real processes (`python -m services.X`), from an HTTP
request to the ingestor to an Alertmanager webhook delivered by the notifier."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import orjson
import pytest

from tests import factories as f
from tests.apps import bearer, eventually, issue_token, service_process
from tests.infra import Infra, unique
from tests.standins.webhook_sink import free_port, webhook_sink

pytestmark = pytest.mark.e2e
TOKEN = "e2e-token-0123456789abcdef"


async def test_request_to_webhook(infra: Infra, database: str, tmp_path: Path) -> None:
    suffix = unique("e2e")
    ports = {"ingestor": free_port(), "scorer": free_port(), "notifier": free_port()}
    async with webhook_sink() as sink:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "DATABASE_URL": infra.app_dsn(database),
            "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
            "INGEST_API_TOKENS": TOKEN,
            "NOTIFIER_WEBHOOK_URL": sink.url,
            "TOPIC_CONTACT_EVENTS": f"wecom.contact-events.{suffix}",
            "TOPIC_BANK_RECORDS": f"bank.records.{suffix}",
            "TOPIC_BREACHES": f"scoring.breaches.{suffix}",
            "TOPIC_RAW_CALLBACKS": f"wecom.raw-events.{suffix}",
            "SCORER_GROUP_ID": f"scorer-{suffix}",
            "NOTIFIER_GROUP_ID": f"notifier-{suffix}",
            "INGESTOR_PORT": str(ports["ingestor"]),
            "SCORER_PORT": str(ports["scorer"]),
            "NOTIFIER_PORT": str(ports["notifier"]),
        }
        async with (
            service_process("ingestor", env, ports["ingestor"], tmp_path) as ingestor,
            service_process("scorer", env, ports["scorer"], tmp_path) as scorer,
            service_process("notifier", env, ports["notifier"], tmp_path) as notifier,
            httpx.AsyncClient(timeout=30) as http,
        ):
            admin = bearer(await issue_token(infra.app_dsn(database)))
            records = [
                f.employee("m1", supervisor_id="lead9"),
                f.target("employee", "m1", "2026-Q3", 5),
                f.add("m1", "wo-a", f.at("2026-09-29")),
                f.add("m1", "wo-b", f.at("2026-09-30")),
                f.profile("wo-a"),
                f.profile("wo-b"),
            ]
            r = await http.post(
                f"{ingestor}/v1/events",
                content=b"\n".join(orjson.dumps(x) for x in records),
                headers={
                    "Authorization": f"Bearer {TOKEN}",
                    "Content-Type": "application/x-ndjson",
                },
            )
            assert r.status_code == 200, r.text

            async def quarter() -> list[dict[str, object]]:
                body = (await http.get(f"{scorer}/v1/scores?period=2026-Q3", headers=admin)).json()
                return list(body["employees"])

            rows = await eventually(quarter, lambda e: bool(e) and e[0]["gross_adds"] == 2)
            assert rows[0]["target"] == 5
            assert (
                await http.post(f"{scorer}/v1/periods/2026-Q3/close?force=true", headers=admin)
            ).status_code == 200
            hooks = await sink.wait_for(1)
            labels = hooks[0]["alerts"][0]["labels"]
            assert labels["alertname"] == "TargetMissed"
            assert labels["employee_id"] == "m1" and labels["supervisor_id"] == "lead9"
            assert labels["period"] == "2026-Q3"
            alerts = await http.get(f"{notifier}/v1/alerts?supervisor_id=lead9", headers=admin)
            assert alerts.status_code == 200, alerts.text
            alerts = alerts.json()
            assert len(alerts["alerts"]) == 1
            await asyncio.sleep(1)
            assert len(sink.received) == 1
