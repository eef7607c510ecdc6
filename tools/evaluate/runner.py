"""Running one simulated month through the real services (ingestor and scorer as processes,
real Kafka and PostgreSQL from the tests' stack) and collecting what the read API says.

Two ways in: `events` posts every record to `/v1/events`; `callbacks` sends the contact events
as WeCom does (encrypted, signed callbacks to `/wecom/callback`) and lets the ingestor enrich
each add from the WeCom REST stand-in, with only bank records and chat metadata on
`/v1/events`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from services.scorer import at_rest
from shared.auth import Role
from shared.cli import issue
from shared.clock import clock_from_env
from tests.faults.harness import records_on
from tests.infra import ROOT, Infra, create_database, drop_database, unique
from tests.standins.webhook_sink import free_port
from tools.evaluate.grading import EmployeeResult
from tools.live_summary.metrics import counter_total
from tools.simulator import Scenario
from tools.simulator.callbacks import CallbackSender, api_contacts, without_profiles
from tools.simulator.feed import feed
from tools.wecom.api_standin import WeComApiStandIn, wecom_api
from tools.wecom.client import WeComClient, random_aes_key, random_digits

TOKEN = "evaluation-token-0123456789"
FEEDS = ("events", "callbacks")
WECOM_SECRET = "evaluation-corp-secret"
CALLBACK_WORKERS = 6
"""Callbacks in flight at once, as WeCom's servers send them (each employee's in order)."""


@contextmanager
def service(name: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited during start")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready")


async def wait_drained(
    dsn: str, group: str, total: int | Callable[[], Awaitable[int]], timeout: float = 1800
) -> float:
    """Until the scorer has applied every record (`total`, or what the callable says it is
    when asked) and its scores are at rest on them (every score recomputed from the final
    inputs: services/scorer/at_rest.py); returns seconds."""
    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() - started < timeout:
            applied = await conn.fetchval(
                "SELECT COALESCE(sum(next_offset), 0) FROM consumer_offset "
                "WHERE consumer_group = $1",
                group,
            )
            wanted = total if isinstance(total, int) else await total()
            if applied >= wanted and await at_rest.settled(conn, group):
                return time.monotonic() - started
            await asyncio.sleep(1.0)
    finally:
        await conn.close()
    what = total if isinstance(total, int) else "every published"
    raise TimeoutError(f"scorer did not drain {what} records in {timeout} s")


NOT_YET = 1 << 62
"""What `published` says while the ingestor may still publish: more than can be applied."""
QUIET_SECONDS = 5.0
"""How long the scorer's topics must stay unchanged, with nothing left to look up or spooled,
before their records are taken as all there will be."""


def gauge(metrics: str, name: str) -> float:
    """A gauge's value from the ingestor's /metrics; a clear error when it is not there."""
    value = counter_total(metrics, name)
    if value is None:
        raise RuntimeError(f"the ingestor's /metrics has no {name}")
    return value


def published(infra: Infra, ingestor_url: str, topics: list[str]) -> Callable[[], Awaitable[int]]:
    """How many records the scorer's topics hold once the ingestor has published all it will:
    nothing left to look up in WeCom (its durable backlog, `ingestor_lookup_backlog`), nothing
    spooled (`ingestor_spool_depth`), and the topics unchanged for QUIET_SECONDS (the lookups'
    own consumer of the contact events, which queues them, may be behind). The ingestor
    publishes one profile per contact and employee it looks up, so with callbacks the count is
    not the scenario's (which may hold a contact's profile twice, as the bank's own feed can)."""
    since: list[tuple[int, float]] = []

    async def count() -> int:
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                metrics = (await client.get(f"{ingestor_url}/metrics")).text
        except httpx.HTTPError:
            return NOT_YET  # asked again at the next poll
        waiting = gauge(metrics, "ingestor_lookup_backlog") + gauge(metrics, "ingestor_spool_depth")
        held = await records_on(infra, topics)
        if waiting > 0 or not since or since[0][0] != held:
            since[:] = [(held, time.monotonic())]
            return NOT_YET
        return held if time.monotonic() - since[0][1] >= QUIET_SECONDS else NOT_YET

    return count


async def run_scenario(
    infra: Infra, scenario: Scenario, workdir: Path, via: str = "events"
) -> dict[str, Any]:
    if via not in FEEDS:
        raise ValueError(f"feed via one of {FEEDS}, not {via!r}")
    if via == "events":
        return await _run(infra, scenario, workdir, None)
    async with wecom_api(scenario.config.corp_id, WECOM_SECRET) as api:
        api.contacts.update(api_contacts(scenario.records))
        return await _run(infra, scenario, workdir, api)


