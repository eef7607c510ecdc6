"""A real HTTP server on localhost speaking WeCom's API shapes for the notifier: the group
robot webhook (`/cgi-bin/webhook/send?key=`, with WeCom's limits: 4096 bytes of markdown,
images of ≤ 2 MB with a matching md5, 20 messages a minute per robot → 45009 (window
adjustable for tests), unknown key → 93000), `gettoken` and `message/send`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tools.ports import free_port

MARKDOWN_LIMIT = 4096
IMAGE_LIMIT = 2 * 1024 * 1024  # before base64


@dataclass
class RobotMessage:
    key: str
    content: str  # markdown/text; "" for an image
    at: float
    msgtype: str = "markdown"
    image: bytes | None = None  # the decoded PNG of an image message (md5 checked)


@dataclass
class WeComStandIn:
    port: int
    valid_keys: set[str] = field(default_factory=set)
    per_minute: int = 20
    window_seconds: float = 60.0
    force_45009: int = 0  # answer 45009 to this many next robot calls
    robot_messages: list[RobotMessage] = field(default_factory=list)
    robot_answers: list[int] = field(default_factory=list)
    app_messages: list[dict[str, Any]] = field(default_factory=list)
    token_fetches: int = 0
    corp_id: str = "ww-test-corp"
    corp_secret: str = "app-secret-0123456789"
    any_key: bool = False  # every key is a robot (the local stack's stand-in)
    # told of each robot message and app message accepted: (channel, message)
    listener: Callable[[str, dict[str, Any]], None] | None = None
    _tokens: set[str] = field(default_factory=set)
    _sent: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def robot_url(self, key: str) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={key}"

    def messages_for(self, key: str) -> list[RobotMessage]:
        return [m for m in self.robot_messages if m.key == key]

    def accept_tokens(self, tokens: set[str]) -> None:
        """Tokens another `gettoken` issued for the same corp (the local stack's one server)."""
        self._tokens |= tokens

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def _rate_ok(self, key: str, now: float) -> bool:
        window = self._sent[key]
        while window and window[0] <= now - self.window_seconds:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        return True

    def _robot(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        if key not in self.valid_keys and not self.any_key:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        if self.force_45009 > 0:
            self.force_45009 -= 1
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        if not self._rate_ok(key, time.monotonic()):
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        msgtype = body.get("msgtype", "")
        if msgtype == "image":
            return self._image(key, body.get("image", {}))
        content = body.get(msgtype, {}).get("content", "")
        if len(content.encode()) > MARKDOWN_LIMIT:
            return {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        self.robot_messages.append(RobotMessage(key, content, time.monotonic(), msgtype))
        self._tell("robot", {"key": key, "msgtype": msgtype, "content": content})
        return {"errcode": 0, "errmsg": "ok"}

    def _tell(self, channel: str, message: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener(channel, message)

    def _image(self, key: str, image: dict[str, Any]) -> dict[str, Any]:
        """An image message: base64 of a JPG/PNG of at most 2 MB and the md5 of its bytes
        (refused here with 40009 when wrong, the answer WeCom gives for a bad image)."""
        try:
            png = base64.b64decode(image["base64"], validate=True)
        except (KeyError, ValueError):
            return {"errcode": 40009, "errmsg": "invalid image: not base64"}
        if len(png) > IMAGE_LIMIT:
            return {"errcode": 40009, "errmsg": "invalid image size"}
        if hashlib.md5(png).hexdigest() != image.get("md5"):
            return {"errcode": 40009, "errmsg": "invalid image: md5 does not match"}
        if not png.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8")):
            return {"errcode": 40009, "errmsg": "invalid image: neither PNG nor JPG"}
        self.robot_messages.append(RobotMessage(key, "", time.monotonic(), "image", png))
        self._tell("robot", {"key": key, "msgtype": "image", "content": f"({len(png)} bytes)"})
        return {"errcode": 0, "errmsg": "ok"}

    def app(self) -> Starlette:
        async def robot(request: Request) -> Response:
            answer = self._robot(
                request.query_params.get("key", ""), orjson.loads(await request.body())
            )
            self.robot_answers.append(answer["errcode"])
            return Response(orjson.dumps(answer), media_type="application/json")

        async def gettoken(request: Request) -> Response:
            q = request.query_params
            if q.get("corpid") != self.corp_id or q.get("corpsecret") != self.corp_secret:
                return Response(orjson.dumps({"errcode": 40001, "errmsg": "invalid credential"}))
            token = uuid.uuid4().hex
            self._tokens.add(token)
            self.token_fetches += 1
            answer = {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}
            return Response(orjson.dumps(answer), media_type="application/json")

        async def send(request: Request) -> Response:
            if request.query_params.get("access_token") not in self._tokens:
                answer = {"errcode": 42001, "errmsg": "access_token expired"}
            else:
                self.app_messages.append(orjson.loads(await request.body()))
                self._tell("app", self.app_messages[-1])
                answer = {"errcode": 0, "errmsg": "ok", "invaliduser": ""}
            return Response(orjson.dumps(answer), media_type="application/json")

        return Starlette(
            routes=[
                Route("/cgi-bin/webhook/send", robot, methods=["POST"]),
                Route("/cgi-bin/gettoken", gettoken, methods=["GET"]),
                Route("/cgi-bin/message/send", send, methods=["POST"]),
            ]
        )


@asynccontextmanager
async def wecom_standin(**kwargs: Any) -> AsyncIterator[WeComStandIn]:
    standin = WeComStandIn(port=free_port(), **kwargs)
    server = uvicorn.Server(
        uvicorn.Config(
            standin.app(), host="127.0.0.1", port=standin.port, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield standin
    finally:
        server.should_exit = True
        await task
