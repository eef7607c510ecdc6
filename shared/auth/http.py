"""The HTTP side of access control: who a request's bearer credential names, and a guard
around each protected endpoint (401 without a valid credential, 403 for a role that may not
take the action). Public routes (health, metrics, the WeCom callback, signed ack links) are
simply not guarded."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response

from shared.auth import token_store
from shared.auth.roles import Action, Identity, permits
from shared.auth.sso import SsoVerifier
from shared.http import error

Endpoint = Callable[[Request], Awaitable[Response]]
REFUSED = Counter(
    "api_requests_refused_total",
    "API requests refused by access control: 401 (no valid credential), 403 (role)",
    ["status"],
)
StaticTokens = Callable[[str], Identity | None]


def bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class Authenticator:
    """Tries, in turn: an issued token (PostgreSQL), a configured static token (the ingestor's
    INGEST_API_TOKENS), an SSO JWT. Each is optional."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool] | None = None,
        sso: SsoVerifier | None = None,
        static: StaticTokens | None = None,
    ) -> None:
        self._pool = pool
        self._sso = sso
        self._static = static

    async def identify(self, request: Request) -> Identity | None:
        presented = bearer(request)
        if not presented or len(presented) > 8192:
            return None
        if self._pool is not None:
            found = await token_store.identify(self._pool(), presented)
            if found is not None:
                return found
        if self._static is not None:
            found = self._static(presented)
            if found is not None:
                return found
        if self._sso is not None and presented.count(".") == 2:
            return await self._sso.identify(presented)
        return None

    def guard(self, action: Action, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            identity = await self.identify(request)
            if identity is None:
                REFUSED.labels("401").inc()
                answer = error(401, "missing, invalid or expired bearer credential")
                answer.headers["www-authenticate"] = "Bearer"
                return answer
            if not permits(identity, action):
                REFUSED.labels("403").inc()
                return error(
                    403, f"the role {identity.role.value} may not {action.value.replace('_', ' ')}"
                )
            request.state.identity = identity
            return await endpoint(request)

        return guarded


def identity_of(request: Request) -> Identity:
    """The caller of a guarded endpoint."""
    identity: Identity = request.state.identity
    return identity


def request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given[:100] if given else uuid.uuid4().hex


def out_of_scope(what: str) -> Response:
    REFUSED.labels("403").inc()
    return error(403, f"{what} is outside the caller's scope")
