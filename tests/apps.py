"""Running a service's ASGI app in the test's event loop, lifespan included (so its Kafka
consumers and database pool really run), with an HTTP client bound to it; or as a real process
(`python -m services.X`) on a real port."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import httpx
from starlette.applications import Starlette

from shared.auth import Role
from shared.cli import issue
from shared.settings import DatabaseSettings
from tools.ports import listening

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


_issued = 0


async def issue_token(dsn: str, role: Role = Role.ADMIN, employee_id: str | None = None) -> str:
    """A token of `role` issued in the database at `dsn`, through the same module as
    `wecom-quota tokens create` (no switch turns authentication off for tests)."""
    global _issued
    _issued += 1
    return await issue(dsn, f"test-{role.value}-{_issued}-{os.getpid()}", role, employee_id)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@asynccontextmanager
async def running(
    app: Starlette, role: Role | None = Role.ADMIN, employee_id: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The client carries a token of `role` (admin by default; None: no credential) when the
    service keeps tokens in PostgreSQL (scorer, notifier)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            settings = getattr(app.state, "settings", None)
            if role is not None and isinstance(settings, DatabaseSettings):
                dsn = settings.database_url.get_secret_value()
                client.headers.update(bearer(await issue_token(dsn, role, employee_id)))
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
    """`python -m services.<name>` until it answers /readyz; yields its base URL; SIGTERM after.
    A name such as `scorer-consume` runs `services.scorer` (its env says the role)."""
    # whatever answers on the port is taken for the service: it must be the service
    assert not listening(port), f"{name}: port {port} is in use by another process"
    log = (logs / f"{name}.log").open("wb")
    module = f"services.{name.split('-')[0]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", module], cwd=ROOT, env=env, stdout=log, stderr=log
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
