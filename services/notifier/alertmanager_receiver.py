"""`POST /v1/alertmanager`: Alertmanager's webhook receiver. Each group notification (webhook
format v4) becomes one ops notice, recorded and queued to the ops recipients on the ops
channels in one transaction (services/notifier/delivery.py delivers it like any other).

Alertmanager sends `Authorization: Bearer <token>` (its `http_config.authorization`, the token
read from `credentials_file`); the token is NOTIFIER_ALERTMANAGER_TOKEN, compared in constant
time. Without that setting the route refuses everyone (401, saying so): nobody posts ops
notices unauthenticated."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence

import asyncpg
from prometheus_client import Counter
from pydantic import SecretStr, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notifier.delivery import OpsAddress, queue_ops_notice
from services.notifier.domain.ops_alerts import WebhookNotification, ops_text
from shared.clock import Clock
from shared.http import JSONResponse, error

log = logging.getLogger(__name__)
RECEIVED = Counter(
    "notifier_alertmanager_notifications_total",
    "Alertmanager notifications received, by status (firing, resolved) or refusal",
    ["outcome"],
)
for _outcome in ("firing", "resolved", "unauthorized", "invalid"):
    RECEIVED.labels(_outcome)

KIND = "alertmanager"
MAX_BODY = 1_000_000


def bearer_matches(header: str, token: SecretStr) -> bool:
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


def alertmanager_routes(
    pool: Callable[[], asyncpg.Pool],
    token: SecretStr | None,
    ops: Sequence[OpsAddress],
    clock: Clock,
) -> list[Route]:
    if token is None:
        log.warning("NOTIFIER_ALERTMANAGER_TOKEN is not set: POST /v1/alertmanager refuses all")
    elif not ops:
        log.warning("no ops recipients (ops_recipients): Alertmanager's alerts are only logged")

    async def receive(request: Request) -> Response:
        if token is None:
            RECEIVED.labels("unauthorized").inc()
            return error(401, "the Alertmanager receiver is off: NOTIFIER_ALERTMANAGER_TOKEN unset")
        if not bearer_matches(request.headers.get("authorization", ""), token):
            RECEIVED.labels("unauthorized").inc()
            return error(401, "a valid bearer token is required")
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(413, "notification too large")
        try:
            notification = WebhookNotification.model_validate_json(body)
        except ValidationError as exc:
            RECEIVED.labels("invalid").inc()
            problems = [
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            ]
            return error(400, "not an Alertmanager webhook notification (v4)", problems=problems)
        text = ops_text(notification)
        async with pool().acquire() as conn, conn.transaction():
            notice_id = await queue_ops_notice(conn, ops, KIND, text, clock())
        RECEIVED.labels(notification.status).inc()
        log.warning(
            "ops notice from Alertmanager",
            extra={"ops_notice_id": notice_id, "status": notification.status, "text": text},
        )
        return JSONResponse({"ops_notice_id": notice_id, "recipients": len(ops)})

    return [Route("/v1/alertmanager", receive, methods=["POST"])]
