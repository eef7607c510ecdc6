"""Running a service's ASGI app in the test's event loop, lifespan included (so its Kafka
consumers and database pool really run), with an HTTP client bound to it; or as a real process
(`python -m services.X`) on a real port."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import httpx
from starlette.applications import Starlette

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 30.0
) -> T:
    """Poll until `accept(probe())`, or fail with the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in {timeout} s; last value: {value!r}")
        await asyncio.sleep(0.2)


@asynccontextmanager
async def service_process(
    name: str, env: dict[str, str], port: int, logs: Path
) -> AsyncIterator[str]:
    """`python -m services.<name>` until it answers /readyz; yields its base URL; SIGTERM after."""
    log = (logs / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:

            async def ready() -> int:
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited: {(logs / f'{name}.log').read_text()}")
                try:
                    return (await client.get(f"{base}/readyz")).status_code
                except httpx.TransportError:
                    return 0

            await eventually(ready, lambda s: s == 200, timeout=60)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
