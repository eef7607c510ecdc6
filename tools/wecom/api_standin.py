"""A real HTTP server on localhost speaking the WeCom REST API shapes the ingestor uses
(docs/wecom.md section 3): gettoken, externalcontact/get, externalcontact/batch/get_by_user,
externalcontact/get_follow_user_list.

Behaves like WeCom where it matters: failures are HTTP 200 with an errcode; tokens expire;
`rate_limit_next` answers 45009 that many times, `invalidate_tokens()` makes every issued
token answer 40014 (`expire_tokens()` 42001), as when another process refreshed the token.

Faults, for the lookups' tests and benchmark (`externalcontact/get` unless said otherwise):
`max_lookups_per_second` answers 45009 beyond that many lookups in any second (WeCom's
frequency limit); `failure_share` answers HTTP 500/503 or errcode -1 at random (seeded by
`seed`); `garbage_next` answers that many bodies that are not the API's (not JSON, a JSON
array, errcode 0 without the contact, a non-numeric errcode); `unknown_errcode_next` answers
an errcode WeCom does not document; `not_found` external_userids answer 40096 (any contact
never added answers 84061); every call (gettoken too) hangs while `hang` is set, and answers
HTTP `outage_status` while that is set. `answered` counts the successful lookups per contact."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Follow:
    userid: str
    createtime: int
    add_way: int = 1
    state: str = ""
    oper_userid: str = ""
    remark: str = ""


@dataclass
class Contact:
    external_userid: str
    name: str = "客户"
    type: int = 1
    corp_name: str = ""
    unionid: str = ""
    follows: list[Follow] = field(default_factory=list)

    def doc(self) -> dict[str, Any]:
        """The contact as JSON, as tools/wecom_standin.py keeps and takes it."""
        return {
            "external_userid": self.external_userid,
            "name": self.name,
            "type": self.type,
            "corp_name": self.corp_name,
            "unionid": self.unionid,
            "follows": [vars(f) for f in self.follows],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Contact:
        fields = {k: v for k, v in doc.items() if k != "follows"}
        return cls(**fields, follows=[Follow(**f) for f in doc.get("follows", [])])

    def external_contact(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "external_userid": self.external_userid,
            "name": self.name,
            "type": self.type,
            "gender": 1,
            "avatar": "",
        }
        if self.unionid:
            doc["unionid"] = self.unionid
        if self.type == 2:
            doc |= {"corp_name": self.corp_name, "corp_full_name": self.corp_name}
        return doc

    def follow_doc(self, f: Follow) -> dict[str, Any]:
        return {
            "userid": f.userid,
            "remark": f.remark,
            "createtime": f.createtime,
            "tags": [],
            "remark_mobiles": [],
            "add_way": f.add_way,
            "state": f.state,
            "oper_userid": f.oper_userid or f.userid,
        }


@dataclass
class WeComApiStandIn:
    port: int
    corp_id: str
    corp_secret: str
    contacts: dict[str, Contact] = field(default_factory=dict)
    rate_limit_next: int = 0
    token_error_next: int = 0  # 40014 or 42001 for the next authenticated call
    tokens: dict[str, bool] = field(default_factory=dict)  # token -> still valid
    calls: list[str] = field(default_factory=list)
    follow_user_ids: list[str] = field(default_factory=list)  # empty: whoever follows someone
    max_lookups_per_second: float | None = None
    failure_share: float = 0.0
    seed: int = 0
    garbage_next: int = 0
    unknown_errcode_next: int = 0
    not_found: set[str] = field(default_factory=set)
    hang: bool = False
    outage_status: int | None = None
    answered: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)  # what the faults answered, by kind
    _window: deque[float] = field(default_factory=deque)
    _draw: random.Random | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, contact: Contact) -> Contact:
        self.contacts[contact.external_userid] = contact
        return contact

    def remove_follow(self, external_userid: str, userid: str) -> None:
        """The relation ends through the API or the client: WeCom sends no callback."""
        contact = self.contacts[external_userid]
        contact.follows = [f for f in contact.follows if f.userid != userid]

    def follow_users(self) -> list[str]:
        return sorted({f.userid for c in self.contacts.values() for f in c.follows})

    def invalidate_tokens(self, errcode: int = 40014) -> None:
        """Every token issued so far now answers `errcode` (40014 invalid, 42001 expired)."""
        self.token_error_next = errcode
        for token in self.tokens:
            self.tokens[token] = False

    def count(self, api: str) -> int:
        return sum(1 for c in self.calls if c == api)

    def over_rate(self) -> bool:
        """One more lookup would pass `max_lookups_per_second` in the last second."""
        if self.max_lookups_per_second is None:
            return False
        now = time.monotonic()
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= self.max_lookups_per_second:
            return True
        self._window.append(now)
        return False

    def draw(self) -> random.Random:
        if self._draw is None:
            self._draw = random.Random(self.seed)  # a reproducible fault pattern
        return self._draw


def _answer(doc: dict[str, Any]) -> Response:
    return Response(orjson.dumps(doc), media_type="application/json")


def _err(code: int, msg: str) -> Response:
    return _answer({"errcode": code, "errmsg": msg})


GARBAGE = (
    b"<html>502 Bad Gateway</html>",
    b"[1, 2, 3]",
    b'{"errcode": 0, "errmsg": "ok"}',
    b'{"errcode": "zero", "errmsg": "ok"}',
)


def _raw(body: bytes) -> Response:
    return Response(body, media_type="application/json")


async def _down(api: WeComApiStandIn) -> Response | None:
    """An outage: hang while `hang` is set (the client's timeout decides), or answer HTTP
    `outage_status`."""
    while api.hang:
        await asyncio.sleep(0.05)
    if api.outage_status is not None:
        api.faults["outage"] += 1
        return Response(b"service unavailable", status_code=api.outage_status)
    return None


def _lookup_fault(api: WeComApiStandIn, external_userid: str) -> Response | None:
    """The faults of `externalcontact/get`, in the order a real WeCom would meet them."""
    if api.over_rate():
        api.faults["rate_limited"] += 1
        return _err(45009, "api freq out of limit")
    if api.failure_share and api.draw().random() < api.failure_share:
        kind = api.draw().choice(("http_500", "http_503", "busy"))
        api.faults[kind] += 1
        if kind == "busy":
            return _err(-1, "system busy")
        return Response(b"internal error", status_code=int(kind[-3:]))
    if api.garbage_next > 0:
        api.garbage_next -= 1
        api.faults["garbage"] += 1
        return _raw(GARBAGE[api.garbage_next % len(GARBAGE)])
    if api.unknown_errcode_next > 0:
        api.unknown_errcode_next -= 1
        api.faults["unknown_errcode"] += 1
        return _err(99999, "an errcode nobody documented")
    if external_userid in api.not_found:
        return _err(40096, "invalid external userid")
    return None


def build_app(api: WeComApiStandIn) -> Starlette:
    def limited() -> Response | None:
        if api.rate_limit_next > 0:
            api.rate_limit_next -= 1
            return _err(45009, "api freq out of limit")
        return None

    def authenticated(request: Request) -> Response | None:
        token = request.query_params.get("access_token", "")
        if token not in api.tokens:
            return _err(40014, "invalid access_token")
        if not api.tokens[token]:
            return _err(api.token_error_next or 40014, "access_token invalid or expired")
        return limited()

    async def gettoken(request: Request) -> Response:
        api.calls.append("gettoken")
        if (down := await _down(api)) is not None:
            return down
        q = request.query_params
        if q.get("corpid") != api.corp_id:
            return _err(40013, "invalid corpid")
        if q.get("corpsecret") != api.corp_secret:
            return _err(40001, "invalid credential")
        if (refused := limited()) is not None:
            return refused
        token = secrets.token_urlsafe(24)
        api.tokens[token] = True
        return _answer({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    async def get_contact(request: Request) -> Response:
        api.calls.append("externalcontact/get")
        if (down := await _down(api)) is not None:
            return down
        if (refused := authenticated(request)) is not None:
            return refused
        external_userid = request.query_params.get("external_userid", "")
        if (fault := _lookup_fault(api, external_userid)) is not None:
            return fault
        contact = api.contacts.get(external_userid)
        if contact is None:
            return _err(84061, "not external contact")
        api.answered[external_userid] += 1
        return _answer(
            {
                "errcode": 0,
                "errmsg": "ok",
                "external_contact": contact.external_contact(),
                "follow_user": [contact.follow_doc(f) for f in contact.follows],
            }
        )

    async def by_user(request: Request) -> Response:
        api.calls.append("batch/get_by_user")
        if (down := await _down(api)) is not None:
            return down
        if (refused := authenticated(request)) is not None:
            return refused
        body = orjson.loads(await request.body())
        users = body.get("userid_list") or []
        limit = min(int(body.get("limit") or 50), 100)
        if not users or len(users) > 100:
            return _err(40058, "userid_list must hold 1..100 userids")
        rows = [
            {"external_contact": c.external_contact(), "follow_info": c.follow_doc(f)}
            for c in sorted(api.contacts.values(), key=lambda c: c.external_userid)
            for f in c.follows
            if f.userid in users
        ]
        start = int(body.get("cursor") or 0)
        page = rows[start : start + limit]
        following = start + limit if start + limit < len(rows) else ""
        return _answer(
            {
                "errcode": 0,
                "errmsg": "ok",
                "external_contact_list": page,
                "next_cursor": str(following),
            }
        )

    async def follow_user_list(request: Request) -> Response:
        api.calls.append("get_follow_user_list")
        if (down := await _down(api)) is not None:
            return down
        if (refused := authenticated(request)) is not None:
            return refused
        users = api.follow_user_ids or api.follow_users()
        return _answer({"errcode": 0, "errmsg": "ok", "follow_user": users})

    return Starlette(
        routes=[
            Route("/cgi-bin/gettoken", gettoken, methods=["GET"]),
            Route("/cgi-bin/externalcontact/get", get_contact, methods=["GET"]),
            Route("/cgi-bin/externalcontact/batch/get_by_user", by_user, methods=["POST"]),
            Route(
                "/cgi-bin/externalcontact/get_follow_user_list", follow_user_list, methods=["GET"]
            ),
        ]
    )


@asynccontextmanager
async def wecom_api(corp_id: str, corp_secret: str) -> AsyncIterator[WeComApiStandIn]:
    api = WeComApiStandIn(port=0, corp_id=corp_id, corp_secret=corp_secret)
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(api), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the server failed to start: say why
        await asyncio.sleep(0.02)
    api.port = int(server.servers[0].sockets[0].getsockname()[1])  # the port the OS chose
    try:
        yield api
    finally:
        server.should_exit = True
        await task
