"""Generic webhook in Alertmanager's v4 format, with the digest's idempotency key as the
`Idempotency-Key` header (the same on a re-send after a crash), and a log-only channel."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from services.notifier.channels.base import PermanentFailure, Target
from services.notifier.channels.poster import Poster
from services.notifier.domain.daily import DailyContent, plain_text
from services.notifier.domain.digest import Digest, alertmanager_body, email_plain
from shared.db import Connection

log = logging.getLogger(__name__)


def webhook_id(url: str) -> str:
    """A webhook's name in errors, logs and ops notices: a hash, because its URL may carry a
    secret (a token in its path or query)."""
    return "webhook:" + hashlib.sha256(url.encode()).hexdigest()[:16]


class WebhookChannel:
    def __init__(self, poster: Poster, external_url: str) -> None:
        self._poster = poster
        self._external_url = external_url

    def render(self, digest: Digest) -> Sequence[Any]:
        return [alertmanager_body(digest, "webhook", self._external_url)]

    def render_daily(self, content: DailyContent) -> Sequence[Any]:
        raise PermanentFailure("the webhook channel carries alerts, not the daily digest")

    def render_ops(self, text: str) -> Sequence[Any]:
        raise PermanentFailure("the webhook channel carries alerts, not ops notices")

    async def send(self, conn: Connection, target: Target, part: Any) -> None:
        try:
            # replayable: the receiver can drop a duplicate by its Idempotency-Key
            response = await self._poster.post(
                target.destination,
                json=part,
                headers={"Idempotency-Key": target.idempotency_key},
                replayable=True,
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            # never the URL in an error (httpx's name it): it is kept and shown to operators
            status = getattr(getattr(exc, "response", None), "status_code", "")
            name = webhook_id(target.destination)
            raise RuntimeError(f"{name}: {type(exc).__name__} {status}".strip()) from None


class LogChannel:
    """Without any configured channel a notice is still recorded, visible, and logged."""

    def render(self, digest: Digest) -> Sequence[Any]:
        return [email_plain(digest)]

    def render_daily(self, content: DailyContent) -> Sequence[Any]:
        return [plain_text(content)]

    def render_ops(self, text: str) -> Sequence[Any]:
        return [f"notifier ops: {text}"]

    async def send(self, conn: Connection, target: Target, part: Any) -> None:
        log.info("alert digest", extra={"recipient": target.recipient, "digest": part})
