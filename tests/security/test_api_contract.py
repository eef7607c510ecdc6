"""Each HTTP service, running as a process on real Kafka and PostgreSQL, against its own OpenAPI
document (served at /openapi.json) under schemathesis: examples, boundary and random requests,
valid and invalid, each run with a credential that may call the routes it walks (the ingestor's
ingest token; an admin token issued in the database; Alertmanager's own token for the
notifier's receiver, in a run of its own). Every answer must be one the document lists, with
its content type and schema; never a 500, never a hang (a 10 s request timeout fails the run);
a request without the credential (or with a wrong one) must be refused (`ignored_auth`). The
notifier's database holds alerts first, and its document links an alert to its ack and a new
silence to its expiry for the stateful phase to follow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.settings import Topics
from tests.apps import bearer, issue_token
from tests.infra import ROOT, Infra, unique
from tests.processes import Service
from tests.security.test_access import seed_alerts
from tests.standins.webhook_sink import free_port
from tests.wecom_client import random_aes_key

pytestmark = pytest.mark.integration

INGEST_TOKEN = "ingest-token-" + "x" * 24
ALERTMANAGER_TOKEN = "alertmanager-token-" + "z" * 24
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "ignored_auth",
    ]
)
ALERTMANAGER = "/v1/alertmanager"


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
SUPERSCRIPT_TWO = "%C2%B2"
FULLWIDTH_2026 = "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96"  # "２０２６": int() reads it, \d too
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
        ("GET", f"/v1/audit?before={HUGE}"),
        ("GET", "/v1/audit?limit=0"),
        ("GET", f"/v1/audit?limit={HUGE}"),
        ("GET", "/v1/audit?action=%00"),
        ("GET", f"/v1/audit?before={SUPERSCRIPT_TWO}"),
        ("GET", f"/v1/scores?period=2026-10&limit={SUPERSCRIPT_TWO}"),
        ("GET", f"/v1/scores?period={FULLWIDTH_2026}-10"),
        ("POST", f"/v1/periods/{FULLWIDTH_2026}-10/close"),
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
        ("GET", f"/v1/audit?before={HUGE}"),
        ("GET", "/v1/audit?before=-1"),
        ("GET", "/v1/audit?action=%00&limit=5"),
        # digits that are not ASCII digits ("²".isdigit() holds, int("²") fails)
        ("GET", f"/v1/audit?before={SUPERSCRIPT_TWO}"),
        ("GET", f"/v1/audit?limit={SUPERSCRIPT_TWO}"),
        ("POST", f"/v1/alerts/{SUPERSCRIPT_TWO}/ack"),
        ("DELETE", f"/v1/silences/{SUPERSCRIPT_TWO}"),
        ("GET", f"/v1/ack?token={SUPERSCRIPT_TWO}.x.{SUPERSCRIPT_TWO}.y"),
        ("GET", "/v1/ack?token=1.eA.99999999999.%C3%A9"),  # a non-ASCII signature
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


def with_token(token: str, *extra: str) -> tuple[str, ...]:
    return ("-H", f"Authorization: Bearer {token}", *extra)


async def check(
    service: Service, port: int, tmp: Path, token: str, runs: dict[str, tuple[str, ...]]
) -> None:
    """Each schemathesis run of `runs` (name → its arguments, credential included), then the
    hostile values asked with `token`."""
    service.start()
    try:
        await service.ready(port)
        done = {name: schemathesis(port, tmp / name, *args) for name, args in runs.items()}
        wrong = await hostile(port, HOSTILE[service.module.rsplit(".", 1)[1]], bearer(token))
        service.alive()
    finally:
        service.stop()
    assert wrong == [], "\n".join(wrong)
    for name, run in done.items():
        print(name, run.stdout[-1500:])
        assert run.returncode == 0, name + "\n" + run.stdout[-8000:] + run.stderr[-2000:]
        assert "passed" in run.stdout, name


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
    await check(service, port, tmp_path, INGEST_TOKEN, {"ingest": with_token(INGEST_TOKEN)})


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
    service = Service("services.scorer", env, tmp_path / "scorer.log")
    await check(service, port, tmp_path, token, {"admin": with_token(token)})


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
        "NOTIFIER_ALERTMANAGER_TOKEN": ALERTMANAGER_TOKEN,
    }
    token = await issue_token(infra.app_dsn(database))
    await seed_alerts(infra.owner_dsn(database))  # rows for the ack link to reach
    service = Service("services.notifier", env, tmp_path / "notifier.log")
    runs = {
        "admin": with_token(token, f"--exclude-path={ALERTMANAGER}"),
        "alertmanager": with_token(
            ALERTMANAGER_TOKEN,
            f"--include-path={ALERTMANAGER}",
            "--phases=examples,coverage,fuzzing",  # one operation: no links to follow
        ),
    }
    await check(service, port, tmp_path, token, runs)
    audit = await asyncpg.connect(infra.owner_dsn(database))
    try:
        actions = {r["action"] for r in await audit.fetch("SELECT DISTINCT action FROM audit_log")}
    finally:
        await audit.close()
    assert "silence.create" in actions  # the admin run got past the guard into the service
