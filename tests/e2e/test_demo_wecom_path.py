"""The demo's real path (`make up`): the simulator hands a small bank's contacts to the WeCom
stand-in process (tools/wecom_standin.py) and sends its contact events as encrypted, signed
callbacks to a real ingestor, which looks every added contact up in the stand-in; the scorer's
figures are the scenario's expected ones, the month passes the close gate, and a
reconciliation walking the stand-in afterwards finds nothing to correct."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from tests.apps import bearer, eventually, issue_token, service_process
from tests.infra import ROOT, Infra, unique
from tests.processes import Service
from tools.evaluate.runner import collect
from tools.ports import free_port
from tools.simulator import Pattern, SimulationConfig, generate
from tools.simulator.callbacks import ENDED
from tools.simulator.wecom_path import WeComPath, feed_month
from tools.wecom.client import WeComClient, random_aes_key, random_digits

pytestmark = pytest.mark.e2e
TOKEN = "demo-path-token-0123456789"
CORP_ID = "wwdemopath0000001"
SECRET = "demo-path-corp-secret-0123"
MONTH = "2026-10"


async def test_simulator_callbacks_through_the_wecom_standin(
    infra: Infra, database: str, tmp_path: Path
) -> None:
    suffix = unique("demo")
    ports = {name: free_port() for name in ("ingestor", "scorer", "standin", "smtp")}
    standin_url = f"http://127.0.0.1:{ports['standin']}"
    wecom = WeComClient(random_digits(16), random_aes_key(), CORP_ID)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.app_dsn(database),
        "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
        "INGEST_API_TOKENS": TOKEN,
        "TOPIC_CONTACT_EVENTS": f"wecom.contact-events.{suffix}",
        "TOPIC_BANK_RECORDS": f"bank.records.{suffix}",
        "TOPIC_BREACHES": f"scoring.breaches.{suffix}",
        "TOPIC_RAW_CALLBACKS": f"wecom.raw-events.{suffix}",
        "SCORER_GROUP_ID": f"scorer-{suffix}",
        "INGESTOR_PORT": str(ports["ingestor"]),
        "SCORER_PORT": str(ports["scorer"]),
        "CLOSE_PERIOD_KINDS": "[]",
        "CLOSE_IDLE_PARTITION_SECONDS": "5",
        "WECOM_CORP_ID": CORP_ID,
        "WECOM_CALLBACK_TOKEN": wecom.token,
        "WECOM_CALLBACK_AES_KEY": wecom.encoding_aes_key,
        "WECOM_API_BASE": standin_url,
        "WECOM_CORP_SECRET": SECRET,
        "WECOM_LOOKUP_RATE_PER_SECOND": "500",
        "LOOKUP_STATE_DIR": str(tmp_path / "lookups"),
        "SPOOL_DIR": str(tmp_path / "spool"),
        "RECONCILE_STATE_DIR": str(tmp_path / "reconcile"),
    }
    scenario = generate(
        SimulationConfig(
            seed=5,
            month=MONTH,
            employees=30,
            corp_id=CORP_ID,
            robot_base=standin_url,
            id_salt=MONTH,
        )
    )
    inbox = str(tmp_path / "wecom")
    standin = Service(
        "tools.wecom_standin",
        env,
        tmp_path / "standin.log",
        args=("--port", str(ports["standin"]), "--smtp-port", str(ports["smtp"]), "--dir", inbox),
    )
    standin.start()
    try:
        await eventually(lambda: _answers(standin_url), lambda ok: ok, timeout=30)
        async with (
            service_process("ingestor", env, ports["ingestor"], tmp_path) as ingestor,
            service_process("scorer", env, ports["scorer"], tmp_path) as scorer,
        ):
            path = WeComPath(standin_url, wecom)
            fed = await asyncio.to_thread(feed_month, scenario, ingestor, TOKEN, path, None)
            events = sum(1 for r in scenario.records if r["type"] == "contact_event")
            assert fed.contact_events_diverted == events > 0
            # complete as the demo's month before last: every lookup done, every partition past
            # the month (or idle); the scorer's close gate says so, then the close is taken
            admin = await issue_token(infra.app_dsn(database))
            await eventually(lambda: _close(scorer, admin), lambda closed: closed, timeout=600)
            await eventually(lambda: _dirty(infra.owner_dsn(database)), lambda n: n == 0)
            employees, _ = await collect(scenario, scorer, admin)
            scored = {e: r.valid_adds for e, r in employees.items()}
            expected = {e: r.expected_valid for e, r in employees.items()}
            assert scored == expected
            assert sum(scored.values()) > 0
            # every add's profile came from the stand-in (none was sent on /v1/events, and the
            # close gate above holds a period while any add waits for its profile); peers of
            # other banks, known only by the stand-in's corp_name, count as the scenario says
            peers = [e for e, r in employees.items() if r.label == Pattern.PEER_INSTITUTION]
            assert peers and all(scored[e] == expected[e] for e in peers)
        # the daily reconciliation walks the stand-in and finds what the callbacks said
        walked = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.ingestor.reconcile"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert walked.returncode == 0, walked.stderr[-3000:]
        assert "for 30 employees: 0 missed adds, 0 missed deletes" in walked.stdout
    finally:
        standin.stop()
    # what a reconciliation walks now: the relations still alive after the month
    kept = orjson.loads((tmp_path / "wecom" / "contacts.json").read_bytes())
    follows = {(c["external_userid"], f["userid"]) for c in kept for f in c["follows"]}
    last: dict[tuple[str, str], str] = {}
    for r in scenario.records:
        if r["type"] == "contact_event":
            last[(r["ExternalUserID"], r["UserID"])] = r["ChangeType"]
    assert follows == {pair for pair, change in last.items() if change not in ENDED}


async def _close(scorer: str, token: str) -> bool:
    async with httpx.AsyncClient(timeout=60, headers=bearer(token)) as http:
        r = await http.post(f"{scorer}/v1/periods/{MONTH}/close")
    return r.status_code == 200 and bool(r.json().get("closed"))


async def _dirty(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM score_dirty"))
    finally:
        await conn.close()


async def _answers(url: str) -> bool:
    async with httpx.AsyncClient() as http:
        try:
            r = await http.get(f"{url}/cgi-bin/gettoken", params={"corpid": CORP_ID})
            healthy = await http.get(f"{url}/healthz")  # compose's healthcheck
        except httpx.TransportError:
            return False
        return r.status_code == 200 and healthy.status_code == 200