async def _run(
    infra: Infra, scenario: Scenario, workdir: Path, api: WeComApiStandIn | None
) -> dict[str, Any]:
    database = await create_database(infra)
    suffix = unique("eval")
    ports = {"ingestor": free_port(), "scorer": free_port()}
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
        # scores at rest as soon as the feed is applied: an earlier pass (a pause in the feed)
        # must not make the evaluation wait five minutes for the last one
        "SCORES_REST_MIN_INTERVAL_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }
    wecom = None
    if api is not None:
        wecom = WeComClient(random_digits(16), random_aes_key(), scenario.config.corp_id)
        env |= {
            "WECOM_CORP_ID": wecom.corp_id,
            "WECOM_CALLBACK_TOKEN": wecom.token,
            "WECOM_CALLBACK_AES_KEY": wecom.encoding_aes_key,
            "WECOM_API_BASE": api.base_url,
            "WECOM_CORP_SECRET": WECOM_SECRET,
            # a month in minutes on a shared machine: lookups as fast as the stand-in answers
            # (durable and retried: a slow stand-in costs time, never a profile)
            "WECOM_LOOKUP_CONCURRENCY": "8",
            "WECOM_LOOKUP_RATE_PER_SECOND": "500",
            "WECOM_LOOKUP_RETRY_CAP_SECONDS": "2",
            "LOOKUP_STATE_DIR": str(workdir / "lookups"),
            "WECOM_API_TIMEOUT_SECONDS": "30",
            "WECOM_BREAKER_FAILURES": "1000",
            "WECOM_BREAKER_RESET_SECONDS": "2",
        }
    ingestor_url = f"http://127.0.0.1:{ports['ingestor']}"
    scorer_url = f"http://127.0.0.1:{ports['scorer']}"
    try:
        with (
            service("ingestor", env, workdir / f"{suffix}-ingestor.log") as ingestor,
            service("scorer", env, workdir / f"{suffix}-scorer.log") as scorer,
        ):
            wait_ready(ingestor_url, ingestor)
            wait_ready(scorer_url, scorer)
            started = time.monotonic()
            if wecom is None:
                fed = await asyncio.to_thread(feed, list(scenario.records), ingestor_url, TOKEN)
            else:
                sender = CallbackSender(ingestor_url, wecom, workers=CALLBACK_WORKERS)
                try:
                    fed = await asyncio.to_thread(
                        feed,
                        without_profiles(scenario.records),
                        ingestor_url,
                        TOKEN,
                        contact_event_sender=sender,
                    )
                finally:
                    sender.close()
            feed_seconds = time.monotonic() - started
            topics = [env["TOPIC_CONTACT_EVENTS"], env["TOPIC_BANK_RECORDS"]]
            drain = await wait_drained(
                infra.owner_dsn(database),
                f"scorer-{suffix}",
                len(scenario.records) if wecom is None else published(infra, ingestor_url, topics),
            )
            reader = await issue(infra.app_dsn(database), f"eval-{suffix}", Role.RISK)
            accusations: Flags = {}
            employees, contact_flags = await collect(scenario, scorer_url, reader, accusations)
        return {
            "feed": "events" if wecom is None else "callbacks",
            "records": len(scenario.records),
            "accepted": getattr(fed, "accepted", None),
            "feed_seconds": round(feed_seconds, 1),
            "drain_after_feed_seconds": round(drain, 1),
            "employees": employees,
            "contact_flags": contact_flags,
            "accusations": accusations,
        }
    finally:
        await drop_database(infra, database)


Flags = dict[tuple[str, str], list[str]]


async def collect(
    scenario: Scenario, scorer_url: str, token: str, accusations: Flags | None = None
) -> tuple[dict[str, EmployeeResult], Flags]:
    """What the scorer says, read with a risk token (every employee, every contact): the
    employees' scores and the contact flags that back a flagged employee's reasons (what a
    supervisor is shown). `accusations`, when given, receives the same for every employee with
    any reason (the accusations a contact carries; an employee without a reason accuses no
    contact)."""
    month = scenario.config.month
    expected = scenario.expected_at(clock_from_env(os.environ)())
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=scorer_url, timeout=60, headers=headers) as http:
        body = (await http.get("/v1/scores", params={"period": month})).json()
        employees: dict[str, EmployeeResult] = {}
        flags: Flags = {}
        for e in body["employees"]:
            eid = e["employee_id"]
            codes = frozenset(r["code"] for r in e["reasons"])
            employees[eid] = EmployeeResult(
                label=scenario.labels.employees.get(eid, "unknown"),
                anomaly_score=e["anomaly_score"],
                flagged=e["flagged"],
                codes=codes,
                valid_adds=e["valid_adds"],
                expected_valid=expected[eid].valid_adds if eid in expected else 0,
            )
            if codes and (e["flagged"] or accusations is not None):
                contacts = (
                    await http.get(f"/v1/employees/{eid}/contacts", params={"period": month})
                ).json()
                for c in contacts:  # a contact's flags that back its employee's reasons
                    backing = [f for f in c["flags"] if f in codes]
                    if accusations is not None:
                        accusations[(eid, c["external_userid"])] = backing
                    if e["flagged"]:
                        flags[(eid, c["external_userid"])] = backing
    return employees, flags
