"""kill -9 of the ingestor *process* while Prometheus scrapes it: the ops notice reaches ops
through the real chain — Prometheus (Debian's, started by deploy/local/prometheus.sh as
`make up` starts it) evaluating the repository's alert rules, Alertmanager (started by
deploy/local/alertmanager.sh on the repository's config) and the notifier's
`POST /v1/alertmanager` — and arrives at the SMTP stand-in, the ops channel of `make up`
(ops are never told through a robot: it may be the broken part). The ingestor restarted,
the resolved notice follows.

Only the test's generated configuration is fast: a 1 s scrape and evaluation interval,
Alertmanager's group timings of 1 s, and a copy of the rule files whose `for:` durations are
short; the copy's expressions, labels and annotations are asserted to be the repository's own.
The production rules are left as they are."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shared.settings import Topics
from tests.apps import eventually
from tests.infra import ROOT, Infra
from tests.integration.test_notifier_alertmanager import (
    OPS_MAIL,
    TOKEN,
    alertmanager,
    body,
    subject,
)
from tests.processes import MAKE_UP_PROCESSES, Service
from tests.standins.smtp import SmtpStandIn, smtp_standin
from tests.standins.webhook_sink import free_port

pytestmark = pytest.mark.e2e
RULES = ROOT / "deploy" / "prometheus" / "rules"
SHORT_FOR = "2s"  # the test copy's `for:` (the production rules' are minutes)
SERVICES = MAKE_UP_PROCESSES
JOBS = ("ingestor", "scorer", "notifier")
"""Prometheus's jobs: the scorer's three processes are the scorer job's three targets."""


def port_variable(name: str) -> str:
    """The variable that tells a process its port, and Prometheus (deploy/local/prometheus.sh)
    where to scrape it."""
    return name.upper().replace("-", "_") + "_PORT"


def rules_with_short_for(target: Path, duration: str = SHORT_FOR) -> Path:
    """The repository's rule files copied to `target`, every alert's `for:` set to `duration`;
    nothing else changes (asserted)."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(RULES.glob("*.yml")):
        doc = yaml.safe_load(source.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = duration
        (target / source.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        copied = yaml.safe_load((target / source.name).read_text())
        assert _without_for(copied) == _without_for(yaml.safe_load(source.read_text()))
    assert sorted(p.name for p in target.glob("*.yml")) == sorted(
        p.name for p in RULES.glob("*.yml")
    )
    return target


def _without_for(doc: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [
        [{k: v for k, v in rule.items() if k != "for"} for rule in group["rules"]]
        for group in doc["groups"]
    ]


def notifier_config(smtp_port: int) -> str:
    return yaml.safe_dump(
        {
            "timing": {"group_wait_seconds": 0.3, "group_interval_seconds": 0},
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "alerts@bank.example"},
            "ops_recipients": [OPS_MAIL],
            "ops_channels": ["email"],
        }
    )


def prometheus_script(action: str, env: dict[str, str]) -> None:
    assert shutil.which("prometheus") and shutil.which("promtool"), (
        "Prometheus missing: deploy/local/bootstrap.sh installs Debian's prometheus"
    )
    done = subprocess.run(
        ["bash", str(ROOT / "deploy/local/prometheus.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def api(http: httpx.AsyncClient, path: str, **params: str) -> Callable[[], Awaitable[Any]]:
    """A probe of Prometheus's HTTP API: the `data` of GET `path`."""

    async def probe() -> Any:
        answer = await http.get(path, params=params)
        answer.raise_for_status()
        return answer.json()["data"]

    return probe


def module_port(name: str) -> str:
    """The variable a process reads its own port from (each scorer process: SCORER_PORT)."""
    return port_variable(name.split("-")[0])


def up_by_job(data: dict[str, Any]) -> dict[str, str]:
    """Per job, "1" when every target of it is up."""
    out: dict[str, str] = {}
    for r in data["result"]:
        job = r["metric"]["job"]
        out[job] = "1" if out.get(job, "1") == "1" and r["value"][1] == "1" else "0"
    return out


