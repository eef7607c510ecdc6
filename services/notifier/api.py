"""The notifier's API (CONTRACT.md): alerts and their acknowledgement."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.http import JSONResponse, error

ALERTS_SQL = """
SELECT a.alert_id, a.alertname, a.status, a.employee_id, a.period, a.supervisor_id, a.team_id,
       a.branch_id, a.summary, a.details, a.starts_at, a.received_at, a.acknowledged_at,
       coalesce(json_agg(json_build_object(
           'channel', n.channel, 'state', n.state, 'attempts', n.attempts,
           'sent_at', n.sent_at, 'last_error', n.last_error) ORDER BY n.notice_id)
         FILTER (WHERE n.notice_id IS NOT NULL), '[]') AS notices
  FROM alert a LEFT JOIN notice_outbox n USING (alert_id)
 WHERE ($1::text IS NULL OR a.status = $1)
   AND ($2::text IS NULL OR a.supervisor_id = $2)
 GROUP BY a.alert_id
 ORDER BY a.alert_id DESC
 LIMIT $3
"""


def alert_routes(pool: Callable[[], asyncpg.Pool]) -> list[Route]:
    async def list_alerts(request: Request) -> Response:
        q = request.query_params
        status = q.get("status")
        if status not in (None, "firing", "resolved", "acknowledged"):
            return error(400, "status must be firing, resolved or acknowledged")
        rows = await pool().fetch(
            ALERTS_SQL, None if status == "acknowledged" else status, q.get("supervisor_id"), 1000
        )
        alerts = [
            {
                **dict(r),
                "starts_at": r["starts_at"].isoformat(),
                "received_at": r["received_at"].isoformat(),
                "acknowledged_at": r["acknowledged_at"].isoformat()
                if r["acknowledged_at"]
                else None,
            }
            for r in rows
            if status != "acknowledged" or r["acknowledged_at"] is not None
        ]
        return JSONResponse({"alerts": alerts})

    async def ack(request: Request) -> Response:
        raw = request.path_params["alert_id"]
        if not raw.isdigit():
            return error(404, "no such alert")
        row = await pool().fetchrow(
            """UPDATE alert SET acknowledged_at = coalesce(acknowledged_at, now())
                WHERE alert_id = $1 RETURNING alert_id, acknowledged_at""",
            int(raw),
        )
        if row is None:
            return error(404, "no such alert")
        return JSONResponse(
            {"alert_id": row["alert_id"], "acknowledged_at": row["acknowledged_at"].isoformat()}
        )

    return [
        Route("/v1/alerts", list_alerts, methods=["GET"]),
        Route("/v1/alerts/{alert_id}/ack", ack, methods=["POST"]),
    ]
