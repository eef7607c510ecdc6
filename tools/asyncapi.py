"""`python -m tools.asyncapi [--check]`: write each service's AsyncAPI document, as the service
serves it at `GET /asyncapi.json` with the default settings, to docs/asyncapi/<service>.json;
with --check write nothing and exit 1 naming the documents that differ.

The environment is set aside while the apps are built, so the documents name the settings'
default topics and brokers whatever the shell exports. Nothing connects to Kafka or
PostgreSQL: the apps are built, not started."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from starlette.applications import Starlette

from shared.asyncapi import ASYNCAPI_PATH

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
    parser = argparse.ArgumentParser(prog="python -m tools.asyncapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    stale = []
    for name, text in generated().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("differ from the code (run `python -m tools.asyncapi`):", *stale, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
