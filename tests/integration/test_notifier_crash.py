"""kill -9 of a notifier *process* between sending a notice and recording it: after a
restart no notice is lost, only the one in flight is sent again, with the same idempotency
key, and a further restart sends nothing."""

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

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.settings import Topics
from tests.apps import eventually
from tests.infra import ROOT, Infra, unique
from tests.integration.test_notifier_delivery import breach, publish
from tests.standins.webhook_sink import free_port

pytestmark = pytest.mark.integration


@dataclass
class KillingSink:
    """A webhook receiver that kills the sender (kill -9) on the first POST, before answering."""

    port: int
    victim: subprocess.Popen[bytes] | None = None
    keys: list[str] = field(default_factory=list)
    bodies: list[dict[str, object]] = field(default_factory=list)
    killed: bool = False


@asynccontextmanager
async def killing_sink() -> AsyncIterator[KillingSink]:
    sink = KillingSink(port=free_port())

    async def hook(request: Request) -> Response:
        sink.keys.append(request.headers["idempotency-key"])
        sink.bodies.append(orjson.loads(await request.body()))
        if not sink.killed and sink.victim is not None:
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
    port = free_port()
    log = tmp_path / "notifier.log"
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
        try:
            await wait_ready(port, first, log)
            await publish(infra, topics.breaches, [breach(f"e{i}") for i in range(3)])
            await eventually(lambda: _killed(sink), lambda k: k, timeout=30)
            assert first.returncode == -signal.SIGKILL
        finally:
            stop(first)
        assert len(sink.keys) == 1  # the in-flight notice was sent, never recorded

        second = start(env, log)
        try:
            await wait_ready(port, second, log)
            await eventually(lambda: _received(sink), lambda n: n >= 4, timeout=30)
            await asyncio.sleep(1.0)
        finally:
            stop(second)
        assert len(sink.keys) == 4
        assert sink.keys.count(sink.keys[0]) == 2  # repeated once, under the same key
        assert len(set(sink.keys)) == 3  # every notice delivered, none lost

        third = start(env, log)
        try:
            await wait_ready(port, third, log)
            await asyncio.sleep(1.5)
        finally:
            stop(third)
        assert len(sink.keys) == 4  # a restart otherwise re-sends nothing


async def _killed(sink: KillingSink) -> bool:
    return sink.killed


async def _received(sink: KillingSink) -> int:
    return len(sink.keys)
