"""The review loop's JSON API (docs/contract.md): cases, their decisions and export, targets.
Guarded as every scorer route (SECURITY.md); each change is audited in its transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.scorer.review import overrides, targets
from services.scorer.review.cases import STATUSES, CaseError, Cases
from services.scorer.review.targets import TargetError
from services.scorer.scoring import Scorer
from shared.auth import Action, Identity, audit
from shared.auth.http import REFUSED, Authenticator, identity_of, request_id
from shared.calendar import parse_period
from shared.http import BodyTooLargeError, JSONResponse, error, read_limited
from shared.schemas import TargetRecord

MAX_CASES = 1000
MAX_BODY = 1024 * 1024
FILTERS = ("branch_id", "team_id", "signal", "status", "period", "employee_id")


class Review:
    """What the routes and the console share: the pool, the cases, the target sender."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        cases: Cases,
        send: targets.Send,
        tz: Any,
        scorer: Scorer,
        session_hours: float = 8.0,
    ) -> None:
        self.scorer = scorer
        self.session_hours = session_hours
        self.pool = pool
        self.cases = cases
        self.send = send
        self.tz = tz

    def clock(self) -> Any:
        return self.cases.clock()

    async def decide(
        self, who: Identity, case_id: int, decision: str, reason: str, request: str | None
    ) -> dict[str, Any]:
        async with self.pool().acquire() as conn, conn.transaction():
            return await self.cases.decide(conn, who, case_id, decision, reason, request)

    async def submit_targets(
        self, who: Identity, records: list[TargetRecord], how: str, request: str | None
    ) -> dict[str, Any]:
        """Publish (acks=all) then audit the submission; the scorer audits each value it
        changes (`target.set`) when it applies them."""
        await self.send(records)
        summary = [
            {k: getattr(r, k) for k in ("scope", "scope_id", "period", "metric", "value")}
            for r in records
        ]
        async with self.pool().acquire() as conn:
            entry = audit.Entry(
                "target.submit", how, None, {"records": summary[:200], "count": len(records)}
            )
            await audit.record(conn, who, _with_request(entry, request), self.clock())
        return {"published": len(records), "targets": summary}


async def _body(request: Request) -> bytes | Response:
    """The request's body, read no further than MAX_BODY (413 past it)."""
    try:
        return await read_limited(request, MAX_BODY)
    except BodyTooLargeError:
        return error(413, f"body over {MAX_BODY} bytes")


async def _json_object(request: Request) -> dict[str, Any] | Response:
    body = await _body(request)
    if isinstance(body, Response):
        return body
    try:
        given = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return error(400, f"malformed JSON: {exc}")
    if not isinstance(given, dict):
        return error(400, "send a JSON object")
    return given


def _with_request(entry: audit.Entry, request: str | None) -> audit.Entry:
    return audit.Entry(entry.action, entry.target, entry.before, entry.after, request)


def case_filters(q: Any) -> dict[str, str | None] | Response:
    filters: dict[str, str | None] = {k: (q.get(k) or None) for k in FILTERS}
    if filters["status"] is not None and filters["status"] not in STATUSES:
        return error(400, "status must be open, confirmed or dismissed")
    if filters["period"] is not None:
        try:
            filters["period"] = parse_period(filters["period"]).key
        except ValueError as exc:
            return error(400, str(exc))
    return filters


def _int(raw: str | None, name: str, default: int | None, top: int) -> int | Response | None:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 1 <= int(raw) <= top:
        return error(400, f"{name} must be an integer 1..{top}")
    return int(raw)


def case_answer(exc: CaseError) -> Response:
    if exc.status == 403:
        REFUSED.labels("403").inc()
    return error(exc.status, str(exc))


