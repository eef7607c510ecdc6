"""The scorer's read API (CONTRACT.md): scores, an employee's contacts, closing a period."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.scorer import repository
from services.scorer.scores import score_row
from shared.calendar import BusinessCalendar, Period, parse_period
from shared.http import JSONResponse, error

MAX_PAGE = 100_000
Closer = Callable[[Period, str], Awaitable[dict[str, Any]]]


def _period(request: Request, value: str | None) -> Period | Response:
    if not value:
        return error(
            400, "period is required, e.g. ?period=2026-10 (or 2026-10-15, 2026-W42, 2026-Q4)"
        )
    try:
        return parse_period(value)
    except ValueError as exc:
        return error(400, str(exc))


def score_routes(
    pool: Callable[[], asyncpg.Pool], calendar: BusinessCalendar, close: Closer
) -> list[Route]:
    async def scores(request: Request) -> Response:
        period = _period(request, request.query_params.get("period"))
        if isinstance(period, Response):
            return period
        q = request.query_params
        try:
            limit = min(int(q.get("limit", MAX_PAGE)), MAX_PAGE)
        except ValueError:
            return error(400, "limit must be an integer")
        if limit < 1:
            return error(400, "limit must be at least 1")
        now = datetime.now(UTC)
        rows = await repository.fetch_period_rows(
            pool(), period.key, q.get("branch_id"), q.get("team_id"), q.get("after"), limit
        )
        closed = await repository.is_closed(pool(), period.key)
        employees = [score_row(r, period, calendar, now, closed) for r in rows]
        body: dict[str, Any] = {
            "period": period.key,
            "as_of": now.isoformat(),
            "closed": closed,
            "employees": employees,
        }
        if len(rows) == limit:
            body["next_after"] = rows[-1]["employee_id"]
        return JSONResponse(body)

    async def contacts(request: Request) -> Response:
        period = _period(request, request.query_params.get("period"))
        if isinstance(period, Response):
            return period
        employee_id = request.path_params["employee_id"]
        rows = await pool().fetch(
            """SELECT external_userid, min(occurred_at) AS added_at
                 FROM contact_event
                WHERE employee_id = $1 AND change_type IN
                      ('add_external_contact', 'add_half_external_contact')
                  AND occurred_at >= $2 AND occurred_at < $3
                GROUP BY external_userid ORDER BY added_at""",
            employee_id,
            period.start_at(calendar.tz),
            period.end_at(calendar.tz),
        )
        return JSONResponse(
            [
                {
                    "external_userid": r["external_userid"],
                    "added_at": r["added_at"].isoformat(),
                    "status": "valid",
                    "flags": [],
                }
                for r in rows
            ]
        )

    async def close_period(request: Request) -> Response:
        period = _period(request, request.path_params["period"])
        if isinstance(period, Response):
            return period
        return JSONResponse(await close(period, "api"))

    return [
        Route("/v1/scores", scores, methods=["GET"]),
        Route("/v1/employees/{employee_id}/contacts", contacts, methods=["GET"]),
        Route("/v1/periods/{period}/close", close_period, methods=["POST"]),
    ]
