"""The notifier's API (docs/contract.md): alerts, their acknowledgement (by API and by a signed
link), and silences. Guarded (SECURITY.md): a supervisor sees and acknowledges the alerts routed
to them (their own team's, and the escalations sent to them); every change is audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from services.notifier.domain.acklink import AckLinkError, AckLinks
from services.notifier.domain.silences import SilenceRequest
from shared.auth import Action, Identity, Role, audit
from shared.auth.http import Authenticator, identity_of, out_of_scope, request_id
from shared.clock import Clock
from shared.http import JSONResponse, error

# The alerts routed to a person: they supervise its employee, or a notice (an escalation
# included) was addressed to them. $n is the person, NULL for unscoped callers.
ROUTED_TO = """({n}::text IS NULL OR a.supervisor_id = {n} OR EXISTS (
    SELECT 1 FROM notice_outbox r WHERE r.alert_id = a.alert_id AND r.recipient = {n}))"""

ALERTS_SQL_TEMPLATE = """
SELECT a.alert_id, a.alertname, a.status, a.employee_id, a.period, a.supervisor_id, a.team_id,
       a.branch_id, a.summary, a.details, a.starts_at, a.received_at, a.acknowledged_at,
       a.acknowledged_by, a.resolved_at, a.escalation_level,
       coalesce(json_agg(json_build_object(
           'channel', n.channel, 'state', n.state, 'attempts', n.attempts,
           'recipient', CASE WHEN n.channel = 'webhook' THEN NULL ELSE n.recipient END,
           'level', n.level, 'sent_at', n.sent_at, 'last_error', n.last_error)
           ORDER BY n.notice_id)
         FILTER (WHERE n.notice_id IS NOT NULL), '[]') AS notices
  FROM alert a LEFT JOIN notice_outbox n USING (alert_id)
 WHERE ($1::text IS NULL OR a.status = $1)
   AND ($2::text IS NULL OR a.supervisor_id = $2)
   AND {routed}
 GROUP BY a.alert_id
 ORDER BY a.alert_id DESC
 LIMIT $3
"""
ALERTS_SQL = ALERTS_SQL_TEMPLATE.replace("{routed}", ROUTED_TO.format(n="$4"))
ALERT_SCOPE_SQL = """
SELECT a.alert_id, a.acknowledged_at, a.acknowledged_by, {routed} AS routed
  FROM alert a WHERE a.alert_id = $1 FOR UPDATE""".replace("{routed}", ROUTED_TO.format(n="$2"))
ACK_SQL = """
UPDATE alert SET acknowledged_at = coalesce(acknowledged_at, $3),
                 acknowledged_by = coalesce(acknowledged_by, $2)
 WHERE alert_id = $1
