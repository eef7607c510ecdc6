"""Alertmanager → the notifier's `POST /v1/alertmanager` → ops notices, on real Kafka and
PostgreSQL with the real SMTP stand-in as the ops channel:

- the receiver refuses a missing or wrong bearer token, and everyone while its token is not
  configured (401), and anything but a v4 webhook
  notification (400); a firing then a resolved notification in Alertmanager's own format become
  one ops mail each;
- the real Alertmanager binary (Debian's, installed by deploy/local/bootstrap.sh) with the
  repository's config, rendered by deploy/local/alertmanager.sh as `make up` renders it, gets
  alerts on its API and posts them to a notifier on a real port: grouped, with the bearer
  token, a `ServiceDown` inhibiting the other alerts of its service, resolutions following."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette

from services.notifier.app import create_app
from services.notifier.domain.alertmanager import AlertView, webhook_payload
from shared.settings import Topics
from tests.apps import eventually, running
from tests.infra import ROOT, Infra
from tests.integration.test_notifier_delivery import DAY, FAST, as_of, make_settings, query
from tests.standins.smtp import SmtpStandIn, smtp_standin
from tests.standins.webhook_sink import free_port

pytestmark = pytest.mark.integration
TOKEN = "alertmanager-token-for-tests-0123456789"
OPS_MAIL = "ops@bank.example"


def ops_config(smtp: SmtpStandIn) -> dict[str, Any]:
    return {
        "timing": FAST,
        "smtp": {"host": "127.0.0.1", "port": smtp.port, "sender": "alerts@bank.example"},
        "ops_recipients": [OPS_MAIL],
        "ops_channels": ["email", "log"],
    }


def subject(mail: Message) -> str:
    return str(mail["Subject"])


def body(mail: Message) -> str:
    plain = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    payload = plain.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def service_down(status: str, ends_at: datetime | None = None) -> AlertView:
    return AlertView(
        labels={
            "alertname": "ServiceDown",
            "job": "scorer",
            "instance": "scorer:8081",
            "severity": "critical",
        },
        annotations={"summary": "scorer (scorer:8081) is not answering /metrics"},
        status=status,
        starts_at=datetime(2026, 11, 30, 2, tzinfo=UTC),
        ends_at=ends_at,
        generator_url="http://prometheus:9090/graph",
    )


async def test_the_receiver_turns_firing_and_resolved_notifications_into_ops_mail(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    with smtp_standin() as smtp:
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            ops_config(smtp),
            notifier_alertmanager_token=SecretStr(TOKEN),
        )
        auth = {"Authorization": f"Bearer {TOKEN}"}
        firing = webhook_payload("notifier-ops", [service_down("firing")], ("alertname", "job"))
        async with running(create_app(settings, clock=as_of(DAY))) as client:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                refused = await client.post("/v1/alertmanager", json=firing, headers=headers)
                assert refused.status_code == 401, headers
            bad = await client.post("/v1/alertmanager", json={"version": "3"}, headers=auth)
            assert bad.status_code == 400
            assert await query(infra, database, "SELECT 1 FROM ops_notice") == []

            answer = await client.post("/v1/alertmanager", json=firing, headers=auth)
            assert answer.status_code == 200 and answer.json()["recipients"] == 2
            await smtp.wait_for(1)
            ended = datetime(2026, 11, 30, 2, 5, tzinfo=UTC)
            resolved = webhook_payload(
                "notifier-ops", [service_down("resolved", ended)], ("alertname", "job")
            )
            assert (await client.post("/v1/alertmanager", json=resolved, headers=auth)).is_success
            await smtp.wait_for(2)
            digests = await eventually(
                lambda: query(
                    infra, database, "SELECT channel, state FROM notice_digest WHERE kind = 'ops'"
                ),
                lambda rows: len(rows) == 4 and {r["state"] for r in rows} == {"sent"},
            )
        assert sorted(r["channel"] for r in digests) == ["email", "email", "log", "log"]
        assert [r[0] for r in smtp.recipients] == [OPS_MAIL, OPS_MAIL]
        first, second = smtp.messages
        assert "[FIRING:1] alertname=ServiceDown, job=scorer" in subject(first)
        assert "scorer (scorer:8081) is not answering /metrics" in body(first)
        assert "since 2026-11-30T02:00:00Z" in body(first)
        assert "[RESOLVED] alertname=ServiceDown, job=scorer" in subject(second)
        assert "resolved at 2026-11-30T02:05:00Z" in body(second)
        kinds = await query(infra, database, "SELECT kind FROM ops_notice")
        assert [r["kind"] for r in kinds] == ["alertmanager", "alertmanager"]


async def test_the_receiver_refuses_everyone_without_its_token(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    """Off unless configured: nobody posts ops notices unauthenticated."""
    settings = make_settings(infra, topics, database, tmp_path, {"timing": FAST})
    async with running(create_app(settings, clock=as_of(DAY))) as client:
        payload = webhook_payload("x", [service_down("firing")])
        answer = await client.post(
            "/v1/alertmanager", json=payload, headers={"Authorization": "Bearer x"}
        )
        assert answer.status_code == 401
        assert "NOTIFIER_ALERTMANAGER_TOKEN" in answer.json()["error"]


@asynccontextmanager
async def on_a_port(app: Starlette) -> AsyncIterator[int]:
    """The app (its lifespan already run by `running`) served on a real port as well."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def alertmanager(run_dir: Path, notifier_port: int) -> AsyncIterator[str]:
    """The real binary on the repository's config, started and stopped by the stack's script."""
    assert shutil.which("prometheus-alertmanager") and shutil.which("amtool"), (
        "Alertmanager missing: deploy/local/bootstrap.sh installs Debian's prometheus-alertmanager"
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "token").write_text(TOKEN + "\n")
    port = free_port()
    env = {
        **os.environ,
        "RUN_DIR": str(run_dir),
        "ALERTMANAGER_PORT": str(port),
        "NOTIFIER_PORT": str(notifier_port),
        "ALERTMANAGER_TOKEN_FILE": str(run_dir / "token"),
        "ALERTMANAGER_GROUP_WAIT": "1s",
        "ALERTMANAGER_GROUP_INTERVAL": "1s",
    }

    def script(action: str) -> None:
        done = subprocess.run(
            ["bash", str(ROOT / "deploy/local/alertmanager.sh"), action],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    await asyncio.to_thread(script, "up")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await asyncio.to_thread(script, "down")


def posted_alert(
    name: str, job: str, severity: str, ends: datetime | None = None
) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": name, "job": job, "instance": f"{job}:1", "severity": severity},
        "annotations": {"summary": f"{name} of {job}"},
        "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    return alert


async def test_real_alertmanager_groups_inhibits_and_reaches_the_notifier(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    with smtp_standin() as smtp:
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            ops_config(smtp),
            notifier_alertmanager_token=SecretStr(TOKEN),
        )
        app = create_app(settings, clock=as_of(DAY))
        async with (
            running(app),
            on_a_port(app) as port,
            alertmanager(tmp_path / "run", port) as am,
            httpx.AsyncClient(base_url=am) as api,
        ):
            # the scorer is down first (as Prometheus sees it: its consequences follow); once
            # ops heard of it, Alertmanager's inhibitor knows it too (posted together, a
            # consequence's group could be flushed before the inhibitor had seen its cause)
            down = posted_alert("ServiceDown", "scorer", "critical")
            assert (await api.post("/api/v2/alerts", json=[down])).status_code == 200
            await smtp.wait_for(1)
            alerts = [
                posted_alert("DeadLetters", "scorer", "warning"),  # inhibited by the above
                posted_alert("DeadLetters", "ingestor", "warning"),
            ]
            assert (await api.post("/api/v2/alerts", json=alerts)).status_code == 200
            await smtp.wait_for(2)
            await asyncio.sleep(3)  # a third notice (the inhibited one) would come by now
            assert len(smtp.messages) == 2
            subjects = sorted(subject(m) for m in smtp.messages)
            assert "alertname=DeadLetters, job=ingestor" in subjects[0]
            assert "alertname=ServiceDown, job=scorer" in subjects[1]
            # the scorer is back: its ServiceDown resolves, and ops hear that; the alert it
            # inhibited is inhibited no more
            back = posted_alert("ServiceDown", "scorer", "critical", ends=datetime.now(UTC))
            assert (await api.post("/api/v2/alerts", json=[back])).status_code == 200
            await smtp.wait_for(4)
        later = {subject(m): m for m in smtp.messages[2:]}
        [resolved] = [m for s, m in later.items() if "[RESOLVED]" in s]
        assert "alertname=ServiceDown, job=scorer" in subject(resolved)
        assert "ServiceDown of scorer" in body(resolved)
        [uninhibited] = [s for s in later if "[FIRING:1]" in s]
        assert "alertname=DeadLetters, job=scorer" in uninhibited
        notices = await query(infra, database, "SELECT kind FROM ops_notice")
        assert len(notices) == 4
