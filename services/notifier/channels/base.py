"""What a channel adapter does and how it says what went wrong.

Renders a digest (or a daily digest) into the parts the channel needs (pure, in the domain)
and sends one part. Its exceptions tell the delivery loop what to do next: wait (rate
limited), stop using the destination (invalid key), give up now (permanent), or retry with
backoff (anything else)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.notifier.domain.daily import DailyContent
from services.notifier.domain.digest import Digest
from shared.db import Connection


@dataclass(frozen=True)
class Target:
    """Where a digest goes and under which key (the same key on every re-send)."""

    digest_id: int
    channel: str
    recipient: str
    destination: str
    idempotency_key: str


class RateLimited(Exception):  # noqa: N818 - an outcome, not an error
    def __init__(self, retry_at: datetime, detail: str) -> None:
        super().__init__(detail)
        self.retry_at = retry_at


class DestinationInvalid(Exception):  # noqa: N818 - an outcome, not an error
    """The destination itself is broken (WeCom 93000): disable it and tell ops."""

    def __init__(self, disabled_key: str, detail: str) -> None:
        super().__init__(detail)
        self.disabled_key = disabled_key


class PermanentFailure(Exception):  # noqa: N818 - an outcome, not an error
    """Retrying cannot help (no address, no robot for the team): dead letter now."""


class ChannelAdapter(Protocol):
    def render(self, digest: Digest) -> Sequence[Any]: ...

    def render_daily(self, content: DailyContent) -> Sequence[Any]: ...

    def render_ops(self, text: str) -> Sequence[Any]: ...

    async def send(self, conn: Connection, target: Target, part: Any) -> None: ...
