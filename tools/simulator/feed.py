"""Send a scenario to a running ingestor: `POST /v1/events`, NDJSON, bearer token, batches of
about 500, in event-time order, optionally replaying the month in compressed time for a live
demo (`speed` = simulated seconds per real second: 720 plays a month in about an hour).

Contact events can be diverted to another sender (`contact_event_sender`): a WeCom-callback
sender that encrypts `callback_xml(event)` and posts it to `/wecom/callback` plugs in there.
Only this module does I/O; the generator stays pure."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

ContactEventSender = Callable[[dict[str, Any]], None]
"""Takes one contact event (callback field names) and delivers it, e.g. as a WeCom callback."""

DEFAULT_BATCH = 500
_FATAL = frozenset({400, 401, 403, 404, 413, 422})
_CALLBACK_FIELDS = (
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Event",
    "ChangeType",
    "UserID",
    "ExternalUserID",
    "State",
    "WelcomeCode",
    "Source",
    "FailReason",
)


class FeedError(RuntimeError):
    """The ingestor refused a batch, or kept failing; the message says which and why."""


@dataclass(frozen=True, slots=True)
class FeedResult:
    batches: int
    accepted: int
    contact_events_diverted: int


def event_time(record: Mapping[str, Any]) -> float:
    """The record's own time in unix seconds (what orders the replay)."""
    if record.get("type") == "contact_event":
        return float(record["CreateTime"])
    stamp = record.get("sent_at") or record.get("occurred_at")
    return datetime.fromisoformat(str(stamp)).timestamp() if stamp else 0.0


def ndjson(records: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(dict(r)) + b"\n" for r in records)


def schedule(
    records: Sequence[dict[str, Any]], speed: float | None, tick: float = 1.0
) -> Iterator[tuple[float, list[dict[str, Any]]]]:
    """(seconds after the start, records) groups: one group without `speed`, else one per
    `tick` of real time, each holding the records whose compressed time falls in it."""
    if not records:
        return
    if not speed:
        yield 0.0, list(records)
        return
    origin = event_time(records[0])
    group: list[dict[str, Any]] = []
    current = 0
    for record in records:
        index = max(0, math.floor((event_time(record) - origin) / speed / tick))
        if index != current and group:
            yield current * tick, group
            group = []
        current = index
        group.append(record)
    if group:
        yield current * tick, group


def feed(
    records: Sequence[dict[str, Any]],
    base_url: str,
    token: str,
    *,
    batch_size: int = DEFAULT_BATCH,
    speed: float | None = None,
    contact_event_sender: ContactEventSender | None = None,
    client: httpx.Client | None = None,
    retries: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> FeedResult:
    """Post `records` (already time-ordered) and return what the ingestor accepted."""
    url = base_url.rstrip("/") + "/v1/events"
    owned = client is None
    http = client if client is not None else httpx.Client(timeout=30.0)
    batches = accepted = diverted = 0
    started = monotonic()
    try:
        for due, group in schedule(records, speed):
            wait = started + due - monotonic()
            if wait > 0:
                sleep(wait)
            pending: list[dict[str, Any]] = []
            for record in group:
                if contact_event_sender is not None and record.get("type") == "contact_event":
                    contact_event_sender(record)
                    diverted += 1
                    continue
                pending.append(record)
                if len(pending) >= batch_size:
                    accepted += _post(http, url, token, pending, retries, sleep)
                    batches += 1
                    pending = []
            if pending:
                accepted += _post(http, url, token, pending, retries, sleep)
                batches += 1
    finally:
        if owned:
            http.close()
    return FeedResult(batches, accepted, diverted)


def _post(
    client: httpx.Client,
    url: str,
    token: str,
    batch: list[dict[str, Any]],
    retries: int,
    sleep: Callable[[float], None],
) -> int:
    """One batch, retried with backoff on network errors and 5xx; refused batches raise."""
    body = ndjson(batch)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    problem = "no attempt made"
    for attempt in range(max(1, retries)):
        try:
            response = client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 200:
                return int(response.json().get("accepted", len(batch)))
            if response.status_code in _FATAL:
                raise FeedError(
                    f"{url} refused a batch of {len(batch)}: HTTP {response.status_code} "
                    f"{response.text[:1000]}"
                )
            problem = f"HTTP {response.status_code}"
        sleep(min(0.5 * 2**attempt, 10.0))
    raise FeedError(f"{url} failed {retries} times for a batch of {len(batch)}: {problem}")


def callback_xml(event: Mapping[str, Any]) -> str:
    """The plaintext XML a WeCom `change_external_contact` callback carries for `event` (to be
    encrypted and signed by a callback sender; docs/wecom.md §1-2)."""
    parts = []
    for name in _CALLBACK_FIELDS:
        if name not in event or event[name] is None:
            continue
        value = event[name]
        if name == "CreateTime":
            parts.append(f"<CreateTime>{int(value)}</CreateTime>")
        else:
            text = str(value).replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{name}><![CDATA[{text}]]></{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


__all__ = [
    "ContactEventSender",
    "FeedError",
    "FeedResult",
    "callback_xml",
    "event_time",
    "feed",
    "ndjson",
    "schedule",
]
