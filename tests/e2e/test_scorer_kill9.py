"""`kill -9` of the scorer process mid-stream, then a restart: the figures must be identical to
an uninterrupted run over the same input (offsets and state commit together)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests import factories as f
from tests.apps import eventually
from tests.infra import ROOT, Infra, create_database, drop_database, unique
from tests.kafka_helpers import produce
from tests.standins.webhook_sink import free_port

pytestmark = pytest.mark.e2e


def workload(seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    employees = [f.employee(f"m{i:02d}", team_id=f"t{i % 4}") for i in range(30)]
    events: list[dict[str, Any]] = []
    for n in range(3000):
        who = f"m{rng.randrange(30):02d}"
        contact = f"wm{rng.randrange(900):04d}"
        day = f"2026-09-{rng.randrange(1, 29):02d}"
        record = f.add(who, contact, f.at(day, hour=rng.randrange(9, 18)))
        if rng.random() < 0.15:
            record["ChangeType"] = rng.choice(["del_follow_user", "del_external_contact"])
        record["CreateTime"] += n % 60  # distinct facts
        events.append(record)
    return employees, events


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.scorer"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def applied(dsn: str, group: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT COALESCE(sum(next_offset), 0) FROM consumer_offset "
                "WHERE consumer_group = $1",
                group,
            )
        )
    finally:
        await conn.close()


async def figures(port: int) -> dict[str, tuple[int, ...]]:
    async with httpx.AsyncClient(timeout=30) as http:
        body = (await http.get(f"http://127.0.0.1:{port}/v1/scores?period=2026-09")).json()
    return {
        e["employee_id"]: (
            e["gross_adds"],
            e["first_adds"],
            e["valid_adds"],
            e["pending_adds"],
            e["removed_adds"],
            e["new_to_bank"],
        )
        for e in body["employees"]
    }


async def run_scorer(
    infra: Infra, database: str, topics: dict[str, str], total: int, tmp: Path, kill_at: int | None
) -> dict[str, tuple[int, ...]]:
    group, port = unique("scorer"), free_port()
    env = {
        **os.environ,
        **topics,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.app_dsn(database),
        "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
        "SCORER_GROUP_ID": group,
        "SCORER_PORT": str(port),
        "SCORER_BATCH_MAX_RECORDS": "97",
        "CLOSE_PERIOD_KINDS": "[]",
    }
    log = tmp / f"{group}.log"
    proc = start(env, log)
    kills = 0
    try:
        if kill_at is not None:
            await eventually(
                lambda: applied(infra.owner_dsn(database), group), lambda n: n >= kill_at, 60
            )
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            assert await applied(infra.owner_dsn(database), group) < total, "killed too late"
            proc = start(env, log)
        await eventually(
            lambda: applied(infra.owner_dsn(database), group), lambda n: n >= total, 120
        )

        async def settled() -> int:
            conn = await asyncpg.connect(infra.owner_dsn(database))
            try:
                return int(await conn.fetchval("SELECT count(*) FROM score_dirty"))
            finally:
                await conn.close()

        await eventually(settled, lambda n: n == 0, 60)
        await asyncio.sleep(1.0)
        result = await eventually(lambda: figures(port), lambda r: len(r) == 30, 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert kills == (0 if kill_at is None else 1)
    return result


async def test_kill9_mid_stream_gives_identical_figures(
    infra: Infra, database: str, tmp_path: Path
) -> None:
    suffix = unique("k9")
    topics = {
        "TOPIC_CONTACT_EVENTS": f"wecom.contact-events.{suffix}",
        "TOPIC_BANK_RECORDS": f"bank.records.{suffix}",
        "TOPIC_BREACHES": f"scoring.breaches.{suffix}",
    }
    employees, events = workload()
    await produce(infra, topics["TOPIC_BANK_RECORDS"], employees)
    await produce(infra, topics["TOPIC_CONTACT_EVENTS"], events)
    total = len(employees) + len(events)

    clean_db = await create_database(infra, template=database)
    try:
        killed = await run_scorer(infra, database, topics, total, tmp_path, kill_at=total // 3)
        clean = await run_scorer(infra, clean_db, topics, total, tmp_path, kill_at=None)
    finally:
        await drop_database(infra, clean_db)
    assert killed == clean
    assert sum(v[0] for v in clean.values()) > 2000  # the workload really went through
