"""A real HTTP server on localhost that receives webhooks (an Alertmanager webhook receiver's
stand-in) and keeps what it got, for tests and the local demo."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tools.ports import free_port

__all__ = ["WebhookSink", "free_port", "webhook_sink"]


@dataclass
class WebhookSink:
    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_next: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"got {len(self.received)} webhooks, expected {count}")
            await asyncio.sleep(0.1)
        return self.received


@asynccontextmanager
async def webhook_sink() -> AsyncIterator[WebhookSink]:
    sink = WebhookSink(port=free_port())

    async def hook(request: Request) -> Response:
        if sink.fail_next > 0:
            sink.fail_next -= 1
            return Response("unavailable", status_code=503)
        sink.received.append(orjson.loads(await request.body()))
        sink.headers.append(dict(request.headers))
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
