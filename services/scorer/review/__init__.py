"""The review loop (docs/console.md): anomaly flags become cases that people decide, targets
set by hand, and the console (`/console`) made for both."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.kafka import KafkaBroker
from starlette.routing import BaseRoute

from services.scorer.review.api import Review, review_routes
from services.scorer.review.cases import Cases, ReviewRules
from services.scorer.review.console import ContactsFactory, console_routes
from services.scorer.review.targets import Send
from shared.auth.http import Authenticator
from shared.kafka import publish_all
from shared.schemas import TargetRecord

__all__ = ["Cases", "Review", "ReviewRules", "routes", "target_sender"]


def target_sender(broker: KafkaBroker, topic: str) -> Send:
    """Publish target records as the ingestor's `/v1/events` does: the bank records topic,
    keyed by `target:<scope>:<id>`, the record's JSON; every acknowledgement awaited."""

    async def send(records: Sequence[TargetRecord]) -> None:
        await publish_all(broker, [(r.to_json(), topic, r.entity_key().encode()) for r in records])

    return send


def routes(
    review: Review, authn: Authenticator, contacts: ContactsFactory, secure_cookie: bool = True
) -> list[BaseRoute]:
    """The JSON API (`/v1/cases`, `/v1/targets`) and the console (`/console`)."""
    return [*review_routes(review, authn), *console_routes(review, authn, contacts, secure_cookie)]