async def test_a_killed_ingestor_reaches_ops_through_prometheus_and_alertmanager(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    ports = {name: free_port() for name in (*SERVICES, "prometheus")}
    rules = rules_with_short_for(tmp_path / "rules")
    config = tmp_path / "routing.yaml"
    with smtp_standin() as smtp:
        config.write_text(notifier_config(smtp.port))
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "DATABASE_URL": infra.app_dsn(database),
            "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
            "TOPIC_CONTACT_EVENTS": topics.contact_events,
            "TOPIC_BANK_RECORDS": topics.bank_records,
            "TOPIC_BREACHES": topics.breaches,
            "TOPIC_RAW_CALLBACKS": topics.raw_callbacks,
            "TOPIC_RECONCILE_LEASE": topics.reconcile_lease,
            "SCORER_GROUP_ID": f"scorer-{topics.breaches}",
            "NOTIFIER_GROUP_ID": f"notifier-{topics.breaches}",
            "NOTIFIER_CONFIG": str(config),
            "NOTIFIER_ALERTMANAGER_TOKEN": TOKEN,
            "DELIVERY_INTERVAL_SECONDS": "0.3",
            "SPOOL_DIR": str(tmp_path / "spool"),
            "CLOSE_PERIOD_KINDS": "[]",
        }
        for unset in ("WECOM_CORP_ID", "WECOM_CORP_SECRET", "RECONCILE_DAILY_AT"):
            env.pop(unset, None)
        services = {
            name: Service(
                f"services.{name.split('-')[0]}",
                {**env, **role, module_port(name): str(ports[name])},
                tmp_path / f"{name}.log",
            )
            for name, role in SERVICES.items()
        }
        prom_env = {
            **env,
            **{port_variable(name): str(ports[name]) for name in SERVICES},
            "RUN_DIR": str(tmp_path / "prometheus-run"),
            "PROMETHEUS_PORT": str(ports["prometheus"]),
            "PROMETHEUS_SCRAPE_INTERVAL": "1s",
            "PROMETHEUS_RULES_DIR": str(rules),
        }
        try:
            for service in services.values():
                service.start()
            for name, service in services.items():
                await service.ready(ports[name])
            async with (
                alertmanager(tmp_path / "alertmanager-run", ports["notifier"]) as am,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['prometheus']}") as prom,
            ):
                prom_env["ALERTMANAGER_PORT"] = am.rsplit(":", 1)[1]
                prometheus_script("up", prom_env)
                try:
                    await _kill_and_restart(services["ingestor"], ports["ingestor"], prom, smtp)
                finally:
                    prometheus_script("down", prom_env)
        finally:
            for service in services.values():
                service.stop()


async def _kill_and_restart(
    ingestor: Service, port: int, prom: httpx.AsyncClient, smtp: SmtpStandIn
) -> None:
    # Prometheus runs the copy: the production expression, the short `for:`
    groups = (await api(prom, "/api/v1/rules", type="alert")())["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    production = yaml.safe_load((RULES / "alerts.yml").read_text())
    expected = {r["alert"]: r for g in production["groups"] for r in g["rules"]}
    assert set(loaded) == set(expected)
    assert loaded["ServiceDown"]["query"] == expected["ServiceDown"]["expr"]
    assert loaded["ServiceDown"]["duration"] == 2.0  # the copy's `for:`, not production's
    assert expected["ServiceDown"]["for"] not in (None, SHORT_FOR)

    # every service scraped and up, nothing firing or pending, no notice yet
    query = api(prom, "/api/v1/query", query='up{job=~"ingestor|scorer|notifier"}')
    await eventually(_up(query), lambda up: up == dict.fromkeys(JOBS, "1"), timeout=60)
    assert (await api(prom, "/api/v1/alerts")())["alerts"] == []
    assert smtp.messages == []

    began, marks = time.monotonic(), {}
    ingestor.kill9()
    await eventually(_up(query), lambda up: up.get("ingestor") == "0", timeout=30)
    marks["scraped_down_s"] = round(time.monotonic() - began, 1)
    await smtp.wait_for(1, timeout=90)
    marks["firing_notice_s"] = round(time.monotonic() - began, 1)
    [firing] = smtp.messages
    assert "[FIRING:1] alertname=ServiceDown, job=ingestor" in subject(firing)
    assert f"ingestor (127.0.0.1:{port}) is not answering /metrics" in body(firing)

    ingestor.start()
    await ingestor.ready(port)
    marks["restarted_s"] = round(time.monotonic() - began, 1)
    await smtp.wait_for(2, timeout=90)
    marks["resolved_notice_s"] = round(time.monotonic() - began, 1)
    resolved = smtp.messages[1]
    assert "[RESOLVED] alertname=ServiceDown, job=ingestor" in subject(resolved)
    assert "resolved at" in body(resolved)
    assert [r[0] for r in smtp.recipients] == [OPS_MAIL, OPS_MAIL]
    await eventually(api(prom, "/api/v1/alerts"), lambda d: d["alerts"] == [], timeout=30)
    print(f"\nSERVICE-DOWN seconds from the kill -9: {marks}")  # pytest -s shows it


def _up(query: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[dict[str, str]]]:
    async def probe() -> dict[str, str]:
        return up_by_job(await query())

    return probe
