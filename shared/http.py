"""What every service's HTTP side shares: `/healthz`, `/readyz`, `/metrics`, JSON errors,
and running a Starlette app under uvicorn."""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any

import orjson
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.memtrace import start_from_env
from shared.metrics import render

ReadinessCheck = Callable[[], Awaitable[None]]
log = logging.getLogger(__name__)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def _bad_value(_: Request, exc: Exception) -> Response:
    # asyncpg's DataError: a request's value PostgreSQL cannot take (a NUL byte in text, a
    # number beyond bigint). The value is the client's mistake; the message never holds a DSN.
    return error(400, f"a value of the request cannot be used: {type(exc).__name__}")


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.error("unhandled error answering a request", exc_info=exc)
    return error(500, "internal error; it has been logged")


def error_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """Every error answer as JSON: values the database refuses are the client's 400, anything
    unexpected a logged 500 with a JSON body (never a stack trace or an HTML page)."""
    import asyncpg
    from asyncpg.exceptions import _base

    # PostgreSQL's class 22 (data exception) and the driver's own refusal of an argument
    return {asyncpg.DataError: _bad_value, _base.DataError: _bad_value, Exception: _unexpected}


def ops_routes(checks: Mapping[str, ReadinessCheck]) -> list[Route]:
    """`/healthz` says the process runs; `/readyz` runs each dependency check (Kafka,
    PostgreSQL, ...) and answers 503 naming the ones that fail; `/metrics` for Prometheus."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        failed: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
            except Exception as exc:  # a readiness probe reports, it never raises
                failed[name] = type(exc).__name__
        if failed:
            return JSONResponse({"status": "unavailable", "failed": failed}, status_code=503)
        return JSONResponse({"status": "ready", "checks": sorted(checks)})

    async def metrics(_: Request) -> Response:
        body, content_type = render()
        return Response(body, media_type=content_type)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def openapi_route(package: str) -> Route:
    """`GET /openapi.json`: the service's hand-kept OpenAPI document (`<package>/openapi.json`,
    checked against the running service by schemathesis in tests/security)."""
    document = resources.files(package).joinpath("openapi.json").read_bytes()

    async def openapi(_: Request) -> Response:
        return Response(document, media_type="application/json")

    return Route("/openapi.json", openapi, methods=["GET"])


YOUNG_COLLECTION_EVERY = 10_000
"""Allocations (net of frees) between two collections of the youngest generation: Python's
default is 700. A scorer batch builds hundreds of thousands of short-lived objects (decoded
records, verdicts, standings, rows), and at 700 the collector ran through them over and over
(measured in docs/performance.md, "The garbage collector")."""


def tune_collector() -> None:
    """Garbage collection for a long-running service: the garbage of starting is collected,
    and what was built (modules, settings, the app, but not what its startup hooks open
    later) is moved out of the collector's sight (`gc.freeze`: never traversed again, freed
    only when nothing refers to it), and the youngest generation is collected every
    YOUNG_COLLECTION_EVERY allocations; the older generations keep Python's ratios."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, oldest)


def serve(app: Any, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - a server's job
    """Run the app under uvicorn; logs stay ours (JSON), access logs off; with
    MEMORY_TRACE_FILE set, allocations are traced (shared/memtrace.py); the garbage collector
    tuned for a long-running service (`tune_collector`)."""
    start_from_env()
    tune_collector()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")


class BodyTooLargeError(Exception):
    pass


async def read_limited(request: Request, limit: int) -> bytes:
    """Read the body, refusing as soon as it passes the limit (never buffering more)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)
