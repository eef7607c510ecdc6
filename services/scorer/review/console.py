"""The review console (`/console`, docs/console.md): server-rendered pages (Jinja2, autoescape)
for the case queue, a case, and targets; no JavaScript.

Sign-in takes a token (an issued one or an SSO JWT, checked by the APIs' own Authenticator) and
keeps a server-side session: the cookie holds a random id (Secure, HttpOnly, SameSite=Strict),
`console_session` only its SHA-256, never the token. Every form carries the session's CSRF token
(the sign-in form a cookie-bound one), compared in constant time. Roles and scopes are the
APIs': the same actions, the same subtree checks, the same audited decisions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from services.scorer.review import chart, overrides, targets
from services.scorer.review.api import FILTERS, Review
from services.scorer.review.cases import STATUSES, CaseError
from services.scorer.review.targets import TargetError
from shared.auth import Action, Identity, Role, permits
from shared.auth.http import REFUSED, Authenticator
from shared.auth.tokens import looks_like_token, token_hash
from shared.calendar import parse_period
from shared.http import BodyTooLargeError, read_limited

COOKIE = "wq_console"
LOGIN_COOKIE = "wq_console_login"
MAX_FORM = 1024 * 1024
ContactsFactory = Callable[[Authenticator], list[Route]]
Page = Callable[[Request, Identity], Awaitable[Response]]

SESSION_SQL = """
SELECT s.csrf, s.actor, s.role, s.employee_id, s.via FROM console_session s
 WHERE s.session_hash = $1 AND s.expires_at > $2
   AND (s.token_hash IS NULL OR EXISTS (SELECT 1 FROM api_token t
                                         WHERE t.token_hash = s.token_hash
                                           AND t.revoked_at IS NULL))"""

env = Environment(
    loader=PackageLoader("services.scorer.review", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _pretty(value: Any) -> str:
    """Evidence as readable JSON (Chinese names as they are; autoescape still applies)."""
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True, default=str)


env.filters["pretty"] = _pretty


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class _SessionAuthenticator(Authenticator):
    """Hands the APIs' own endpoints (the contacts listing) the console session's caller."""

    async def identify(self, request: Request) -> Identity | None:
        found: Identity | None = request.scope.get("state", {}).get("console_identity")
        return found


def console_routes(
    review: Review, authn: Authenticator, contacts: ContactsFactory, secure: bool = True
) -> list[Route]:
    hours = review.session_hours
    contacts_route = next(
        r for r in contacts(_SessionAuthenticator()) if r.path.endswith("/contacts")
    )

    def local(value: Any) -> str:
        """An ISO time as the business time zone's `YYYY-MM-DD HH:MM`."""
        try:
            at = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value or "")
        return at.astimezone(review.tz).strftime("%Y-%m-%d %H:%M")

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = env.get_template(name).render(
            local=local,
            who=getattr(request.state, "identity", None),
            csrf=getattr(request.state, "csrf", ""),
            **context,
        )
        answer = HTMLResponse(body, status_code=status)
        answer.headers["cache-control"] = "no-store"
        answer.headers["x-frame-options"] = "DENY"
        answer.headers["content-security-policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'"
        )
        return answer

    def refused(request: Request, message: str, status: int = 403) -> HTMLResponse:
        REFUSED.labels(str(status)).inc()
        return render(request, "error.html", status, status_code=status, message=message)

    async def form(request: Request) -> dict[str, str] | None:
        try:
            body = await read_limited(request, MAX_FORM)
        except BodyTooLargeError:
            return None
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    def csrf_ok(request: Request, given: dict[str, str]) -> bool:
        expected = getattr(request.state, "csrf", "")
        return bool(expected) and hmac.compare_digest(
            given.get("csrf", "").encode(), expected.encode()
        )

    async def session(request: Request) -> tuple[Identity, str] | None:
        cookie = request.cookies.get(COOKIE, "")
        if not cookie or len(cookie) > 200:
            return None
        row = await review.pool().fetchrow(SESSION_SQL, _hash(cookie), review.clock())
        if row is None:
            return None
        who = Identity(row["actor"], Role(row["role"]), row["employee_id"], via=row["via"])
        return who, row["csrf"]

    def guarded(action: Action, page: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            found = await session(request)
            if found is None:
                return RedirectResponse("/console/login", status_code=303)
            who, csrf = found
            request.state.identity = who
            request.state.csrf = csrf
            if not permits(who, action):
                return refused(
                    request,
                    f"the role {who.role.value} may not {action.value.replace('_', ' ')}",
                )
            return await page(request, who)

        return endpoint

    # --- sign-in and out

    async def login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
        nonce = secrets.token_urlsafe(24)
        answer = render(request, "login.html", status, login_csrf=nonce, error=error)
        answer.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=1800,
            path="/console",
            secure=secure,
            httponly=True,
            samesite="strict",
        )
        return answer

    async def login_form(request: Request) -> Response:
        return await login_page(request)

    async def login(request: Request) -> Response:
        given = await form(request) or {}
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(
            given.get("csrf", "").encode(), expected.encode()
        ):
            return await login_page(
                request, "表单已过期，请重试 / The form expired: try again", 400
            )
        token = given.get("token", "").strip()
        probe = Request(
            {
                "type": "http",
                "method": "GET",
                "path": "/",
                "headers": [(b"authorization", f"Bearer {token}".encode())],
            }
        )
        who = await authn.identify(probe) if token else None
        if who is None:
            REFUSED.labels("401").inc()
            return await login_page(request, "令牌无效 / The token is not valid", 401)
        sid = secrets.token_urlsafe(32)
        now = review.clock()
        ends = now + timedelta(hours=hours)
        if who.via == "sso":  # a session ends when its JWT does (verified above)
            ends = min(ends, _jwt_expiry(token) or ends)
        await review.pool().execute(
            "INSERT INTO console_session (session_hash, csrf, actor, role, employee_id, via, "
            "token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            _hash(sid),
            secrets.token_urlsafe(32),
            who.name,
            who.role.value,
            who.employee_id,
            who.via,
            token_hash(token) if looks_like_token(token) else None,
            now,
            ends,
        )
        await review.pool().execute("DELETE FROM console_session WHERE expires_at < $1", now)
        answer = RedirectResponse("/console/cases", status_code=303)
        answer.set_cookie(
            COOKIE,
            sid,
            max_age=max(1, int((ends - now).total_seconds())),
            path="/console",
            secure=secure,
            httponly=True,
            samesite="strict",
        )
        answer.delete_cookie(LOGIN_COOKIE, path="/console")
        return answer

    async def logout(request: Request) -> Response:
        found = await session(request)
        if found is not None:
            request.state.identity, request.state.csrf = found
            if not csrf_ok(request, await form(request) or {}):
                return refused(request, "CSRF 校验失败 / The form's CSRF token is wrong", 403)
            await review.pool().execute(
                "DELETE FROM console_session WHERE session_hash = $1",
                _hash(request.cookies.get(COOKIE, "")),
            )
        answer = RedirectResponse("/console/login", status_code=303)
        answer.delete_cookie(COOKIE, path="/console")
        return answer

    async def home(_: Request) -> Response:
        return RedirectResponse("/console/cases", status_code=303)

    # --- cases

    async def queue(request: Request, who: Identity) -> Response:
        q = request.query_params
        filters: dict[str, str | None] = {k: (q.get(k) or None) for k in FILTERS}
        if filters["status"] not in (None, *STATUSES):
            filters["status"] = None
        if filters["period"]:
            try:
                filters["period"] = parse_period(filters["period"]).key
            except ValueError:
                filters["period"] = None
        async with review.pool().acquire() as conn:
            rows = await review.cases.list(conn, who, filters, None, 500)
        export = urlencode({"period": filters["period"]}) if filters["period"] else ""
        return render(
            request,
            "cases.html",
            cases=rows,
            filters=filters,
            statuses=STATUSES,
            export_query=export,
            may_export=permits(who, Action.EXPORT_CASES),
        )

    async def case_contacts(
        request: Request, who: Identity, employee_id: str, period: str
    ) -> list[dict[str, Any]] | None:
        """The contacts listing of `GET /v1/employees/{id}/contacts`, by calling its endpoint
        with the session's caller (its own role and subtree checks apply)."""
        scope = {
            "type": "http",
            "method": "GET",
            "path": f"/v1/employees/{employee_id}/contacts",
            "path_params": {"employee_id": employee_id},
            "query_string": urlencode({"period": period}).encode(),
            "headers": [],
            "state": {"console_identity": who},
        }
        answer = await contacts_route.endpoint(Request(scope))
        if answer.status_code != 200:
            return None
        listed: list[dict[str, Any]] = orjson.loads(answer.body)
        return listed

    async def case_page(
        request: Request, who: Identity, message: str | None = None, status: int = 200
    ) -> Response:
        raw = request.path_params["case_id"]
        if not _is_case_id(raw):
            return refused(request, "no such case / 没有这个案件", 404)
        try:
            async with review.pool().acquire() as conn:
                case = await review.cases.get(conn, who, int(raw))
                period = parse_period(case["period"])
                counts = await chart.daily(conn, case["employee_id"], period, review.tz)
        except CaseError as exc:
            return refused(request, str(exc), exc.status)
        listed = await case_contacts(request, who, case["employee_id"], case["period"])
        may_decide = (
            case["status"] == "open"
            and permits(who, Action.DECIDE_CASE)
            and (not who.scoped or review.cases.rules.supervisors_decide)
            and who.employee_id != case["employee_id"]
        )
        return render(
            request,
            "case.html",
            status,
            case=case,
            contacts=listed,
            timeline=chart.timeline(period, counts),
            may_decide=may_decide,
            may_verdict=permits(who, Action.SET_VERDICT) and who.employee_id != case["employee_id"],
            message=message or _notice(request.query_params.get("done")),
        )

    async def verdict(request: Request, who: Identity) -> Response:
        """A reviewer's verdict on one of the case's contacts (as the API's PUT)."""
        given = await form(request) or {}
        if not csrf_ok(request, given):
            return refused(request, "CSRF 校验失败 / The form's CSRF token is wrong", 403)
        raw = request.path_params["case_id"]
        if not _is_case_id(raw):
            return refused(request, "no such case / 没有这个案件", 404)
        try:
            async with review.pool().acquire() as conn:
                case = await review.cases.get(conn, who, int(raw))
            async with review.pool().acquire() as conn, conn.transaction():
                await overrides.set_verdict(
                    conn,
                    review.scorer,
                    who,
                    case["employee_id"],
                    given.get("external_userid", ""),
                    {"verdict": given.get("verdict"), "reason": given.get("reason", "")},
                    request.headers.get("x-request-id") or secrets.token_hex(16),
                )
        except CaseError as exc:
            return refused(request, str(exc), exc.status)
        except overrides.OverrideError as exc:
            if exc.status in (403, 404):
                return refused(request, str(exc), exc.status)
            return await case_page(request, who, str(exc), exc.status)
        return RedirectResponse(f"/console/cases/{raw}?done=verdict", status_code=303)

    # --- campaigns

    async def campaigns_page(
        request: Request,
        who: Identity,
        message: str | None = None,
        error_text: str | None = None,
        status: int = 200,
        given: dict[str, str] | None = None,
    ) -> Response:
        async with review.pool().acquire() as conn:
            found = await overrides.campaigns(conn, None)
        return render(
            request,
            "campaigns.html",
            status,
            campaigns=found,
            may_manage=permits(who, Action.MANAGE_CAMPAIGNS),
            message=message,
            error=error_text,
            given=given or {},
        )

    async def campaigns_get(request: Request, who: Identity) -> Response:
        return await campaigns_page(request, who)

    async def add_campaign(request: Request, who: Identity) -> Response:
        given = await form(request) or {}
        if not csrf_ok(request, given):
            return refused(request, "CSRF 校验失败 / The form's CSRF token is wrong", 403)
        fields = {k: given.get(k, "") for k in ("name", "state", "team_id", "starts_at", "ends_at")}
        try:
            campaign = overrides.campaign_of(dict(fields))
            async with review.pool().acquire() as conn, conn.transaction():
                await overrides.add_campaign(
                    conn, review.scorer, who, campaign, secrets.token_hex(16)
                )
        except overrides.OverrideError as exc:
            return await campaigns_page(request, who, None, str(exc), 422, fields)
        return await campaigns_page(
            request, who, f"已登记 Registered: {campaign.name} ({campaign.state})"
        )

    async def decide(request: Request, who: Identity) -> Response:
        given = await form(request) or {}
        if not csrf_ok(request, given):
            return refused(request, "CSRF 校验失败 / The form's CSRF token is wrong", 403)
        raw = request.path_params["case_id"]
        if not _is_case_id(raw):
            return refused(request, "no such case / 没有这个案件", 404)
        try:
            await review.decide(
                who,
                int(raw),
                given.get("decision", ""),
                given.get("reason", ""),
                request.headers.get("x-request-id") or secrets.token_hex(16),
            )
        except CaseError as exc:
            if exc.status in (403, 404):
                return refused(request, str(exc), exc.status)
            return await case_page(request, who, str(exc), exc.status)
        return RedirectResponse(f"/console/cases/{raw}?done={given['decision']}", status_code=303)

    async def export(request: Request, who: Identity) -> Response:
        period = request.query_params.get("period") or None
        try:
            period = parse_period(period).key if period else None
        except ValueError:
            period = None
        async with review.pool().acquire() as conn:
            text = await review.cases.export_csv(conn, period)
        return Response(
            "\ufeff" + text,
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="confirmed-cases.csv"'},
        )

    # --- targets

    async def targets_page(
        request: Request,
        who: Identity,
        errors: list[dict[str, Any]] | None = None,
        message: str | None = None,
        status: int = 200,
        csv_text: str = "",
    ) -> Response:
        raw = request.query_params.get("period") or review.clock().astimezone(review.tz).strftime(
            "%Y-%m"
        )
        try:
            period = parse_period(raw)
        except ValueError:
            period = parse_period(review.clock().astimezone(review.tz).strftime("%Y-%m"))
        async with review.pool().acquire() as conn:
            stored = await targets.stored(conn, period.key, None)
            effective = await targets.effective(conn, period, review.tz)
        return render(
            request,
            "targets.html",
            status,
            period=period.key,
            stored=stored,
            effective=effective,
            scopes=targets.SCOPES,
            errors=errors,
            message=message,
            csv_text=csv_text,
        )

    async def set_target(request: Request, who: Identity) -> Response:
        given = await form(request) or {}
        if not csrf_ok(request, given):
            return refused(request, "CSRF 校验失败 / The form's CSRF token is wrong", 403)
        item: dict[str, Any] = {
            k: given.get(k, "").strip() for k in ("period", "scope", "scope_id", "value")
        }
        value = item["value"]
        item["value"] = (
            int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else value
        )
        try:
            records = targets.records_from_items([item], who, review.clock(), "form", [1])
        except TargetError as exc:
            return await targets_page(request, who, exc.errors, None, 422)
        await review.submit_targets(who, records, "console", secrets.token_hex(16))
        return await targets_page(request, who, None, _sent(len(records)))

    async def import_targets(request: Request, who: Identity) -> Response:
        given = await form(request) or {}
        if not csrf_ok(request, given):
            return refused(request, "CSRF 校验失败 / The form's CSRF token is wrong", 403)
        text = given.get("csv", "")
        try:
            records = targets.parse_csv(text, who, review.clock())
        except TargetError as exc:
            return await targets_page(request, who, exc.errors, None, 422, text)
        await review.submit_targets(who, records, "csv", secrets.token_hex(16))
        return await targets_page(request, who, None, _sent(len(records)))

    async def case_page_get(request: Request, who: Identity) -> Response:
        return await case_page(request, who)

    async def targets_get(request: Request, who: Identity) -> Response:
        return await targets_page(request, who)

    return [
        Route("/console/", home, methods=["GET"]),
        Route("/console/login", login_form, methods=["GET"]),
        Route("/console/login", login, methods=["POST"]),
        Route("/console/logout", logout, methods=["POST"]),
        Route("/console/cases", guarded(Action.READ_CASES, queue), methods=["GET"]),
        Route("/console/cases/export.csv", guarded(Action.EXPORT_CASES, export), methods=["GET"]),
        Route(
            "/console/cases/{case_id}", guarded(Action.READ_CASES, case_page_get), methods=["GET"]
        ),
        Route(
            "/console/cases/{case_id}/decision",
            guarded(Action.DECIDE_CASE, decide),
            methods=["POST"],
        ),
        Route(
            "/console/cases/{case_id}/verdict",
            guarded(Action.SET_VERDICT, verdict),
            methods=["POST"],
        ),
        Route("/console/campaigns", guarded(Action.READ_CAMPAIGNS, campaigns_get), methods=["GET"]),
        Route(
            "/console/campaigns", guarded(Action.MANAGE_CAMPAIGNS, add_campaign), methods=["POST"]
        ),
        Route("/console/targets", guarded(Action.READ_TARGETS, targets_get), methods=["GET"]),
        Route("/console/targets", guarded(Action.SET_TARGETS, set_target), methods=["POST"]),
        Route(
            "/console/targets/import", guarded(Action.SET_TARGETS, import_targets), methods=["POST"]
        ),
    ]


def _is_case_id(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def _jwt_expiry(token: str) -> datetime | None:
    """The `exp` of a JWT the authenticator has verified (None without one)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(float(claims["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError, OverflowError):
        return None


def _notice(done: str | None) -> str | None:
    if done == "dismiss":
        return "已驳回：警报已解除 / Dismissed: the alert is resolved"
    if done == "confirm":
        return "已确认：可导出给人力资源 / Confirmed: it is in the HR export"
    if done == "verdict":
        return "已复核：有效性与分数随之更新 / Verdict set: validity and scores follow it"
    return None


def _sent(n: int) -> str:
    return f"已提交 {n} 条目标 / {n} target record(s) sent; they apply once the scorer reads them"
