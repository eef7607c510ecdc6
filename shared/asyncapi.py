"""The Kafka side of each service as an AsyncAPI 3.0 document, built by FastStream from the
service's brokers: the real subscribers (with the record schemas of shared.schemas) and the
publishers each service declares, including what it sends with aiokafka directly and the
dead-letter topics (`<topic>.dlq`).

Each service serves its document at `GET /asyncapi.json` (for its configured topics and
brokers); `python -m tools.asyncapi` writes the documents of the default configuration to
docs/asyncapi/, where they are checked in (tests/unit/test_asyncapi.py fails when they drift)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from faststream.kafka import KafkaBroker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.schemas import SCHEMA_VERSION, DeadLetterRecord
from shared.settings import Topics

ASYNCAPI_PATH = "/asyncapi.json"


def document(service: str, description: str, *brokers: KafkaBroker) -> dict[str, Any]:
    """The AsyncAPI document of the brokers' subscribers and publishers."""
    from faststream.specification import AsyncAPI

    spec = AsyncAPI(
        *brokers,
        title=service,
        version=str(SCHEMA_VERSION),
        description=description,
        schema_version="3.0.0",
    )
    found: dict[str, Any] = spec.to_specification().to_jsonable()
    return found


def asyncapi_route(service: str, description: str, *brokers: KafkaBroker) -> Route:
    """`GET /asyncapi.json`: the document, built at the first request (once every subscriber
    and publisher is declared) and kept."""
    built: list[bytes] = []

    async def asyncapi(_: Request) -> Response:
        if not built:
            body = document(service, description, *brokers)
            built.append(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return Response(built[0], media_type="application/json")

    return Route(ASYNCAPI_PATH, asyncapi, methods=["GET"])


def declare_dead_letters(broker: KafkaBroker, consumer: str, topics: Iterable[str]) -> None:
    """The dead-letter topic of each consumed topic, as a publisher of `broker`."""
    for topic in topics:
        broker.publisher(
            Topics.dlq(topic),
            schema=DeadLetterRecord,
            title=f"{Topics.dlq(topic)}:{consumer}",
            description=f"Records of `{topic}` the {consumer} could not apply, with the error; "
            "keyed like the record. `python -m shared.dead_letters replay` sends them back.",
        )
