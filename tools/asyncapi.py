"""`python -m tools.asyncapi [--check]`: write each service's AsyncAPI document, as the service
serves it at `GET /asyncapi.json` with the default settings, to docs/asyncapi/<service>.json;
with --check write nothing and exit 1 naming the documents that differ.

The environment is set aside while the apps are built, so the documents name the settings'
default topics and brokers whatever the shell exports. Nothing connects to Kafka or
PostgreSQL: the apps are built, not started."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from starlette.applications import Starlette

from shared.asyncapi import ASYNCAPI_PATH
from tools.generated import arguments, write_or_check

OUT = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"


def _ingestor() -> Starlette:
    from services.ingestor.app import create_app
    from services.ingestor.settings import IngestorSettings

    return create_app(IngestorSettings())


def _scorer() -> Starlette:
    from services.scorer.app import create_app
    from services.scorer.settings import ScorerSettings

    return create_app(ScorerSettings())


def _notifier() -> Starlette:
    from services.notifier.app import create_app
    from services.notifier.settings import NotifierSettings

    return create_app(NotifierSettings())


SERVICES: dict[str, Callable[[], Starlette]] = {
    "ingestor": _ingestor,
    "scorer": _scorer,
    "notifier": _notifier,
}


@contextlib.contextmanager
def defaults_only() -> Iterator[None]:
    """No environment while the settings are read (restored after)."""
    saved = dict(os.environ)
    os.environ.clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def served(app: Starlette) -> str:
    """The app's `GET /asyncapi.json`, without its lifespan (nothing is started)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get(ASYNCAPI_PATH)
    response.raise_for_status()
    return response.text + "\n"


def generated() -> dict[str, str]:
    """`<service>.json` → the document, for the default settings."""
    with defaults_only():
        apps = {service: build() for service, build in SERVICES.items()}
    return {f"{service}.json": asyncio.run(served(app)) for service, app in apps.items()}


def main() -> int:
    args = arguments(__doc__, "python -m tools.asyncapi", OUT)
    return write_or_check(generated(), args.out, args.check, "python -m tools.asyncapi")


if __name__ == "__main__":
    raise SystemExit(main())