def review_routes(review: Review, authn: Authenticator) -> list[Route]:
    async def list_cases(request: Request) -> Response:
        q = request.query_params
        filters = case_filters(q)
        if isinstance(filters, Response):
            return filters
        before = _int(q.get("before"), "before", None, 2**62)
        limit = _int(q.get("limit"), "limit", 200, MAX_CASES)
        if isinstance(before, Response):
            return before
        if isinstance(limit, Response):
            return limit
        assert limit is not None
        async with review.pool().acquire() as conn:
            rows = await review.cases.list(conn, identity_of(request), filters, before, limit)
        body: dict[str, Any] = {"cases": rows}
        if len(rows) == limit:
            body["next_before"] = rows[-1]["case_id"]
        return JSONResponse(body)

    async def one_case(request: Request) -> Response:
        case_id = _int(request.path_params["case_id"], "case id", None, 2**62)
        if not isinstance(case_id, int):
            return case_id or error(400, "case id must be an integer")
        try:
            async with review.pool().acquire() as conn:
                return JSONResponse(await review.cases.get(conn, identity_of(request), case_id))
        except CaseError as exc:
            return case_answer(exc)

    async def decide(request: Request) -> Response:
        case_id = _int(request.path_params["case_id"], "case id", None, 2**62)
        if not isinstance(case_id, int):
            return case_id or error(400, "case id must be an integer")
        try:
            body = await read_limited(request, MAX_BODY)
            given = orjson.loads(body)
        except (BodyTooLargeError, orjson.JSONDecodeError):
            given = None
        if not isinstance(given, dict):
            return error(400, 'send a JSON object {"decision": "confirm"|"dismiss", "reason": …}')
        decision, reason = given.get("decision"), given.get("reason")
        if not isinstance(decision, str) or not isinstance(reason, str):
            return error(400, "decision and reason must be strings")
        try:
            result = await review.decide(
                identity_of(request), case_id, decision, reason, request_id(request)
            )
        except CaseError as exc:
            return case_answer(exc)
        return JSONResponse(result)

    async def export(request: Request) -> Response:
        period = request.query_params.get("period") or None
        if period is not None:
            try:
                period = parse_period(period).key
            except ValueError as exc:
                return error(400, str(exc))
        async with review.pool().acquire() as conn:
            text = await review.cases.export_csv(conn, period)
        name = f"confirmed-cases-{period or 'all'}.csv"
        return Response(
            "\ufeff" + text,  # a BOM: spreadsheets then read the Chinese names right
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    async def read_targets(request: Request) -> Response:
        q = request.query_params
        raw = q.get("period")
        scope = q.get("scope") or None
        if scope is not None and scope not in targets.SCOPES:
            return error(400, "scope must be employee, team, branch or role")
        period = None
        if raw:
            try:
                period = parse_period(raw)
            except ValueError as exc:
                return error(400, str(exc))
        async with review.pool().acquire() as conn:
            body: dict[str, Any] = {
                "targets": await targets.stored(conn, period.key if period else None, scope)
            }
            if period is not None:
                body["period"] = period.key
                body["effective"] = await targets.effective(conn, period, review.tz)
        return JSONResponse(body)

    async def put_targets(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        try:
            given = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return error(400, f"malformed JSON: {exc}")
        items = given if isinstance(given, list) else [given]
        who = identity_of(request)
        try:
            records = targets.records_from_items(items, who, review.clock())
        except TargetError as exc:
            return JSONResponse({"errors": exc.errors}, status_code=422)
        result = await review.submit_targets(who, records, "api", request_id(request))
        return JSONResponse(result, status_code=202)

    async def import_targets(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return error(400, "the CSV must be UTF-8")
        who = identity_of(request)
        try:
            records = targets.parse_csv(text, who, review.clock())
        except TargetError as exc:
            return JSONResponse({"errors": exc.errors}, status_code=422)
        result = await review.submit_targets(who, records, "csv", request_id(request))
        return JSONResponse(result, status_code=202)

    async def verdict(request: Request) -> Response:
        given = await _json_object(request)
        if isinstance(given, Response):
            return given
        try:
            async with review.pool().acquire() as conn, conn.transaction():
                result = await overrides.set_verdict(
                    conn,
                    review.scorer,
                    identity_of(request),
                    request.path_params["employee_id"],
                    request.path_params["external_userid"],
                    given,
                    request_id(request),
                )
        except overrides.OverrideError as exc:
            return error(exc.status, str(exc))
        return JSONResponse(result)

    async def read_campaigns(request: Request) -> Response:
        async with review.pool().acquire() as conn:
            found = await overrides.campaigns(conn, request.query_params.get("team_id") or None)
        return JSONResponse({"campaigns": found})

    async def add_campaign(request: Request) -> Response:
        given = await _json_object(request)
        if isinstance(given, Response):
            return given
        try:
            campaign = overrides.campaign_of(given)
            async with review.pool().acquire() as conn, conn.transaction():
                body = await overrides.add_campaign(
                    conn, review.scorer, identity_of(request), campaign, request_id(request)
                )
        except overrides.OverrideError as exc:
            return error(exc.status, str(exc))
        return JSONResponse(body, status_code=201)

    guard = authn.guard
    return [
        Route(
            "/v1/employees/{employee_id}/contacts/{external_userid}/verdict",
            guard(Action.SET_VERDICT, verdict),
            methods=["PUT"],
        ),
        Route("/v1/campaigns", guard(Action.READ_CAMPAIGNS, read_campaigns), methods=["GET"]),
        Route("/v1/campaigns", guard(Action.MANAGE_CAMPAIGNS, add_campaign), methods=["POST"]),
        Route("/v1/cases", guard(Action.READ_CASES, list_cases), methods=["GET"]),
        Route("/v1/cases/export.csv", guard(Action.EXPORT_CASES, export), methods=["GET"]),
        Route("/v1/cases/{case_id}", guard(Action.READ_CASES, one_case), methods=["GET"]),
        Route("/v1/cases/{case_id}/decision", guard(Action.DECIDE_CASE, decide), methods=["POST"]),
        Route("/v1/targets", guard(Action.READ_TARGETS, read_targets), methods=["GET"]),
        Route("/v1/targets", guard(Action.SET_TARGETS, put_targets), methods=["PUT"]),
        Route("/v1/targets/import", guard(Action.SET_TARGETS, import_targets), methods=["POST"]),
    ]