RETURNING alert_id, acknowledged_at, acknowledged_by
"""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _person(caller: Identity) -> str | None:
    """Whose alerts a caller sees: a scoped caller's own, everyone's for admin and risk."""
    return (caller.employee_id or caller.name) if caller.scoped else None


def alert_routes(
    pool: Callable[[], asyncpg.Pool],
    clock: Clock,
    authn: Authenticator,
    ack_links: AckLinks | None = None,
) -> list[Route]:
    async def list_alerts(request: Request) -> Response:
        q = request.query_params
        person = _person(identity_of(request))
        status = q.get("status")
        if status not in (None, "firing", "resolved", "acknowledged"):
            return error(400, "status must be firing, resolved or acknowledged")
        rows = await pool().fetch(
            ALERTS_SQL,
            None if status == "acknowledged" else status,
            q.get("supervisor_id"),
            1000,
            person,
        )
        alerts = [
            {
                **dict(r),
                **{
                    k: _iso(r[k])
                    for k in ("starts_at", "received_at", "acknowledged_at", "resolved_at")
                },
            }
            for r in rows
            if status != "acknowledged" or r["acknowledged_at"] is not None
        ]
        return JSONResponse({"alerts": alerts})

    async def acknowledge(
        alert_id: int, caller: Identity, req_id: str | None, person: str | None
    ) -> asyncpg.Record | Response:
        """Acknowledged as the authenticated caller (the free-text `by` of a body is not
        trusted), in one transaction with its audit row; `person`: whom the alert must be
        routed to (None: anyone's)."""
        now = clock()
        async with pool().acquire() as conn, conn.transaction():
            found = await conn.fetchrow(ALERT_SCOPE_SQL, alert_id, person)
            if found is None:
                return error(404, "no such alert")
            if not found["routed"]:
                return out_of_scope(f"alert {alert_id}")
            row = await conn.fetchrow(ACK_SQL, alert_id, caller.label, now)
            assert row is not None
            before = {"acknowledged_at": _iso(found["acknowledged_at"])}
            before["acknowledged_by"] = found["acknowledged_by"]
            after = {"acknowledged_at": _iso(row["acknowledged_at"])}
            after["acknowledged_by"] = row["acknowledged_by"]
            entry = audit.Entry("alert.ack", str(alert_id), before, after, req_id)
            await audit.record(conn, caller, entry, now)
            return row

    async def ack(request: Request) -> Response:
        raw = request.path_params["alert_id"]
        if not (raw.isascii() and raw.isdigit()):  # "²".isdigit(), but int("²") fails
            return error(404, "no such alert")
        body = await request.body()
        if body:
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError:
                return error(400, "malformed JSON")
        caller = identity_of(request)
        row = await acknowledge(int(raw), caller, request_id(request), _person(caller))
        if isinstance(row, Response):
            return row
        return JSONResponse(
            {
                "alert_id": row["alert_id"],
                "acknowledged_at": row["acknowledged_at"].isoformat(),
                "acknowledged_by": row["acknowledged_by"],
            }
        )

    async def ack_link(request: Request) -> Response:
        if ack_links is None:
            return error(503, "acknowledgement links are off: NOTIFIER_ACK_SECRET is not set")
        try:
            link = ack_links.verify(request.query_params.get("token", ""), clock())
        except AckLinkError as exc:
            return error(403, str(exc))
        alert_id = link.alert_id
        # the signature names the alert and the recipient it was sent to: recorded as theirs
        who = Identity(f"ack-link:{link.recipient}", Role.SUPERVISOR, link.recipient, via="link")
        row = await acknowledge(alert_id, who, request_id(request), None)
        if isinstance(row, Response):
            return row
        return HTMLResponse(
            f"<html><body><p>已确认 Acknowledged alert {alert_id} at "
            f"{row['acknowledged_at'].isoformat()}.</p></body></html>"
        )

    return [
        Route("/v1/alerts", authn.guard(Action.READ_ALERTS, list_alerts), methods=["GET"]),
        Route("/v1/alerts/{alert_id}/ack", authn.guard(Action.ACK_ALERT, ack), methods=["POST"]),
        Route("/v1/ack", ack_link, methods=["GET"]),  # public: the signed link authenticates
    ]


def _silence(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    """A silence as the API shows it, in its state at `now`."""
    if row["expired_at"] is not None or row["ends_at"] <= now:
        state = "expired"
    elif row["starts_at"] > now:
        state = "pending"
    else:
        state = "active"
    return {
        "id": row["silence_id"],
        "matchers": row["matchers"],
        "startsAt": row["starts_at"].isoformat(),
        "endsAt": row["ends_at"].isoformat(),
        "createdBy": row["created_by"],
        "comment": row["comment"],
        "status": {"state": state},
    }


def silence_routes(
    pool: Callable[[], asyncpg.Pool], clock: Clock, authn: Authenticator
) -> list[Route]:
    async def create(request: Request) -> Response:
        caller = identity_of(request)
        try:
            body = SilenceRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            ]
            return error(422, "invalid silence", problems=problems)
        now = clock()
        async with pool().acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """INSERT INTO silence (matchers, starts_at, ends_at, created_by, comment)
                   VALUES ($1, $2, $3, $4, $5) RETURNING *""",
                [m.model_dump(by_alias=True) for m in body.matchers],
                body.starts_at,
                body.ends_at,
                caller.label,  # who is authenticated, not the body's createdBy
                body.comment,
            )
            assert row is not None
            shown = _silence(row, now)
            entry = audit.Entry(
                "silence.create", str(row["silence_id"]), None, shown, request_id(request)
            )
            await audit.record(conn, caller, entry, now)
        return JSONResponse({"silenceID": row["silence_id"], **shown}, status_code=201)

    async def list_silences(_: Request) -> Response:
        rows = await pool().fetch("SELECT * FROM silence ORDER BY silence_id DESC LIMIT 1000")
        now = clock()
        return JSONResponse({"silences": [_silence(r, now) for r in rows]})

    async def expire(request: Request) -> Response:
        raw = request.path_params["silence_id"]
        if not (raw.isascii() and raw.isdigit()):  # "²".isdigit(), but int("²") fails
            return error(404, "no such silence")
        now = clock()
        async with pool().acquire() as conn, conn.transaction():
            old = await conn.fetchrow(
                "SELECT * FROM silence WHERE silence_id = $1 FOR UPDATE", int(raw)
            )
            if old is None:
                return error(404, "no such silence")
            row = await conn.fetchrow(
                "UPDATE silence SET expired_at = coalesce(expired_at, $2) WHERE silence_id = $1 "
                "RETURNING *",
                int(raw),
                now,
            )
            assert row is not None
            entry = audit.Entry(
                "silence.expire", raw, _silence(old, now), _silence(row, now), request_id(request)
            )
            await audit.record(conn, identity_of(request), entry, now)
        return JSONResponse(_silence(row, now))

    return [
        Route("/v1/silences", authn.guard(Action.MANAGE_SILENCES, create), methods=["POST"]),
        Route("/v1/silences", authn.guard(Action.READ_SILENCES, list_silences), methods=["GET"]),
        Route(
            "/v1/silences/{silence_id}",
            authn.guard(Action.MANAGE_SILENCES, expire),
            methods=["DELETE"],
        ),
    ]
