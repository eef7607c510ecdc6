"""`GET`/`POST /wecom/callback`: WeCom's callback protocol (docs/wecom.md section 2,
docs/contract.md).

Order matters and is the protocol's: the body is read with a cap (413), the outer envelope is
parsed safely (400), the signature is checked before anything is decrypted or trusted (403),
then the query `timestamp` must be inside the replay window (403; CreateTime is never judged,
history may be old), then decryption with the CorpID check (403 on another corp's message).
Only a record Kafka acknowledged or the spool fsynced is answered 200; 503 makes WeCom retry."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from services.ingestor.delivery.durable import DurablePublisher
from services.ingestor.delivery.spool import SpoolError
from services.ingestor.lookups.pacing import CallbackLoad
from services.ingestor.metrics import CALLBACKS, CRYPTO_FAILURES
from services.ingestor.retries import RetryFilter
from services.ingestor.settings import IngestorSettings
from services.ingestor.wecom import (
    CallbackCrypto,
    ErrorCode,
    WeComCryptoError,
    WeComError,
    dedup_key,
    normalize,
    parse_envelope,
    parse_event,
)
from services.ingestor.wecom.records import callback_records
from shared.clock import Clock
from shared.http import BodyTooLargeError, error

log = logging.getLogger(__name__)
NOT_CONFIGURED = (
    "WeCom callback not configured: set WECOM_CORP_ID, WECOM_CALLBACK_TOKEN and "
    "WECOM_CALLBACK_AES_KEY"
)
_FORBIDDEN = {ErrorCode.SIGNATURE, ErrorCode.CORP_ID_MISMATCH}


class StaleRequestError(WeComError):
    """The query timestamp is outside the replay window (a captured request replayed)."""


def check_replay_window(timestamp: str, now: float, window: int) -> None:
    """Pure: `timestamp` must be unix seconds within `window` of now, either side."""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise WeComError(ErrorCode.PARSE_XML, "timestamp must be unix seconds")
    if abs(now - int(timestamp)) > window:
        raise StaleRequestError(ErrorCode.SIGNATURE, "timestamp outside the replay window")


def status_of(exc: WeComError) -> tuple[int, str]:
    """HTTP status and metric outcome for a refused callback."""
    if isinstance(exc, StaleRequestError):
        return 403, "stale"
    if exc.code == ErrorCode.SIGNATURE:
        return 403, "bad_signature"
    if exc.code == ErrorCode.CORP_ID_MISMATCH:
        return 403, "wrong_corp"
    return 400, "malformed"


class CallbackReceiver:
    def __init__(
        self,
        settings: IngestorSettings,
        crypto: CallbackCrypto | None,
        publisher: DurablePublisher,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._crypto = crypto
        self._publisher = publisher
        self._retries = RetryFilter()

    async def verify_url(self, request: Request) -> Response:
        """GET: answer the decrypted echostr verbatim (no quotes, BOM or newline)."""
        if self._crypto is None:
            return self._not_configured("GET")
        q = request.query_params
        try:
            self._check_time(q.get("timestamp", ""))
            echo = self._crypto.verify_url(
                q.get("msg_signature", ""),
                q.get("timestamp", ""),
                q.get("nonce", ""),
                q.get("echostr", ""),
            )
        except WeComError as exc:
            return self._refuse("GET", exc)
        CALLBACKS.labels("GET", "url_verified").inc()
        return PlainTextResponse(echo)

    async def receive(self, query: Mapping[str, str], body: bytes) -> Response:
        """POST: one encrypted event, stored durably before the 200 (the body already read
        within `wecom_callback_max_body_bytes`, see `CallbackEndpoint`)."""
        if self._crypto is None:
            return self._not_configured("POST")
        try:
            envelope = parse_envelope(body)
            timestamp = query.get("timestamp", "")
            self._crypto.verify_signature(
                query.get("msg_signature", ""), timestamp, query.get("nonce", ""), envelope.encrypt
            )
            self._check_time(timestamp)
            event = normalize(parse_event(self._crypto.decrypt(envelope.encrypt)))
        except WeComError as exc:
            return self._refuse("POST", exc)
        outgoing, change = callback_records(event, self._settings.topics)
        event_id = change.event_id if change else dedup_key(event)
        try:
            where = await self._retries.once(event_id, lambda: self._publisher.store([outgoing]))
        except SpoolError:
            log.exception("neither Kafka nor the spool could store a callback")
            CALLBACKS.labels("POST", "unavailable").inc()
            return error(503, "cannot store the event now; WeCom will retry")
        # the lookup of an add follows from the topic (lookups/feed.py), never from here
        CALLBACKS.labels("POST", "duplicate" if where is None else f"stored_{where}").inc()
        return SUCCESS

    def too_large(self) -> Response:
        CALLBACKS.labels("POST", "too_large").inc()
        return error(413, f"body over {self._settings.wecom_callback_max_body_bytes} bytes")

    def _check_time(self, timestamp: str) -> None:
        now = self._clock().timestamp()
        check_replay_window(timestamp, now, self._settings.wecom_replay_window_seconds)

    def _refuse(self, method: str, exc: WeComError) -> Response:
        status, outcome = status_of(exc)
        if isinstance(exc, WeComCryptoError):
            CRYPTO_FAILURES.labels(str(exc.code)).inc()
        CALLBACKS.labels(method, outcome).inc()
        log.warning("refused WeCom callback: %s", exc)
        return error(status, exc.detail, errcode=exc.code)

    def _not_configured(self, method: str) -> Response:
        CALLBACKS.labels(method, "not_configured").inc()
        return error(503, NOT_CONFIGURED)


SUCCESS = PlainTextResponse("success")
"""Immutable once built (Starlette's Response.__call__ only sends its body and headers), so
one instance answers every stored callback."""


class CallbackEndpoint:
    """`POST /wecom/callback` as a plain ASGI endpoint (a Starlette route still dispatches to
    it, inside the app's error handling): Starlette's Request, body stream, query parsing and
    Response per call cost the callback path ~20 % of its CPU. Same semantics: the body is read
    with the cap (refused as soon as it passes it, and up front by Content-Length), the query
    is parsed as Starlette parses it (the last of a repeated name wins), a client that
    disconnects mid-body raises Starlette's ClientDisconnect."""

    def __init__(
        self,
        receiver: Callable[[Scope], CallbackReceiver],
        limit: int,
        load: CallbackLoad | None = None,
    ) -> None:
        self._receiver = receiver
        self._limit = limit
        self._load = load or CallbackLoad(0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self._load.answering():
            await self._answer(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        receiver = self._receiver(scope)
        try:
            body = await read_capped(scope, receive, self._limit)
        except BodyTooLargeError:
            response = receiver.too_large()
        else:
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
            response = await receiver.receive(query, body)
        await response(scope, receive, send)


async def read_capped(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refusing as soon as it passes `limit` (never buffering more)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
