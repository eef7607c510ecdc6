"""kill -9 of a notifier *process* between sending a notice and recording it, under a steady
feed of breaches with poison records among them: after a restart no notice is lost, only the
one in flight is sent again (same idempotency key, same body), a further restart sends
nothing, and the poison records are dead-lettered with their error. A clean run notifies each
breach exactly once: the union of the distinct notices' alerts must be exactly the input."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.schemas import BreachEvent
from shared.settings import Topics
from tests.apps import eventually
from tests.faults.harness import Feeder, Measure
from tests.infra import ROOT, Infra, unique
from tests.integration.test_notifier_delivery import breach
from tests.kafka_helpers import read_topic
from tests.standins.webhook_sink import free_port

pytestmark = pytest.mark.faults
KILL_ON_POST = 3
POISON = [b"{not json", b'{"alertname": "target_missed"}', b"\\x00"]


@dataclass
class KillingSink:
    """A webhook receiver that kills the sender (kill -9) on the KILL_ON_POST-th POST, before
    answering: the notice was sent, its sending never recorded."""

    port: int
    victim: subprocess.Popen[bytes] | None = None
    keys: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    killed: bool = False


@asynccontextmanager
async def killing_sink() -> AsyncIterator[KillingSink]:
    sink = KillingSink(port=free_port())

    async def hook(request: Request) -> Response:
        sink.keys.append(request.headers["idempotency-key"])
        sink.bodies.append(orjson.loads(await request.body()))
        if not sink.killed and sink.victim is not None and len(sink.keys) == KILL_ON_POST:
            sink.killed = True
            os.kill(sink.victim.pid, signal.SIGKILL)
            sink.victim.wait()
        return Response("ok")

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=sink.port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield sink
    finally:
        server.should_exit = True
        await task


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "services.notifier"], cwd=ROOT, env=env, stdout=out, stderr=out
    )


async def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:

        async def ready() -> int:
            if proc.poll() is not None:
                raise AssertionError(f"notifier exited: {log.read_text()[-3000:]}")
            try:
                return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code
            except httpx.TransportError:
                return 0

        await eventually(ready, lambda s: s == 200, timeout=60)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_kill_9_between_send_and_record_repeats_only_the_notice_in_flight(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    measure = Measure("notifier kill -9 between sending and recording")
    port = free_port()
    log = tmp_path / "notifier.log"
    breaches = [breach(f"e{i:02d}") for i in range(16)]
    feed: list[BreachEvent | bytes] = [*breaches]
    for n, poison in enumerate(POISON):
        feed.insert(4 + 5 * n, poison)
    async with killing_sink() as sink:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "DATABASE_URL": infra.app_dsn(database),
            "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
            "TOPIC_BREACHES": topics.breaches,
            "NOTIFIER_GROUP_ID": unique("notifier"),
            "NOTIFIER_WEBHOOK_URL": f"http://127.0.0.1:{sink.port}/hook",
            "NOTIFIER_PORT": str(port),
            "DELIVERY_INTERVAL_SECONDS": "0.1",
        }
        env.pop("NOTIFIER_CONFIG", None)
        first = start(env, log)
        sink.victim = first
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
        await producer.start()

        async def send(item: BreachEvent | bytes) -> None:
            value = item if isinstance(item, bytes) else item.to_json()
            key = b"poison" if isinstance(item, bytes) else (item.employee_id or "-").encode()
            await producer.send_and_wait(topics.breaches, value, key=key)

        try:
            await wait_ready(port, first, log)
            feeder = Feeder(feed, send, rate=4).start()
            await eventually(lambda: _killed(sink), lambda k: k, timeout=60)
            measure.mark("killed_s")
            assert first.returncode == -signal.SIGKILL
            assert len(sink.keys) == KILL_ON_POST  # the in-flight notice was sent, never recorded
            second = start(env, log)
            try:
                await wait_ready(port, second, log)
                await feeder.done()
                await eventually(lambda: _employees(sink), lambda n: n >= len(breaches), timeout=60)
                measure.mark("recovered_s")
                await asyncio.sleep(1.0)  # what a wrongful re-send would need to show up
            finally:
                stop(second)
        finally:
            await producer.stop()
            stop(first)
        repeated = [k for k in set(sink.keys) if sink.keys.count(k) > 1]
        assert repeated == [sink.keys[KILL_ON_POST - 1]]  # only the notice in flight, once
        assert sink.keys.count(repeated[0]) == 2
        bodies = {k: b for k, b in zip(sink.keys, sink.bodies, strict=True)}
        assert [b for k, b in zip(sink.keys, sink.bodies, strict=True) if k == repeated[0]] == [
            bodies[repeated[0]]
        ] * 2  # the same digest, byte for byte
        alerted = sorted(a["labels"]["employee_id"] for b in bodies.values() for a in b["alerts"])
        assert alerted == sorted(b.employee_id or "" for b in breaches)  # none lost, none twice

        sent = len(sink.keys)
        third = start(env, log)
        try:
            await wait_ready(port, third, log)
            await asyncio.sleep(1.5)
        finally:
            stop(third)
        assert len(sink.keys) == sent  # a restart otherwise re-sends nothing

    dead = await read_topic(infra, topics.dlq(topics.breaches), expect=len(POISON))
    assert sorted(d["value"] for d in dead) == sorted(p.decode("utf-8", "replace") for p in POISON)
    assert all(d["error"] for d in dead)
    measure.report(
        breaches_in=len(breaches),
        notices=len(bodies),
        posts=len(sink.keys),
        repeated_in_flight=1,
        poison=len(POISON),
        dead_lettered=len(dead),
    )


async def _killed(sink: KillingSink) -> bool:
    return sink.killed


async def _employees(sink: KillingSink) -> int:
    return len({a["labels"]["employee_id"] for b in sink.bodies for a in b["alerts"]})
