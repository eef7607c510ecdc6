"""POSTs to receivers (robot, webhook) over a pooled client, sent once more at once on a fresh
connection when a pooled keep-alive connection turned out to be closed by the receiver (the
rule and why it is safe: `domain/resend.py`)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from prometheus_client import Counter

from services.notifier.domain.resend import Exchange, resend_at_once

log = logging.getLogger(__name__)
RESENT = Counter(
    "notifier_stale_connection_resends_total",
    "Requests sent again at once after a pooled keep-alive connection failed",
    ["replayable"],
)
# what a connection the receiver has closed looks like when we reuse it
STALE_CONNECTION_ERRORS = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


def fresh_client(timeout: float) -> httpx.AsyncClient:
    """A client that keeps no connection alive: every request opens a new one."""
    return httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0))


class Poster:
    def __init__(self, pooled: httpx.AsyncClient, fresh: httpx.AsyncClient) -> None:
        self._pooled = pooled
        self._fresh = fresh

    async def post(
        self,
        url: str,
        *,
        json: Any,
        headers: dict[str, str] | None = None,
        replayable: bool,
    ) -> httpx.Response:
        """`replayable`: the receiver drops a duplicate of this request (an idempotency key)."""
        exchange = Exchange()

        async def trace(event: str, _: dict[str, Any]) -> None:
            exchange.observe(event)

        try:
            return await self._pooled.post(
                url, json=json, headers=headers, extensions={"trace": trace}
            )
        except STALE_CONNECTION_ERRORS as exc:
            if not resend_at_once(exchange, replayable=replayable):
                raise
            RESENT.labels(str(replayable).lower()).inc()
            # never the URL in a log: a robot's key is in it
            log.info(
                "a pooled connection was closed by the receiver; sending again on a new one",
                extra={"error": type(exc).__name__, "written": exchange.request_written},
            )
            return await self._fresh.post(url, json=json, headers=headers)
