"""`GET /v1/audit` (admin and risk): the audit log, newest first, key-set paginated."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.auth import audit
from shared.auth.http import Authenticator
from shared.auth.roles import Action
from shared.http import JSONResponse, error

MAX_AUDIT_PAGE = 1000


def _digits(raw: str) -> bool:
    """ASCII digits only: `"²".isdigit()` holds, but `int("²")` fails."""
    return raw.isascii() and raw.isdigit()


def audit_routes(pool: Callable[[], asyncpg.Pool], authn: Authenticator) -> list[Route]:
    async def read_audit(request: Request) -> Response:
        q = request.query_params
        before = q.get("before")
        limit = q.get("limit", str(MAX_AUDIT_PAGE))
        if (before is not None and not _digits(before)) or not _digits(limit):
            return error(400, "before and limit must be positive integers")
        size = int(limit)
        if not 1 <= size <= MAX_AUDIT_PAGE:
            return error(400, f"limit must be 1..{MAX_AUDIT_PAGE}")
        rows = await audit.read(pool(), int(before) if before else None, q.get("action"), size)
        body: dict[str, object] = {"entries": rows}
        if len(rows) == size:
            body["next_before"] = rows[-1]["audit_id"]
        return JSONResponse(body)

    return [Route("/v1/audit", authn.guard(Action.READ_AUDIT, read_audit), methods=["GET"])]
