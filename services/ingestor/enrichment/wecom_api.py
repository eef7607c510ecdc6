"""The WeCom REST API client the ingestor needs (docs/wecom.md section 3).

`gettoken` answers a token valid for `expires_in` (7200 s); it is cached and refreshed
`refresh_margin` seconds early so no call goes out with a token about to expire, and one
refresh runs at a time. When WeCom still says the token is invalid (40014) or expired (42001),
e.g. because another process fetched a new one, the token is refreshed and the call retried
once. Rate limiting (45009) is retried with exponential backoff. Every answer's `errcode` is
checked: WeCom reports failures with HTTP 200.

The transport is aiohttp: at a thousand lookups a second httpx's connection pool took most of
the ingestor's core (it scans every pooled connection for each request)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from services.ingestor.metrics import WECOM_API_CALLS, WECOM_API_ERRORS

TOKEN_INVALID = 40014
TOKEN_EXPIRED = 42001
RATE_LIMITED = 45009
SYSTEM_BUSY = -1
TRANSIENT = frozenset({RATE_LIMITED, SYSTEM_BUSY})
# WeCom's "no such contact" for `externalcontact/get`: 84061 the user is not (or no longer) an
# external contact of the corp, 40096 the external_userid is not a valid one. A result.
NO_SUCH_CONTACT = frozenset({84061, 40096})
# The errcodes a metric label may name; any other (WeCom may answer anything) is "other", so
# the label's values stay a small closed set.
LABELLED_ERRCODES = frozenset(
    {*TRANSIENT, *NO_SUCH_CONTACT, TOKEN_INVALID, TOKEN_EXPIRED, 40001, 40013, 40058, 48002}
)


class WeComApiError(Exception):
    """A WeCom error answer (errcode) or a failure to get one (errcode None; `reason` says
    which: timeout, network, http_<status>, garbage)."""

    def __init__(self, api: str, errcode: int | None, errmsg: str, reason: str = "") -> None:
        super().__init__(f"WeCom {api}: errcode {errcode}: {errmsg}")
        self.api = api
        self.errcode = errcode
        self.reason = reason or (f"errcode_{errcode}" if errcode is not None else "network")

    @property
    def transient(self) -> bool:
        """Worth retrying later: rate limits, busy answers and transport failures."""
        return self.errcode is None or self.errcode in TRANSIENT


class WeComApi:
    def __init__(
        self,
        base_url: str,
        corp_id: str,
        corp_secret: str,
        *,
        timeout: float = 3.0,
        rate_limit_backoff: float = 1.0,
        rate_limit_retries: int = 3,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None  # made in the loop that uses it
        self._corp_id = corp_id
        self._secret = corp_secret
        self._backoff = rate_limit_backoff
        self._retries = rate_limit_retries
        self._margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"WeComApi(corp_id={self._corp_id!r})"

    @property
    def corp_id(self) -> str:
        return self._corp_id

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def token(self, *, rejected: str | None = None) -> str:
        """The cached access token; fetched again near its end, or when WeCom `rejected` it
        (unless another call already replaced that one)."""
        async with self._token_lock:
            current = self._token
            if current is not None and current != rejected and self._clock() < self._token_until:
                return current
            answer = await self._request(
                "gettoken",
                "GET",
                "/cgi-bin/gettoken",
                params={"corpid": self._corp_id, "corpsecret": self._secret},
            )
            token = str(answer["access_token"])
            lifetime = float(answer.get("expires_in", 7200))
            self._token = token
            self._token_until = self._clock() + max(lifetime - self._margin, lifetime / 2)
            return token

    async def external_contact(self, external_userid: str) -> dict[str, Any]:
        """`externalcontact/get`: the contact and every employee following them."""
        return await self.call(
            "externalcontact/get",
            "GET",
            "/cgi-bin/externalcontact/get",
            params={"external_userid": external_userid},
        )

    async def contacts_by_user(
        self, userids: list[str], cursor: str = "", limit: int = 100
    ) -> dict[str, Any]:
        """`externalcontact/batch/get_by_user`: one page for up to 100 employees."""
        return await self.call(
            "batch/get_by_user",
            "POST",
            "/cgi-bin/externalcontact/batch/get_by_user",
            json={"userid_list": userids, "cursor": cursor, "limit": limit},
        )

    async def follow_users(self) -> list[str]:
        """`externalcontact/get_follow_user_list`: the employees with customer-contact
        permission, the ones whose follow relations the reconciliation walks."""
        answer = await self.call(
            "get_follow_user_list", "GET", "/cgi-bin/externalcontact/get_follow_user_list"
        )
        return [str(u) for u in answer.get("follow_user") or []]

    async def call(
        self,
        api: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An authenticated call: token refreshed and the call retried once on 40014/42001."""
        token = await self.token()
        try:
            return await self._request(
                api, method, path, params={**(params or {}), "access_token": token}, json=json
            )
        except WeComApiError as exc:
            if exc.errcode not in (TOKEN_INVALID, TOKEN_EXPIRED):
                raise
        token = await self.token(rejected=token)
        return await self._request(
            api, method, path, params={**(params or {}), "access_token": token}, json=json
        )

    async def _request(
        self,
        api: str,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One answer with errcode 0, backing off on 45009."""
        for attempt in range(self._retries + 1):
            try:
                return await self._once(api, method, path, params=params, json=json)
            except WeComApiError as exc:
                if exc.errcode != RATE_LIMITED or attempt == self._retries:
                    raise
            await asyncio.sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")

    async def _once(
        self,
        api: str,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        json: dict[str, Any] | None,
    ) -> dict[str, Any]:
        WECOM_API_CALLS.labels(api).inc()
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(limit=0)
            )
        try:
            async with self._http.request(
                method, self._base + path, params=params, json=json
            ) as response:
                status = response.status
                body = await response.read()
        except TimeoutError:
            WECOM_API_ERRORS.labels(api, "timeout").inc()
            raise WeComApiError(api, None, "no answer in time", "timeout") from None
        except aiohttp.ClientError as exc:
            # never the URL: it carries the access token or the secret
            WECOM_API_ERRORS.labels(api, "network").inc()
            raise WeComApiError(api, None, type(exc).__name__, "network") from None
        if status >= 400:
            WECOM_API_ERRORS.labels(api, f"http_{status}").inc()
            raise WeComApiError(api, None, f"HTTP {status}", f"http_{status}")
        try:
            answer: Any = orjson.loads(body)
        except ValueError:
            WECOM_API_ERRORS.labels(api, "garbage").inc()
            raise WeComApiError(api, None, "the answer is not JSON", "garbage") from None
        errcode = answer.get("errcode", 0) if isinstance(answer, dict) else None
        if not isinstance(errcode, int) or isinstance(errcode, bool):
            WECOM_API_ERRORS.labels(api, "garbage").inc()
            raise WeComApiError(api, None, "no JSON object with a numeric errcode", "garbage")
        if errcode != 0:
            label = str(errcode) if errcode in LABELLED_ERRCODES else "other"
            WECOM_API_ERRORS.labels(api, label).inc()
            raise WeComApiError(api, errcode, str(answer.get("errmsg", ""))[:200])
        checked: dict[str, Any] = answer
        return checked
