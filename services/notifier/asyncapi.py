"""The notifier's Kafka contract (`GET /asyncapi.json`, docs/asyncapi/notifier.json): its
subscriber as the app declares it, and its dead-letter topic."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from starlette.routing import Route

from shared.asyncapi import asyncapi_route, declare_dead_letters
from shared.settings import Topics

DESCRIPTION = (
    "The notifier reads breach events (group NOTIFIER_GROUP_ID, offsets kept in PostgreSQL "
    "with the alerts they produced) and routes them to people; a record it cannot take goes "
    "to the dead-letter topic."
)


def notifier_asyncapi(broker: KafkaBroker, topics: Topics) -> Route:
    """Declare the dead-letter topic and serve the broker's document."""
    declare_dead_letters(broker, "notifier", [topics.breaches])
    return asyncapi_route("notifier", DESCRIPTION, broker)
