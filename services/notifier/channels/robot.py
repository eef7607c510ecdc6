"""WeCom group robot (docs/wecom.md §4): markdown with `<@userid>` mentions, ≤4096 bytes a
message, 20 messages a minute per robot (a token bucket kept in PostgreSQL, so every notifier
process shares it), 45009 → wait, 93000 → the robot's key is invalid."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from services.notifier.channels.base import (
    DestinationInvalid,
    PermanentFailure,
    RateLimited,
    Target,
)
from services.notifier.channels.poster import Poster
from services.notifier.daily_chart import ROBOT_IMAGE_LIMIT, chart_within
from services.notifier.domain import daily
from services.notifier.domain.daily import DailyContent
from services.notifier.domain.digest import Digest, markdown_parts
from services.notifier.domain.ratelimit import (
    ONE_MINUTE,
    ROBOT_PER_MINUTE,
    guarded,
    pause_after_refusal,
    take,
)
from services.notifier.domain.splitting import ROBOT_MARKDOWN_LIMIT
from services.notifier.robots import RobotUnavailable, RobotUrls
from shared.clock import Clock
from shared.db import Connection

RATE_LIMITED = 45009
INVALID_KEY = 93000


@dataclass(frozen=True)
class RobotImage:
    """A PNG sent as the robot's image message: base64 of the bytes and their md5."""

    png: bytes

    def message(self) -> dict[str, Any]:
        return {
            "msgtype": "image",
            "image": {
                "base64": base64.b64encode(self.png).decode("ascii"),
                "md5": hashlib.md5(self.png).hexdigest(),  # noqa: S324 - WeCom's checksum
            },
        }


def robot_message(part: str | RobotImage) -> dict[str, Any]:
    if isinstance(part, RobotImage):
        return part.message()
    return {"msgtype": "markdown", "markdown": {"content": part}}


def robot_id(url: str) -> str:
    """A robot's name in our tables and logs: a hash, because its URL holds a secret key."""
    return "robot:" + hashlib.sha256(url.encode()).hexdigest()[:16]


class RobotChannel:
    def __init__(
        self,
        poster: Poster,
        robots: RobotUrls,
        clock: Clock,
        limit: int = ROBOT_PER_MINUTE,
        window: timedelta = ONE_MINUTE,
    ) -> None:
        self._poster = poster
        self._robots = robots
        self._clock = clock
        self._limit = limit
        self._window = guarded(window)

    def render(self, digest: Digest) -> Sequence[Any]:
        return markdown_parts(digest, ROBOT_MARKDOWN_LIMIT)

    def render_ops(self, text: str) -> Sequence[Any]:
        raise PermanentFailure("ops are not told through a robot (it may be the broken one)")

    def render_daily(self, content: DailyContent) -> Sequence[Any]:
        """The table as markdown (mentioning the supervisor), then the chart as an image."""
        parts: list[str | RobotImage] = list(daily.markdown_parts(content, ROBOT_MARKDOWN_LIMIT))
        png = chart_within(content, ROBOT_IMAGE_LIMIT)
        if png is None:  # a team too large to draw within 2 MB: say so, keep the table
            parts.append(f"({daily.title(content)}: chart too large for a robot message)")
        else:
            parts.append(RobotImage(png))
        return parts

    async def send(self, conn: Connection, target: Target, part: Any) -> None:
        try:
            url = await self._robots.url(conn, target.destination)
        except RobotUnavailable as exc:
            raise PermanentFailure(str(exc)) from None
        if url is None:
            raise PermanentFailure(f"{target.destination} has no group robot (robot_webhook)")
        robot = robot_id(url)
        if await conn.fetchval(
            "SELECT 1 FROM disabled_destination WHERE channel = 'robot' AND destination = $1",
            robot,
        ):
            raise DestinationInvalid(robot, f"{robot} is disabled (invalid key)")
        await self._take_token(conn, robot)
        try:
            # not replayable: WeCom's robot has no idempotency key (domain/resend.py)
            response = await self._poster.post(url, json=robot_message(part), replayable=False)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            # never the URL in an error: the key in it is a secret
            status = getattr(getattr(exc, "response", None), "status_code", "")
            raise RuntimeError(f"{robot}: {type(exc).__name__} {status}".strip()) from None
        code = int(body.get("errcode", -1))
        if code == RATE_LIMITED:
            until = pause_after_refusal(self._clock(), self._window)
            await conn.execute(
                "UPDATE robot_rate SET blocked_until = $2 WHERE robot = $1", robot, until
            )
            raise RateLimited(until, f"{robot} answered 45009 (rate limited)")
        if code == INVALID_KEY:
            raise DestinationInvalid(robot, f"{robot} answered 93000 (invalid webhook key)")
        if code != 0:
            raise RuntimeError(f"robot answered errcode {code}: {body.get('errmsg', '')}"[:300])

    async def _take_token(self, conn: Connection, robot: str) -> None:
        """Count this send in the robot's window, or refuse it until the window has room.
        The row lock makes concurrent workers (and processes) take turns per robot."""
        await conn.execute(
            "INSERT INTO robot_rate (robot) VALUES ($1) ON CONFLICT DO NOTHING", robot
        )
        row = await conn.fetchrow(
            "SELECT sent_at, blocked_until FROM robot_rate WHERE robot = $1 FOR UPDATE", robot
        )
        assert row is not None
        decision = take(
            row["sent_at"], self._clock(), self._limit, self._window, row["blocked_until"]
        )
        await conn.execute(
            "UPDATE robot_rate SET sent_at = $2 WHERE robot = $1", robot, list(decision.sent)
        )
        if not decision.granted:
            raise RateLimited(decision.retry_at, f"{robot}: {self._limit} per window used")
