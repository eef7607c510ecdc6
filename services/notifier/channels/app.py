"""WeCom app message to one person (`message/send`, markdown), for supervisors who should be
told directly rather than in the team's group. The access token from `gettoken` is cached
until shortly before it expires and fetched again when WeCom says it is no longer valid."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from services.notifier.channels.base import PermanentFailure, RateLimited, Target
from services.notifier.domain import daily
from services.notifier.domain.daily import DailyContent
from services.notifier.domain.digest import Digest, markdown_parts
from services.notifier.domain.splitting import APP_MARKDOWN_LIMIT, truncate_utf8
from shared.clock import Clock
from shared.db import Connection

TOKEN_INVALID = frozenset({40014, 41001, 42001})
RATE_LIMITED = frozenset({45009, 45033})
INVALID_USER = frozenset({81013})


class AccessTokens:
    """One cached `access_token` per process; concurrent senders share one fetch."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_base: str,
        corp_id: str,
        secret: SecretStr,
        clock: Clock,
    ) -> None:
        self._http = http
        self._base = api_base.rstrip("/")
        self._corp_id = corp_id
        self._secret = secret
        self._clock = clock
        self._token: str | None = None
        self._expires_at = datetime.min
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                try:
                    response = await self._http.get(
                        f"{self._base}/cgi-bin/gettoken",
                        params={
                            "corpid": self._corp_id,
                            "corpsecret": self._secret.get_secret_value(),
                        },
                    )
                    response.raise_for_status()
                    body = response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    raise RuntimeError(f"gettoken: {type(exc).__name__}") from None
                if body.get("errcode", 0) != 0 or "access_token" not in body:
                    # never echo the request: its URL carries the secret
                    raise RuntimeError(f"gettoken failed: errcode {body.get('errcode')}")
                self.fetches += 1
                self._token = str(body["access_token"])
                lifetime = int(body.get("expires_in", 7200))
                self._expires_at = self._clock() + timedelta(seconds=max(lifetime - 300, 60))
            return self._token

    def forget(self) -> None:
        self._token = None


class AppChannel:
    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: AccessTokens,
        api_base: str,
        agent_id: int,
        clock: Clock,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._base = api_base.rstrip("/")
        self._agent_id = agent_id
        self._clock = clock

    def render(self, digest: Digest) -> Sequence[Any]:
        return markdown_parts(digest, APP_MARKDOWN_LIMIT)

    def render_ops(self, text: str) -> Sequence[Any]:
        return [truncate_utf8(f"**通知服务 notifier ops**\n{text}", APP_MARKDOWN_LIMIT)]

    def render_daily(self, content: DailyContent) -> Sequence[Any]:
        """The table only: an image app message needs a media upload, not done yet."""
        return daily.markdown_parts(content, APP_MARKDOWN_LIMIT, mention=False)

    async def send(self, conn: Connection, target: Target, part: Any) -> None:
        userid = target.destination.removeprefix("user:")
        token = await self._tokens.get()
        try:
            response = await self._http.post(
                f"{self._base}/cgi-bin/message/send",
                params={"access_token": token},
                json={
                    "touser": userid,
                    "msgtype": "markdown",
                    "agentid": self._agent_id,
                    "markdown": {"content": part},
                },
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            # never the URL in an error: it carries the access token
            raise RuntimeError(f"message/send: {type(exc).__name__}") from None
        code = int(body.get("errcode", -1))
        if code == 0 and not body.get("invaliduser"):
            return
        if code in TOKEN_INVALID:
            self._tokens.forget()
            raise RuntimeError(f"access token rejected (errcode {code}); fetching a new one")
        if code in RATE_LIMITED:
            raise RateLimited(self._clock() + timedelta(minutes=1), f"app errcode {code}")
        if code in INVALID_USER or body.get("invaliduser"):
            raise PermanentFailure(f"WeCom does not know user {userid}")
        raise RuntimeError(f"message/send errcode {code}: {body.get('errmsg', '')}"[:300])
