"""Each HTTP service, running as a process on real Kafka and PostgreSQL, against its own OpenAPI
document (served at /openapi.json) under schemathesis: examples, boundary and random requests,
valid and invalid. Every answer must be one the document lists, with its content type and
schema; never a 500, never a hang (a 10 s request timeout fails the run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shared.settings import Topics
from tests.apps import bearer, issue_token
from tests.infra import ROOT, Infra, unique
from tests.processes import Service
from tests.standins.webhook_sink import free_port
from tests.wecom_client import random_aes_key

pytestmark = pytest.mark.integration

INGEST_TOKEN = "ingest-token-" + "x" * 24
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def schemathesis(port: int, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            f"--checks={CHECKS}",
            "--max-examples=25",
            "--seed=20261129",
            "--request-timeout=10",
            "--workers=1",
            "--generation-database=none",
            "--no-color",
            f"--report-dir={tmp / 'schemathesis'}",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def common_env(infra: Infra, topics: Topics) -> dict[str, str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "TOPIC_CONTACT_EVENTS": topics.contact_events,
        "TOPIC_BANK_RECORDS": topics.bank_records,
        "TOPIC_BREACHES": topics.breaches,
        "TOPIC_RAW_CALLBACKS": topics.raw_callbacks,
    }
    for name in ("NOTIFIER_CONFIG", "WECOM_CORP_SECRET", "INGEST_API_TOKENS"):
        env.pop(name, None)
    return env


HUGE = "9" * 40
HOSTILE: dict[str, list[tuple[str, str]]] = {
    "ingestor": [
        ("GET", "/wecom/callback?msg_signature=&timestamp=" + HUGE + "&nonce=&echostr=%00"),
        ("POST", "/wecom/callback?msg_signature=x&timestamp=-1&nonce=1"),
        ("POST", "/v1/events"),
    ],
    "scorer": [
        ("GET", f"/v1/scores?period=2026-10&limit={HUGE}"),
        ("GET", "/v1/scores?period=9999-99"),
        ("GET", "/v1/scores?period=2026-W99"),
        ("GET", "/v1/scores?period=0000-Q0"),
        ("GET", "/v1/scores?period=2026-10-32"),
        ("GET", "/v1/scores?period=2026-10&after=%00"),
        ("GET", "/v1/employees/%00/contacts?period=2026-10"),
        ("POST", "/v1/periods/9999-Q9/close"),
        ("POST", "/v1/periods/99999-10/close"),
    ],
    "notifier": [
        ("POST", f"/v1/alerts/{HUGE}/ack"),
        ("DELETE", f"/v1/silences/{HUGE}"),
        ("GET", "/v1/alerts?supervisor_id=%00"),
        ("GET", "/v1/ack?token=" + HUGE),
        ("POST", "/v1/silences"),
    ],
}


async def hostile(port: int, requests: list[tuple[str, str]], headers: dict[str, str]) -> list[str]:
    """Values past the types' edges (numbers beyond 64 bits, NUL bytes, impossible periods):
    each must be a 4xx with a JSON error (asked with a valid credential, so the values are
    what is judged)."""
    wrong = []
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as http:
        for method, url in requests:
            try:
                answer = await http.request(
                    method, url, content=b"\x00{" if method == "POST" else None
                )
            except httpx.TransportError as exc:
                wrong.append(f"{method} {url} -> {type(exc).__name__}")
                continue
            is_json = answer.headers.get("content-type", "").startswith("application/json")
            if not (400 <= answer.status_code < 500 and is_json and "error" in answer.text):
                wrong.append(f"{method} {url} -> {answer.status_code} {answer.text[:200]}")
    return wrong


async def check(service: Service, port: int, tmp: Path, token: str) -> None:
    service.start()
    try:
        await service.ready(port)
        run = schemathesis(port, tmp, "-H", f"Authorization: Bearer {token}")
        wrong = await hostile(port, HOSTILE[service.module.rsplit(".", 1)[1]], bearer(token))
        service.alive()
    finally:
        service.stop()
    assert wrong == [], "\n".join(wrong)
    print(run.stdout[-1500:])
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "passed" in run.stdout


async def test_ingestor_answers_as_its_openapi_document_says(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **common_env(infra, topics),
        "WECOM_CORP_ID": "ww0123456789abcdef",
        "WECOM_CALLBACK_TOKEN": "QDG6eK0123456789",
        "WECOM_CALLBACK_AES_KEY": random_aes_key(),
        "INGEST_API_TOKENS": INGEST_TOKEN,
        "SPOOL_DIR": str(tmp_path / "spool"),
        "INGESTOR_PORT": str(port),
    }
    service = Service("services.ingestor", env, tmp_path / "ingestor.log")
    await check(service, port, tmp_path, INGEST_TOKEN)


async def test_scorer_answers_as_its_openapi_document_says(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **common_env(infra, topics),
        "DATABASE_URL": infra.app_dsn(database),
        "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
        "SCORER_GROUP_ID": unique("scorer"),
        "SCORER_PORT": str(port),
        "CLOSE_PERIOD_KINDS": "[]",
    }
    token = await issue_token(infra.app_dsn(database))
    await check(Service("services.scorer", env, tmp_path / "scorer.log"), port, tmp_path, token)


async def test_notifier_answers_as_its_openapi_document_says(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **common_env(infra, topics),
        "DATABASE_URL": infra.app_dsn(database),
        "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
        "NOTIFIER_GROUP_ID": unique("notifier"),
        "NOTIFIER_PORT": str(port),
        "NOTIFIER_ACK_SECRET": "ack-secret-" + "y" * 24,
    }
    token = await issue_token(infra.app_dsn(database))
    service = Service("services.notifier", env, tmp_path / "notifier.log")
    await check(service, port, tmp_path, token)
