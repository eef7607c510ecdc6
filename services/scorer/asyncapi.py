"""The scorer's Kafka contract (`GET /asyncapi.json`, docs/asyncapi/scorer.json): its
subscriber as the app declares it, and what its publish-only producer sends."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from starlette.routing import Route

from shared.asyncapi import asyncapi_route, declare_dead_letters
from shared.schemas import BreachEvent, TargetRecord
from shared.settings import Topics

DESCRIPTION = (
    "The scorer reads contact events and the bank's records (group SCORER_GROUP_ID, offsets "
    "kept in PostgreSQL with the state they produced), and publishes breach events for the "
    "notifier, and the targets an admin sets through its API; a record it cannot apply goes to "
    "the dead-letter topic of its topic."
)


def scorer_asyncapi(consumer: KafkaBroker, publisher: KafkaBroker, topics: Topics) -> Route:
    """Declare the publisher's topics and serve the document of both brokers."""
    publisher.publisher(
        topics.breaches,
        schema=BreachEvent,
        title=f"{topics.breaches}:scorer",
        description="Breach events (TargetMissed, PaceBehind, AnomalyFlagged, DataStale, "
        "CloseHeld), firing or resolved; keyed by employee_id (`-` for none). The id is the "
        "same for a re-close or a replay, so the notifier sends one notice.",
    )
    publisher.publisher(
        topics.bank_records,
        schema=TargetRecord,
        title=f"{topics.bank_records}:scorer-targets",
        description="Targets set by an admin through `PUT /v1/targets`, the CSV import or the "
        "review console (docs/console.md): `target` records exactly as the ingestor's "
        "`/v1/events` sends them (key `target:<scope>:<id>`, `submitted_by` the caller), which "
        "the scorer then consumes like any other.",
    )
    declare_dead_letters(publisher, "scorer", [topics.contact_events, topics.bank_records])
    return asyncapi_route("scorer", DESCRIPTION, consumer, publisher)
